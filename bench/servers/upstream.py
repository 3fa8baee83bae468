"""The baseline: upstream pure-Python `d-back==0.0.18` on `websockets==15.0.1`.

Run with the interpreter of `bench/.venv-upstream`. Uses upstream's documented API
only: `WebSocketServer(port, host)`, `on_get_server_data(cb)` and friends with
`async def` callbacks, `await server.start()` in a task, `await
server.broadcast_message(...)`. Upstream prints debug lines for every connection,
frame and broadcast; they go to stderr (the driver's log file), as a bot's stdout
would go to its log. Usage and control protocol: see `common.py`.
"""

from __future__ import annotations

import asyncio

import common
import d_back
import websockets
from d_back.server import WebSocketServer


def main() -> None:
    if d_back.__version__ != "0.0.18" or websockets.__version__ != "15.0.1":
        raise SystemExit(
            f"expected d-back 0.0.18 and websockets 15.0.1, got {d_back.__version__} "
            f"and {websockets.__version__}"
        )
    args = common.parse_args("upstream d-back 0.0.18 under benchmark")
    server = WebSocketServer(args.port, args.host)
    server.on_get_server_data(common.get_server_data)
    server.on_get_user_data(common.get_user_data)
    server.on_get_client_id(common.get_client_id)

    def bound_port() -> int | None:
        if server.server is None:
            return None
        return server.server.sockets[0].getsockname()[1]

    asyncio.run(common.serve("upstream", server, bound_port, lambda: len(server.connections)))


if __name__ == "__main__":
    main()
