"""A cog-style d-back integration, typed end to end (checked with `mypy --strict`).

This is the shape of d-cogs' `dworld` cog for Red-DiscordBot, without importing
redbot or discord.py: the few things it uses from them are described by the Protocols
below, so any bot framework with guilds, members and an async settings store fits.

* `__init__` creates the `WebSocketServer` and registers the five callbacks, with the
  registration call (`server.on_get_user_data(cb)`) and with attribute assignment
  (`server.on_static_request = cb`); both register.
* `cog_load` starts the server as a task; `cog_unload` stops it (clients are closed
  with code 1001 and the port is free when it returns, so a reload can bind it again).
* The `on_*` event handlers forward Discord events with the broadcasts.

Run it standalone (fake guilds, serves until Ctrl-C), then open
http://127.0.0.1:3000 or point d-zone at `ws://127.0.0.1:3000`::

    python examples/dworld_cog.py [--port 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import mimetypes
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from d_back.server import WebSocketServer

log = logging.getLogger("dworld")

# --------------------------------------------------------------------------------------
# What the cog needs from the bot (discord.py / Red), as Protocols


class Colour(Protocol):
    @property
    def value(self) -> int: ...


class Role(Protocol):
    @property
    def colour(self) -> Colour: ...


class Guild(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def members(self) -> Sequence[Member]: ...

    def get_member(self, user_id: int, /) -> Member | None: ...


class Member(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def display_name(self) -> str: ...

    @property
    def status(self) -> object: ...  # discord.Status; str() gives "online", "idle", ...

    @property
    def top_role(self) -> Role | None: ...

    @property
    def guild(self) -> Guild: ...

    @property
    def bot(self) -> bool: ...


class Channel(Protocol):
    @property
    def id(self) -> int: ...


class Message(Protocol):
    @property
    def guild(self) -> Guild | None: ...

    @property
    def author(self) -> Member: ...

    @property
    def channel(self) -> Channel: ...

    @property
    def content(self) -> str: ...


class Bot(Protocol):
    @property
    def guilds(self) -> Sequence[Guild]: ...

    def get_guild(self, guild_id: int, /) -> Guild | None: ...


class GuildSettings(Protocol):
    """Per-guild settings (Red: `await config.guild(guild).passworded()`)."""

    async def passworded(self) -> bool: ...

    async def ignore_offline_members(self) -> bool: ...


class Settings(Protocol):
    """The cog's settings store (Red: `Config`)."""

    def guild(self, guild: Guild, /) -> GuildSettings: ...

    async def client_id(self) -> str | None: ...

    async def static_file_path(self) -> str | None: ...

    async def discord_user_id(self, token: str, /) -> str | None:
        """Who owns an OAuth2 access token (the real cog asks Discord's `/users/@me`)."""
        ...


# --------------------------------------------------------------------------------------
# What d-back exchanges with the callbacks


class ServerEntry(TypedDict, total=False):
    id: str
    name: str
    default: bool
    passworded: bool


class UserEntry(TypedDict):
    uid: str
    username: str
    status: str
    roleColor: str


STATUS_MAPPING = {"online": "online", "idle": "idle", "dnd": "dnd", "invisible": "offline"}


def frontend_status(member: Member) -> str:
    return STATUS_MAPPING.get(str(member.status), "offline")


def role_color(member: Member) -> str:
    role = member.top_role
    if role is not None and role.colour.value:
        return f"#{role.colour.value:06x}"
    return "#ffffff"


# --------------------------------------------------------------------------------------
# The cog


