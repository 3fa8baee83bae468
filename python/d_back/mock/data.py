"""`MockDataProvider`: upstream's mock data API, backed by the native core's data.

The native core owns the mock data (so the server and this class can never disagree)
and runs the mock events of joined connections itself. This class is kept for code that
calls the provider directly: its data methods return fresh dicts decoded from the
native JSON, and its periodic coroutines send mock events to one connection handle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import TYPE_CHECKING, Any, Protocol

from .. import _native

if TYPE_CHECKING:
    from ..server import WebSocketServer

__all__ = ["MockDataProvider"]

logger = logging.getLogger(__name__)

PRESENCE_INTERVAL = 4.0
"""Default seconds between mock presence events."""
MESSAGE_INTERVAL = 5.0
"""Default seconds between mock chat messages."""
MOCK_STATUSES = ("online", "idle", "dnd", "offline")
MOCK_MESSAGES = (
    "hello",
    "how are you?",
    "this is a test message",
    "D-Zone rocks!",
    "what's up?",
)
MOCK_CHANNEL = "527964146659229701"


class MockTarget(Protocol):
    """What the periodic tasks need from a connection (a joined `Connection` fits)."""

    @property
    def discordServer(self) -> str: ...

    async def send(self, message: str, /) -> None: ...


class MockDataProvider:
    """Mock Discord servers and users, plus periodic mock events.

    Servers (mapping key → `{"id", "name", "default"?, "passworded"}`):
    `232769614004748288` D-World (`dworld`, the default), `482241773318701056`
    Docs (WIP) (`docs`), `123456789012345678` OAuth2 Protected Server (`oauth`,
    passworded), `987654321098765432` My Repos (`repos`).

    Attributes:
        server: The `WebSocketServer` this provider belongs to (may be `None` when only
            the data methods are used).
    """

    def __init__(self, server_instance: WebSocketServer | None) -> None:
        """Create a provider for `server_instance` (may be `None`)."""
        self.server = server_instance

    def get_mock_server_data(self) -> dict[str, Any]:
        """The mock server list: a new dict on every call."""
        data: dict[str, Any] = json.loads(_native.mock_server_data_json())
        return data

    def get_mock_user_data(self, discord_server_id: str | None = None) -> dict[str, Any]:
        """The mock users of one server, keyed by uid: a new dict on every call.

        Args:
            discord_server_id: The server's mapping key (e.g. `"232769614004748288"`),
                not its short id.

        Returns:
            `{uid: {"uid", "username", "status", "roleColor"}}`, or `{}` for `None` or
            an unknown key.
        """
        if not isinstance(discord_server_id, str):
            return {}
        data: dict[str, Any] = json.loads(_native.mock_user_data_json(discord_server_id))
        return data

    def _interval(self, name: str, default: float) -> float:
        value = getattr(self.server, name, None)
        return float(value) if isinstance(value, (int, float)) else default

    def _random_status(self) -> str:
        if self.server is not None:
            return self.server._random_status()
        return random.choice(MOCK_STATUSES)

    async def periodic_status_updates(self, websocket: MockTarget) -> None:
        """Send a random mock presence change to `websocket` every 4 seconds.

        Each frame is `{"type": "presence", "server": websocket.discordServer,
        "data": {"uid": <random user of that server>, "status": <random status>}}`.
        Runs until a send fails (or the task is cancelled). The server runs these
        events natively for its own connections; this coroutine is kept for API
        compatibility.
        """
        uids = list(self.get_mock_user_data(websocket.discordServer))
        interval = self._interval("mock_presence_interval", PRESENCE_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            if not uids:
                logger.debug("mock presence task stopped: no mock users for this server")
                return
            frame = {
                "type": "presence",
                "server": websocket.discordServer,
                "data": {"uid": random.choice(uids), "status": self._random_status()},
            }
            if not await _send(websocket, frame):
                return

    async def periodic_messages(self, websocket: MockTarget) -> None:
        """Send a random mock chat message to `websocket` every 5 seconds.

        Each frame is `{"type": "message", "server": websocket.discordServer,
        "data": {"uid": <random user>, "message": <random text>, "channel":
        "527964146659229701"}}`. Runs until a send fails (or the task is cancelled).
        The server runs these events natively for its own connections; this coroutine
        is kept for API compatibility.
        """
        uids = list(self.get_mock_user_data(websocket.discordServer))
        interval = self._interval("mock_message_interval", MESSAGE_INTERVAL)
        while True:
            await asyncio.sleep(interval)
            if not uids:
                logger.debug("mock message task stopped: no mock users for this server")
                return
            frame = {
                "type": "message",
                "server": websocket.discordServer,
                "data": {
                    "uid": random.choice(uids),
                    "message": random.choice(MOCK_MESSAGES),
                    "channel": MOCK_CHANNEL,
                },
            }
            if not await _send(websocket, frame):
                return


async def _send(websocket: MockTarget, frame: dict[str, Any]) -> bool:
    """Send one frame; False (after logging) if the connection cannot take it."""
    try:
        await websocket.send(json.dumps(frame))
    except Exception as exc:  # any send failure ends the task, as upstream
        logger.debug("mock task stopped: send failed: %s", exc)
        return False
    return True
