"""d-back: the WebSocket + HTTP server behind the d-zone frontend, with a native core.

Run it with mock data from a shell:

```sh
d_back --port 3000          # or: python -m d_back --port 3000
```

Or embed it (e.g. in a Discord bot) and feed it real data. Callbacks may be plain
functions or `async def`; register them either way:

```python
import asyncio
from d_back import WebSocketServer

async def get_servers():
    return {"232769614004748288": {"id": "dworld", "name": "D-World", "default": True}}

def get_users(discord_server_id):
    return {"1": {"uid": "1", "username": "alice", "status": "online",
                  "roleColor": "#ff6b6b"}}

async def run():
    server = WebSocketServer(port=3000, host="localhost")
    server.on_get_server_data(get_servers)   # registration call
    server.on_get_user_data = get_users      # attribute assignment works too
    task = asyncio.create_task(server.start())
    ...
    await server.broadcast_message("232769614004748288", "1", "hi", "general")
    await server.stop()
    await task

asyncio.run(run())
```
"""

from typing import TYPE_CHECKING, Any

from . import _native
from .mock import MockDataProvider

if TYPE_CHECKING:
    from .server import WebSocketServer

__version__: str = _native.__version__

__all__ = ["WebSocketServer", "MockDataProvider", "__version__"]


def __getattr__(name: str) -> Any:
    # `d_back.server` is imported on first use, so that `python -m d_back.server` does
    # not find it already imported (runpy would warn).
    if name == "WebSocketServer":
        from .server import WebSocketServer

        return WebSocketServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"WebSocketServer"})
