"""Connection limits and timers of a server, with their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from . import _native


@dataclass(frozen=True)
class Limits:
    """What one server tolerates from its clients.

    The defaults match (or beat) those of the `websockets` library upstream d-back
    relied on.
    """

    max_connections: int = 50_000
    """Open WebSocket connections; further upgrades are refused with HTTP 503."""
    max_message_size: int = 1 << 20
    """Bytes in one incoming message (or frame); larger ones close with 1009."""
    max_queue: int = 256
    """Outgoing frames waiting for one slow client before it loses events."""
    max_queue_bytes: int = 1 << 20
    """Outgoing bytes waiting for one slow client before it loses events."""
    ping_interval: float = 20.0
    """Seconds between keepalive pings."""
    ping_timeout: float = 20.0
    """Seconds a ping (or a write) may go unanswered before the connection is closed."""
    close_timeout: float = 10.0
    """Seconds a closing handshake may take before the socket is dropped."""
    open_timeout: float = 10.0
    """Seconds a client has to send its HTTP request (or WebSocket handshake) headers."""
    join_timeout: float | None = None
    """Seconds a WebSocket may stay open without joining a server (closed with 1008
    after); `None` waits forever, as the d-zone page defers its join until a login."""

    def apply(self, native: _native.NativeServer) -> None:
        """Hand these limits to the native server (they apply from the next start)."""
        settings = asdict(self)
        native.set_join_timeout(settings.pop("join_timeout"))
        native.set_limits(**settings)