class DWorld:
    """Serves a bot's guilds to d-zone browsers."""

    def __init__(
        self, bot: Bot, settings: Settings, *, host: str = "localhost", port: int = 3000
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.server = WebSocketServer(port=port, host=host)
        self._task: asyncio.Task[None] | None = None

        # Registration calls (what d-cogs does) ...
        self.server.on_get_server_data(self.get_server_data)
        self.server.on_get_user_data(self.get_user_data)
        self.server.on_validate_discord_user(self.validate_discord_user)
        # ... and attribute assignment (what upstream d-back's README shows).
        self.server.on_get_client_id = self.get_client_id
        self.server.on_static_request = self.handle_static_request

    # -- lifecycle (Red calls these on load / unload / reload) ------------------------

    async def cog_load(self) -> None:
        self._task = asyncio.create_task(self.server.start())
        self._task.add_done_callback(self._server_ended)

    async def cog_unload(self) -> None:
        await self.server.stop()

    @staticmethod
    def _server_ended(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("d-back server failed", exc_info=task.exception())

    async def serve_until_unloaded(self) -> None:
        """Wait for the server task: it ends after `cog_unload` (or raises the bind
        error). Cancelling this wait cancels the task, which stops the server too."""
        if self._task is not None:
            await self._task

    @property
    def browser_count(self) -> int:
        return len(self.server.connections)

    # -- callbacks (all run on the bot's event loop) ----------------------------------

    async def get_server_data(self) -> dict[str, ServerEntry]:
        servers: dict[str, ServerEntry] = {}
        for guild in self.bot.guilds:
            servers[str(guild.id)] = {
                "id": guild.name[:1].upper(),
                "name": guild.name,
                "default": not servers,  # the first guild is joined by default
                "passworded": await self.settings.guild(guild).passworded(),
            }
        return servers

    async def get_user_data(self, discord_server_id: str) -> dict[str, UserEntry]:
        guild = self.bot.get_guild(int(discord_server_id))
        if guild is None:
            return {}
        skip_offline = await self.settings.guild(guild).ignore_offline_members()
        users: dict[str, UserEntry] = {}
        for member in guild.members:
            status = frontend_status(member)
            if skip_offline and status == "offline":
                continue
            users[str(member.id)] = {
                "uid": str(member.id),
                "username": member.display_name,
                "status": status,
                "roleColor": role_color(member),
            }
        return users

    async def validate_discord_user(
        self, token: str, user: dict[str, Any], discord_server_id: str
    ) -> bool:
        guild = self.bot.get_guild(int(discord_server_id))
        user_id = str(user.get("id", ""))
        if guild is None or not user_id.isdigit():
            return False
        if await self.settings.discord_user_id(token) != user_id:
            return False
        return guild.get_member(int(user_id)) is not None

    async def get_client_id(self, discord_server_id: str) -> str | None:
        return await self.settings.client_id()

    async def handle_static_request(self, path: str) -> tuple[str, str] | None:
        root = await self.settings.static_file_path()
        if not root:
            return None  # d-back's own handling (built-in page, /api/version)
        relative = path.lstrip("/") or "index.html"
        if ".." in relative.split("/"):
            return None
        full_path = os.path.join(root, relative)
        content_type = mimetypes.guess_type(full_path)[0] or "application/octet-stream"
        return content_type, full_path

    # -- Discord events -----------------------------------------------------------------

    async def on_message(self, message: Message) -> None:
        if message.author.bot or message.guild is None:
            return
        await self.server.broadcast_message(
            server=str(message.guild.id),
            uid=str(message.author.id),
            message=message.content,
            channel=str(message.channel.id),
        )

    async def on_presence_update(self, before: Member, after: Member) -> None:
        if str(before.status) == str(after.status):
            return
        await self.server.broadcast_presence(
            server=str(after.guild.id),
            uid=str(after.id),
            status=frontend_status(after),
            username=after.display_name,
            role_color=role_color(after),
        )

    async def on_member_join(self, member: Member) -> None:
        await self.server.broadcast_presence(
            server=str(member.guild.id),
            uid=str(member.id),
            status=frontend_status(member),
            username=member.display_name,
            role_color=role_color(member),
        )

    async def on_member_remove(self, member: Member) -> None:
        await self.server.broadcast_presence(
            server=str(member.guild.id), uid=str(member.id), status="offline", delete=True
        )

    async def on_client_id_changed(self, client_id: str) -> None:
        """After `[p]dworldconfig setclientid`: tell every open browser."""
        for guild in self.bot.guilds:
            await self.server.broadcast_client_id_update(str(guild.id), client_id)


# --------------------------------------------------------------------------------------
# A tiny fake bot, to run the example on its own


@dataclass
class FakeColour:
    value: int


@dataclass
class FakeRole:
    colour: FakeColour


@dataclass(eq=False)
class FakeGuild:
    id: int
    name: str
    members: list[FakeMember] = field(default_factory=list)

    def get_member(self, user_id: int, /) -> FakeMember | None:
        return next((m for m in self.members if m.id == user_id), None)


@dataclass(eq=False)
class FakeMember:
    id: int
    display_name: str
    guild: FakeGuild
    status: str = "online"
    top_role: FakeRole | None = None
    bot: bool = False


@dataclass
class FakeChannel:
    id: int


@dataclass
class FakeMessage:
    guild: FakeGuild | None
    author: FakeMember
    channel: FakeChannel
    content: str


@dataclass
class FakeBot:
    guilds: list[FakeGuild]

    def get_guild(self, guild_id: int, /) -> FakeGuild | None:
        return next((g for g in self.guilds if g.id == guild_id), None)


@dataclass
class FakeGuildSettings:
    locked: bool = False

    async def passworded(self) -> bool:
        return self.locked

    async def ignore_offline_members(self) -> bool:
        return False


@dataclass
class FakeSettings:
    locked_guilds: set[int] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)

    def guild(self, guild: Guild, /) -> FakeGuildSettings:
        return FakeGuildSettings(locked=guild.id in self.locked_guilds)

    async def client_id(self) -> str | None:
        return "506432803173433344"

    async def static_file_path(self) -> str | None:
        return os.environ.get("DWORLD_STATIC_DIR")

    async def discord_user_id(self, token: str, /) -> str | None:
        return self.tokens.get(token)


def fake_bot() -> tuple[FakeBot, FakeSettings]:
    home = FakeGuild(111, "Home")
    lab = FakeGuild(222, "Lab")
    red = FakeRole(FakeColour(0xE74C3C))
    home.members = [
        FakeMember(1, "alice", home, "online", red),
        FakeMember(2, "bob", home, "idle"),
        FakeMember(3, "carol", home, "dnd", red),
    ]
    lab.members = [FakeMember(4, "dave", lab, "online")]
    return FakeBot([home, lab]), FakeSettings(locked_guilds={222}, tokens={"dave-token": "4"})


async def chatter(cog: DWorld, bot: FakeBot) -> None:
    """Simulated Discord activity: a message and a status change every few seconds."""
    statuses = ["online", "idle", "dnd"]
    tick = 0
    while True:
        await asyncio.sleep(3)
        tick += 1
        home = bot.guilds[0]
        speaker = home.members[tick % len(home.members)]
        await cog.on_message(FakeMessage(home, speaker, FakeChannel(1), f"message {tick}"))
        mover = home.members[(tick + 1) % len(home.members)]
        before = FakeMember(mover.id, mover.display_name, home, mover.status, mover.top_role)
        mover.status = statuses[tick % len(statuses)]
        await cog.on_presence_update(before, mover)


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="d-back cog example with a fake bot")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)

    bot, settings = fake_bot()
    cog = DWorld(bot, settings, host=args.host, port=args.port)
    await cog.cog_load()
    activity = asyncio.create_task(chatter(cog, bot))
    try:
        await cog.serve_until_unloaded()  # until Ctrl-C
    finally:
        activity.cancel()
        await cog.cog_unload()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
