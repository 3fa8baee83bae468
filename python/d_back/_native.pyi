"""Type stubs for the native core (`d_back._native`), implemented in Rust."""

from collections.abc import Awaitable, Callable
from typing import Any, final

__all__ = [
    "__version__",
    "encode_json",
    "mock_server_data_json",
    "mock_user_data_json",
    "NativeServer",
    "LoopCallQueue",
]

__version__: str

def encode_json(value: Any) -> str:
    """`json.dumps(value, allow_nan=False)`, natively for plain built-in data;
    raises what `json.dumps` raises."""

def mock_server_data_json() -> str:
    """The mock server list as JSON text (`json.dumps` format)."""

def mock_user_data_json(discord_server_id: str) -> str:
    """The mock users of one server (by mapping key) as JSON text; `{}` if unknown."""

@final
class NativeServer:
    """One HTTP + WebSocket listener, driven by `d_back.server.WebSocketServer`."""

    def __init__(self) -> None:
        """Raises `ValueError` if `$D_BACK_THREAD_NICE` or `$D_BACK_WORKER_THREADS`
        is bad (first server only)."""
    def set_static_dir(self, path: str) -> None:
        """Directory served over HTTP; takes effect for the next request."""
    def set_mock_intervals(self, presence: float, message: float) -> None:
        """Seconds between mock presence / message events for a joined connection."""
    def set_callback_timeout(self, seconds: float) -> None:
        """Longest wait for one callback (applies from the next bind)."""
    def set_limits(
        self,
        *,
        max_message_size: int | None = None,
        max_connections: int | None = None,
        max_queue: int | None = None,
        max_queue_bytes: int | None = None,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float | None = None,
        open_timeout: float | None = None,
        max_headers: int | None = None,
    ) -> None:
        """Connection limits and timers; None keeps a value (applies from the next bind)."""
    def set_join_timeout(self, seconds: float | None) -> None:
        """Seconds a socket may stay without a successful connect (None: forever)."""
    def set_access(self, allowed_origins: list[str], trusted_proxies: list[str]) -> None:
        """WebSocket Origin allow-list (empty: any) and trusted proxy addresses."""
    def set_callback(self, name: str, callback: Callable[..., Any] | None) -> None:
        """Register (or clear with None) one of: get_server_data, get_user_data,
        validate_discord_user, get_client_id, static_request."""
    def bind(self, host: str, port: int) -> Awaitable[list[tuple[str, int]]]:
        """Bind and start serving; resolves to the bound (address, port) pairs.

        Must be awaited inside a coroutine running on the asyncio loop that callbacks
        should run on. Raises OSError when the address cannot be bound."""
    def release_loop(self) -> None:
        """After a run, on the loop's thread: the loop stops watching for callback calls."""
    def wait_stopped(self) -> Awaitable[None]:
        """Resolves once the server has stopped (immediately if it is not serving)."""
    def stop(self) -> Awaitable[None]:
        """Close every WebSocket with 1001, wait for them within a bound, release the port."""
    @property
    def is_serving(self) -> bool: ...
    def broadcast(self, server: str, frame: str) -> int:
        """Queue an encoded text frame for every connection joined to `server`.

        Returns how many are joined now (0 while not serving); a native fan-out thread
        sends the frame, in submission order, so the call costs the same whatever the
        audience."""
    def broadcast_message(self, server: Any, uid: Any, message: Any, channel: Any) -> int | None:
        """`broadcast(server, <message frame>)` encoded natively when every value is a
        plain `str`; None (nothing sent) when a value needs `json.dumps`."""
    def broadcast_presence(
        self,
        server: Any,
        uid: Any,
        status: Any,
        username: Any = None,
        role_color: Any = None,
        delete: Any = None,
    ) -> int | None:
        """Like `broadcast_message`, for a presence frame; `username`/`role_color` must
        be None or str and `delete` a bool, else None is returned."""
    def broadcast_client_id_update(self, server: Any, client_id: Any) -> int | None:
        """Like `broadcast_message`, for an `update-clientid` frame."""
    def send_to(self, connection_id: int, frame: str) -> bool:
        """Queue a text frame to one connection; False if it is gone or its queue is full."""
    def connection_count(self) -> int: ...
    def connections(self) -> list[dict[str, Any]]:
        """Snapshot of open WebSocket connections: dicts with `id` (int),
        `remote_address` (tuple[str, int]) and, once joined, `discordServer` and
        `server_id` (str)."""

@final
class LoopCallQueue:
    """A server's queue of callback calls, drained on its loop by `d_back._bridge.CallRunner`."""

    def doorbell_fd(self) -> int | None:
        """A descriptor for `loop.add_reader(fd, drain)`: readable when calls wait."""
    def take(
        self,
    ) -> tuple[list[tuple[int, Callable[..., Any], str, str, str]], list[int]]:
        """The calls to start, as `(id, callback, name, mode, args_json)`, and the ids of
        running calls to cancel."""
    def finish(self, id: int, ok: bool, value: Any) -> None:
        """Hand the outcome of call `id` to the waiting request: its result if `ok`,
        else the exception it ended with."""
