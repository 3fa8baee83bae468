"""`WebSocketServer.server`: a small stand-in for the websockets `Server` object.

Upstream stores the websockets `Server` there; callers use `.sockets` (tests read the
ephemeral port with `server.server.sockets[0].getsockname()[1]`), `.close()` and
`.wait_closed()`. A handle belongs to one run: once the server has been stopped and
started again, an old handle no longer controls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from . import _native

__all__ = ["BoundSocket", "ServerHandle"]


class BoundSocket:
    """One listening address; only `getsockname()` is provided."""

    __slots__ = ("_address",)

    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address

    def getsockname(self) -> tuple[str, int]:
        """The bound `(host, port)`."""
        return self._address

    def __repr__(self) -> str:
        return f"<BoundSocket {self._address[0]}:{self._address[1]}>"


class ServerHandle:
    """The listener of one run of a `WebSocketServer` (set by `start()`)."""

    def __init__(
        self,
        native: _native.NativeServer,
        addresses: Sequence[tuple[str, int]],
        is_current: Callable[[], bool],
    ) -> None:
        self._native = native
        self._sockets = tuple(BoundSocket((str(host), int(port))) for host, port in addresses)
        self._is_current = is_current
        self._closing: asyncio.Task[None] | None = None

    @property
    def sockets(self) -> tuple[BoundSocket, ...]:
        """The listening addresses of this run; empty once it has stopped (as asyncio's)."""
        return self._sockets if self.is_serving() else ()

    def is_serving(self) -> bool:
        """True while this run is accepting connections."""
        return self._is_current() and self._native.is_serving

    def close(self) -> None:
        """Start closing: stop listening and close every WebSocket with 1001.

        Must be called from the running event loop; `wait_closed()` waits for the end.
        Unlike `WebSocketServer.stop()` it prints nothing.
        """
        if self._closing is None and self.is_serving():
            self._closing = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        await self._native.stop()

    async def wait_closed(self) -> None:
        """Wait until this run has stopped."""
        if self._closing is not None:
            await self._closing
        if self._is_current():
            await self._native.wait_stopped()

    def __repr__(self) -> str:
        state = "serving" if self.is_serving() else "closed"
        addresses = ", ".join(
            f"{host}:{port}" for host, port in (s.getsockname() for s in self._sockets)
        )
        return f"<ServerHandle {state} [{addresses}]>"
