"""`WebSocketServer.connections`: a live, read-only set-like view of open WebSockets.

The native core owns the connections. `len()` asks it for the current count; iteration
and `in` work on `Connection` handles built from a fresh snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Set
from typing import Any, TypeVar

from . import _native

__all__ = ["Connection", "ConnectionsView"]

_T = TypeVar("_T")


class Connection:
    """A handle on one open WebSocket connection (a snapshot of its state).

    Attributes:
        id: The native connection id; handles compare and hash by it.
        remote_address: The peer's `(host, port)`.
        discordServer: The mapping key of the joined Discord server. Only present once
            the connection has joined a server (`hasattr` is false before).
        server_id: The normalized server id the client asked for (e.g. `"default"`).
            Only present once joined.
    """

    __slots__ = ("_native", "id", "remote_address", "discordServer", "server_id")

    id: int
    remote_address: tuple[str, int]
    discordServer: str
    server_id: str

    def __init__(self, native: _native.NativeServer, snapshot: dict[str, Any]) -> None:
        self._native = native
        self.id = int(snapshot["id"])
        host, port = snapshot.get("remote_address") or ("", 0)
        self.remote_address = (str(host), int(port))
        if "discordServer" in snapshot:
            self.discordServer = snapshot["discordServer"]
        if "server_id" in snapshot:
            self.server_id = snapshot["server_id"]

    async def send(self, message: str) -> None:
        """Queue a text frame to this connection.

        Raises:
            ConnectionError: the connection is gone or cannot keep up.
        """
        if not self._native.send_to(self.id, message):
            raise ConnectionError(f"WebSocket connection {self.id} is closed or not keeping up")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Connection):
            return NotImplemented
        return self.id == other.id

    def __hash__(self) -> int:
        return hash((Connection, self.id))

    def __repr__(self) -> str:
        joined = getattr(self, "discordServer", None)
        where = f" server={joined!r}" if joined is not None else ""
        return f"<Connection id={self.id} remote={self.remote_address!r}{where}>"


class ConnectionsView(Set[Connection]):
    """Live read-only set of the open WebSocket connections (after the handshake,
    joined or not; never plain HTTP requests)."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.NativeServer) -> None:
        self._native = native

    def _snapshot(self) -> list[Connection]:
        return [Connection(self._native, entry) for entry in self._native.connections()]

    def __len__(self) -> int:
        return self._native.connection_count()

    def __iter__(self) -> Iterator[Connection]:
        return iter(self._snapshot())

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, Connection):
            return False
        return any(entry["id"] == item.id for entry in self._native.connections())

    @classmethod
    def _from_iterable(cls, it: Iterable[_T]) -> frozenset[_T]:
        # Set operators (`view & other`, `view | other`) produce plain frozensets.
        return frozenset(it)

    def __repr__(self) -> str:
        return f"<connections: {len(self)} open>"
