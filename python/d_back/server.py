"""The d-back WebSocket server (Python face of the native core) and its CLI.

`WebSocketServer` keeps upstream d-back's API; the listener, the WebSocket protocol,
static files and the mock events all run in the native core (`d_back._native`).

Run from a shell with `d_back`, `python -m d_back` or `python -m d_back.server`
(see `parse_args()` for the options).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _native
from ._callbacks import (
    CallbackSlot,
    CallbackStore,
    ClientIdCallback,
    ServerDataCallback,
    StaticRequestCallback,
    UserDataCallback,
    ValidateDiscordUserCallback,
)
from ._cli import get_version, main, main_sync, parse_args
from ._connections import ConnectionsView
from ._handle import ServerHandle
from ._intervals import MESSAGE_INTERVAL_ENV, PRESENCE_INTERVAL_ENV, mock_interval
from ._limits import Limits
from ._say import say as _say
from .mock import MockDataProvider
from .mock.data import MESSAGE_INTERVAL, MOCK_STATUSES, PRESENCE_INTERVAL

__all__ = [
    "Limits",
    "MockDataProvider",
    "WebSocketServer",
    "get_version",
    "main",
    "main_sync",
    "parse_args",
]

logger = logging.getLogger(__name__)


def _not_sent(server: object, kind: str) -> None:
    logger.debug("no connections joined to server %r; %s not sent", server, kind)


DEFAULT_STATIC_DIR = Path(__file__).parent / "dist"
DEFAULT_CALLBACK_TIMEOUT = 10.0


class _Run:
    """Book-keeping for one `start()` / `run_forever()` call."""

    def __init__(self) -> None:
        self.task = asyncio.current_task()
        self.bound = asyncio.Event()  # set once the bind attempt is over
        self.finished = asyncio.Event()  # set when the call returns or raises
        self.stop_requested = False  # stop() arrived while binding


class WebSocketServer:
    """HTTP + WebSocket server for the d-zone frontend, on one port.

    Browsers connect over WebSocket, receive the server list, join a Discord server and
    then receive its `presence` / `message` events; plain HTTP requests get static
    files from `static_dir`, `GET /api/version`, `GET /api/health` and `GET /metrics`
    (Prometheus). Without data callbacks it serves mock data and mock events.

    Attributes:
        port: Port to bind when `start()` / `run_forever()` runs (`0`: any free port).
        host: Host to bind (`"localhost"`, `"0.0.0.0"`, an address or a name).
        server: `None` until the first start, then a handle with `.sockets`
            (`sockets[0].getsockname()` is the bound `(host, port)`), `close()` and
            `wait_closed()`.
        mock_provider: The `MockDataProvider` of this server.

    Callbacks (each may be a plain function or an `async def`) are registered with
    `server.on_get_server_data(cb)` or `server.on_get_server_data = cb`, at any time
    (also while serving); `None` unregisters.
    """

    on_get_server_data = CallbackSlot[ServerDataCallback](
        "get_server_data",
        """Register `cb() -> {discord_id: {"id", "name", "default"?, "passworded"?}}`.

        Called for every new WebSocket (the `server-list` frame) and every `connect`.
        Without it, mock servers are served.""",
    )
    on_get_user_data = CallbackSlot[UserDataCallback](
        "get_user_data",
        """Register `cb(discord_id) -> {uid: {"uid", "username", "status", "roleColor"}}`.

        Called on every successful `connect` with the joined server's mapping key.
        Without it, mock users are served.""",
    )
    on_validate_discord_user = CallbackSlot[ValidateDiscordUserCallback](
        "validate_discord_user",
        """Register `cb(discord_token, discord_user, discord_id) -> bool`.

        Decides whether a Discord OAuth user may join a passworded server (truthy:
        allowed; an exception counts as refused). Without it, any well-formed user
        is accepted.""",
    )
    on_get_client_id = CallbackSlot[ClientIdCallback](
        "get_client_id",
        """Register `cb(discord_id) -> str`: the Discord application id for OAuth.

        Sent as `clientId` in `server-join` when truthy.""",
    )
    on_static_request = CallbackSlot[StaticRequestCallback](
        "static_request",
        """Register `cb(path) -> None | (content_type, file_path)`.

        Called for every plain HTTP request with the path (query removed) before any
        default handling: `None` keeps the default handling, a tuple serves that file
        with that content type (a missing file gives 404).""",
    )

    _on_get_server_data = CallbackStore[ServerDataCallback]("get_server_data")
    _on_get_user_data = CallbackStore[UserDataCallback]("get_user_data")
    _on_validate_discord_user = CallbackStore[ValidateDiscordUserCallback]("validate_discord_user")
    _on_get_client_id = CallbackStore[ClientIdCallback]("get_client_id")
    _on_static_request = CallbackStore[StaticRequestCallback]("static_request")

    def __init__(
        self,
        port: int = 3000,
        host: str = "localhost",
        *,
        mock_presence_interval: float | None = None,
        mock_message_interval: float | None = None,
        callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT,
        max_connections: int = Limits.max_connections,
        max_message_size: int = Limits.max_message_size,
        max_queue: int = Limits.max_queue,
        max_queue_bytes: int = Limits.max_queue_bytes,
        ping_interval: float = Limits.ping_interval,
        ping_timeout: float = Limits.ping_timeout,
        close_timeout: float = Limits.close_timeout,
        open_timeout: float = Limits.open_timeout,
        join_timeout: float | None = Limits.join_timeout,
        allowed_origins: Sequence[str] | None = None,
        trusted_proxies: Sequence[str] | None = None,
    ) -> None:
        """Create a server; nothing is bound until `start()` or `run_forever()`.

        Args:
            port: Port to listen on (`0` picks a free one).
            host: Host to listen on.
            mock_presence_interval: Seconds between mock presence events of a joined
                connection in mock mode. Default: `$D_BACK_MOCK_PRESENCE_INTERVAL`,
                else 4.0.
            mock_message_interval: Seconds between mock chat messages. Default:
                `$D_BACK_MOCK_MESSAGE_INTERVAL`, else 5.0.
            callback_timeout: Seconds one callback may take before the request it
                serves fails (the client gets an error frame or HTTP 500).
            max_connections: Most open WebSocket connections (see `Limits`).
            max_message_size: Largest incoming message in bytes.
            max_queue: Outgoing frames queued for one slow client.
            max_queue_bytes: Outgoing bytes queued for one slow client.
            ping_interval: Seconds between keepalive pings.
            ping_timeout: Seconds a ping may go unanswered.
            close_timeout: Seconds a closing handshake may take.
            open_timeout: Seconds a client has to send its request headers.
            join_timeout: Seconds a WebSocket may stay open without joining a server
                (`None`: no limit).
            allowed_origins: If given, only pages from these origins (e.g.
                `"https://dzone.example.org"`) may open a WebSocket; others get 403.
            trusted_proxies: Addresses of reverse proxies whose `X-Forwarded-For`
                header names the real client (for logs and `remote_address`).

        Raises:
            ValueError: an interval (argument or environment) or the callback timeout
                is not a positive number, a limit is out of range, a trusted proxy
                is not an IP address, `$D_BACK_THREAD_NICE` is not a whole number
                from 0 to 19 (read by the first server of the process: how many nice
                levels below the creating thread the server's threads run), or
                `$D_BACK_WORKER_THREADS` is not a whole number from 1 to 1024 (also
                read by the first server: how many worker threads it starts).
        """
        self._mock_presence_interval = mock_interval(
            "mock_presence_interval",
            mock_presence_interval,
            PRESENCE_INTERVAL_ENV,
            PRESENCE_INTERVAL,
        )
        self._mock_message_interval = mock_interval(
            "mock_message_interval", mock_message_interval, MESSAGE_INTERVAL_ENV, MESSAGE_INTERVAL
        )
        self._native = _native.NativeServer()
        self._native.set_mock_intervals(self._mock_presence_interval, self._mock_message_interval)
        self._native.set_callback_timeout(callback_timeout)
        self._limits = Limits(
            max_connections=max_connections,
            max_message_size=max_message_size,
            max_queue=max_queue,
            max_queue_bytes=max_queue_bytes,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            open_timeout=open_timeout,
            join_timeout=join_timeout,
        )
        self._limits.apply(self._native)
        self._native.set_access(list(allowed_origins or ()), list(trusted_proxies or ()))
        self._callbacks: dict[str, Callable[..., Any] | None] = {}
        self._connections = ConnectionsView(self._native)
        self._run: _Run | None = None
        self._generation = 0
        self.port = port
        self.host = host
        self.server: ServerHandle | None = None
        self.static_dir = DEFAULT_STATIC_DIR
        self.mock_provider = MockDataProvider(self)

    # -- attributes ---------------------------------------------------------------

    @property
    def static_dir(self) -> Path:
        """Directory served over HTTP (a `Path`; set a `str` or path-like).

        Takes effect for the next request, also while serving.
        """
        return self._static_dir

    @static_dir.setter
    def static_dir(self, value: str | os.PathLike[str]) -> None:
        path = Path(value)
        self._native.set_static_dir(os.fspath(path))
        self._static_dir = path

    @property
    def connections(self) -> ConnectionsView:
        """Live read-only set of open WebSocket connections (joined or not).

        `len()` is the current count; iterating gives `Connection` handles with `id`,
        `remote_address`, async `send(text)` and, once joined, `discordServer` and
        `server_id`.
        """
        return self._connections

    @property
    def limits(self) -> Limits:
        """Connection limits and timers; assign a new `Limits` to change them
        (they apply from the next start)."""
        return self._limits

    @limits.setter
    def limits(self, value: Limits) -> None:
        value.apply(self._native)
        self._limits = value

    @property
    def mock_presence_interval(self) -> float:
        """Seconds between mock presence events of a joined connection (mock mode)."""
        return self._mock_presence_interval

    @property
    def mock_message_interval(self) -> float:
        """Seconds between mock chat messages of a joined connection (mock mode)."""
        return self._mock_message_interval

    def _set_callback(self, name: str, callback: Callable[..., Any] | None) -> None:
        if callback is not None and not callable(callback):
            raise TypeError(f"on_{name} expects a callable or None, got {type(callback).__name__}")
        self._native.set_callback(name, callback)
        self._callbacks[name] = callback

    def _get_callback(self, name: str) -> Callable[..., Any] | None:
        return self._callbacks.get(name)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Bind, serve, and return only once the server has been stopped.

        Typical use: `asyncio.create_task(server.start())`, later `await server.stop()`.
        Cancelling the task stops the server too. May be called again after a stop.

        Raises:
            OSError: the address cannot be bound (e.g. the port is in use).
            RuntimeError: this server is already running.
        """
        await self._serve("WebSocket server started on ws://{host}:{port}")

    async def run_forever(self) -> None:
        """Like `start()`, announced as the CLI does; serves until stopped or cancelled.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: this server is already running.
        """
        await self._serve("Mock WebSocket server running on ws://{host}:{port} (with HTTP support)")

    async def _serve(self, announcement: str) -> None:
        if self._run is not None:
            raise RuntimeError(
                "this WebSocketServer is already running; await stop() before starting it again"
            )
        run = _Run()
        self._run = run
        try:
            try:
                addresses = await self._native.bind(self.host, self.port)
            except asyncio.CancelledError:
                await self._native.stop()  # the bind may have completed natively
                raise
            finally:
                run.bound.set()
            if run.stop_requested:  # stop() was called while binding; it stops the server
                return
            self._generation += 1
            generation = self._generation
            self.server = ServerHandle(
                self._native, addresses, lambda: self._generation == generation
            )
            port = addresses[0][1] if self.port == 0 and addresses else self.port
            _say(announcement.format(host=self.host, port=port))
            try:
                await self._native.wait_stopped()
            except asyncio.CancelledError:
                await self._native.stop()
                raise
        finally:
            if not run.stop_requested:  # otherwise stop() releases it once stopped
                self._native.release_loop()
            if self._run is run:
                self._run = None
            run.finished.set()

    async def stop(self) -> None:
        """Stop serving: close every WebSocket (code 1001) and release the port.

        Stops whichever of `start()` / `run_forever()` is running (waiting for a bind in
        progress first) and returns once the port is free. No-op if not running.
        """
        run = self._run
        if run is None and not self._native.is_serving:
            return
        if run is not None and not run.bound.is_set():
            run.stop_requested = True
            await run.bound.wait()
        was_serving = self._native.is_serving
        await self._native.stop()
        self._native.release_loop()
        if run is not None and run.task is not asyncio.current_task():
            await run.finished.wait()
        if was_serving:
            _say("WebSocket server stopped")

    # -- broadcasts ---------------------------------------------------------------

    async def broadcast_message(self, server: str, uid: str, message: str, channel: str) -> None:
        """Send a chat message to every connection joined to `server` (a mapping key).

        Frame: `{"type": "message", "server": server, "data": {"uid", "message",
        "channel"}}`. Values are sent as given.

        Raises:
            TypeError: a value is not JSON-serializable (nothing is sent).
            ValueError: a float is NaN or infinite (nothing is sent).
        """
        sent = self._native.broadcast_message(server, uid, message, channel)
        if sent is None:  # not all plain str: encoded as json.dumps would
            frame = {
                "type": "message",
                "server": server,
                "data": {"uid": uid, "message": message, "channel": channel},
            }
            sent = self._broadcast(server, frame)
        if not sent:
            _not_sent(server, "message")

    async def broadcast_presence(
        self,
        server: str,
        uid: str,
        status: str,
        username: str | None = None,
        role_color: str | None = None,
        delete: bool = False,
    ) -> None:
        """Send a presence change to every connection joined to `server`.

        Frame: `{"type": "presence", "server": server, "data": {"uid", "status"}}`,
        plus `"username"`, `"roleColor"` (from `role_color`) and `"delete": true` when
        those arguments are truthy. `delete=True` removes the user from the world.

        Raises:
            TypeError: a value is not JSON-serializable (nothing is sent).
            ValueError: a float is NaN or infinite (nothing is sent).
        """
        sent = self._native.broadcast_presence(server, uid, status, username, role_color, delete)
        if sent is None:  # not all plain str: encoded as json.dumps would
            data: dict[str, Any] = {"uid": uid, "status": status}
            if username:
                data["username"] = username
            if role_color:
                data["roleColor"] = role_color
            if delete:
                data["delete"] = True
            sent = self._broadcast(server, {"type": "presence", "server": server, "data": data})
        if not sent:
            _not_sent(server, "presence")

    async def broadcast_client_id_update(self, server: str, client_id: str) -> None:
        """Tell every connection joined to `server` the new Discord OAuth client id.

        Frame: `{"type": "update-clientid", "server": server, "data": {"clientId"}}`.

        Raises:
            TypeError: a value is not JSON-serializable (nothing is sent).
            ValueError: a float is NaN or infinite (nothing is sent).
        """
        sent = self._native.broadcast_client_id_update(server, client_id)
        if sent is None:  # not a plain str: encoded as json.dumps would
            frame = {"type": "update-clientid", "server": server, "data": {"clientId": client_id}}
            sent = self._broadcast(server, frame)
        if not sent:
            _not_sent(server, "update-clientid")

    def _broadcast(self, server: object, frame: dict[str, Any]) -> int:
        # Frames with values that are not plain str (a Discord ID as an int, say),
        # encoded once with json.dumps's exact text and errors; NaN/Infinity
        # are refused: the browser's JSON.parse cannot read them.
        text = _native.encode_json(frame)
        if isinstance(server, str):
            return self._native.broadcast(server, text)
        return 0

    # -- helpers upstream code relies on ----------------------------------------

    def _random_color(self) -> str:
        """A random `#rrggbb` colour."""
        return f"#{random.randint(0, 0xFFFFFF):06x}"

    def _random_status(self) -> str:
        """A uniformly random status: online, idle, dnd or offline."""
        return random.choice(MOCK_STATUSES)

    def __repr__(self) -> str:
        state = "serving" if self._native.is_serving else "stopped"
        return f"<WebSocketServer ws://{self.host}:{self.port} {state}>"


if __name__ == "__main__":
    main_sync()
