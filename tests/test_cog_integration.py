"""A Red-DiscordBot cog double (like d-cogs' `dworld`) driving the server end to end.

The fakes below stand in for discord.py (`Guild`, `Member`, `Role`, `Colour`) and Red
(`Config` with awaitable values); `DWorldCog` does what the real cog does: registers
the five callbacks in `__init__`, starts the server as a task in `cog_load`, stops it
in `cog_unload`, and calls the broadcasts with keywords from Discord event handlers.
Browsers are real WebSocket clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import errno
import json
import mimetypes
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from d_back.server import WebSocketServer
from helpers import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    HOST,
    TIMEOUT,
    Client,
    free_port,
    http_get,
    wait_serving,
    ws_client,
)

# --------------------------------------------------------------------------------------
# discord.py stand-ins


class Status(str, enum.Enum):
    online = "online"
    idle = "idle"
    dnd = "dnd"
    offline = "offline"
    invisible = "invisible"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Colour:
    value: int

    def __str__(self) -> str:
        return f"#{self.value:06x}"


@dataclass(eq=False)
class Role:
    id: int
    name: str
    colour: Colour
    position: int


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    members: list[Member] = field(default_factory=list)

    def get_member(self, user_id: int) -> Member | None:
        return next((m for m in self.members if m.id == user_id), None)


@dataclass(eq=False)
class Member:
    id: int
    name: str
    guild: Guild
    status: Status = Status.online
    roles: list[Role] = field(default_factory=list)
    nick: str | None = None
    bot: bool = False

    @property
    def display_name(self) -> str:
        return self.nick or self.name

    @property
    def top_role(self) -> Role | None:
        return max(self.roles, key=lambda r: r.position, default=None)


@dataclass
class Channel:
    id: int


@dataclass
class Message:
    guild: Guild
    author: Member
    channel: Channel
    content: str


class Bot:
    def __init__(self, guilds: list[Guild]) -> None:
        self.guilds = guilds
        # The Discord API as the validator sees it: OAuth token -> user id.
        self.oauth_tokens: dict[str, str] = {}

    def get_guild(self, guild_id: int) -> Guild | None:
        return next((g for g in self.guilds if g.id == guild_id), None)


# --------------------------------------------------------------------------------------
# Red's Config stand-in: every read is awaited and takes a loop-bound lock, as Red's
# drivers do, so a callback run off the bot's loop would fail.


class Value:
    def __init__(self, config: Config, store: dict[str, Any], key: str) -> None:
        self._config, self._store, self._key = config, store, key

    async def __call__(self) -> Any:
        async with self._config.lock:
            await asyncio.sleep(0)
            return copy.deepcopy(self._store[self._key])

    async def set(self, value: Any) -> None:
        async with self._config.lock:
            self._store[self._key] = value


class Group:
    def __init__(self, config: Config, store: dict[str, Any]) -> None:
        self._config, self._store = config, store

    def __getattr__(self, name: str) -> Value:
        if name.startswith("_") or name not in self._store:
            raise AttributeError(name)
        return Value(self._config, self._store, name)


GUILD_DEFAULTS: dict[str, Any] = {
    "passworded": False,
    "password": None,  # legacy shared password; must never reach the browser
    "ignoreOfflineMembers": False,
    "members": {},  # member id -> {"role_color": "#rrggbb"}
}
GLOBAL_DEFAULTS: dict[str, Any] = {"client_id": "506432803173433344", "static_file_path": None}


class Config:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self._globals = dict(GLOBAL_DEFAULTS)
        self._guilds: dict[int, dict[str, Any]] = {}

    def guild(self, guild: Guild) -> Group:
        store = self._guilds.setdefault(guild.id, copy.deepcopy(GUILD_DEFAULTS))
        return Group(self, store)

    def __getattr__(self, name: str) -> Value:
        if name.startswith("_") or name not in self._globals:
            raise AttributeError(name)
        return Value(self, self._globals, name)


# --------------------------------------------------------------------------------------
# The cog

STATUS_MAPPING = {"online": "online", "idle": "idle", "dnd": "dnd", "invisible": "offline"}


class DWorldCog:
    """What d-cogs' `dworld` does with d-back, minus Discord."""

    def __init__(self, bot: Bot, config: Config, *, port: int = 0) -> None:
        self.bot = bot
        self.config = config
        self.task: asyncio.Task[None] | None = None
        self.validations: list[tuple[Any, ...]] = []
        self.callback_loops: set[asyncio.AbstractEventLoop] = set()
        self.server = WebSocketServer(port=port, host=HOST)
        # Registration calls, as the cog does ...
        self.server.on_get_server_data(self.get_server_data)
        self.server.on_get_user_data(self.get_user_data)
        self.server.on_get_client_id(self.get_client_id)
        # ... and attribute assignment, as upstream's README does.
        self.server.on_validate_discord_user = self.validate_discord_user
        self.server.on_static_request = self.handle_static_request

    async def cog_load(self) -> None:
        self.task = asyncio.create_task(self.server.start())

    async def cog_unload(self) -> None:
        await self.server.stop()

    # -- callbacks ----------------------------------------------------------------

    async def get_server_data(self) -> dict[str, Any]:
        self.callback_loops.add(asyncio.get_running_loop())
        servers: dict[str, Any] = {}
        for guild in self.bot.guilds:
            settings = self.config.guild(guild)
            servers[str(guild.id)] = {
                "id": guild.name[:1].upper(),
                "name": guild.name,
                "default": not servers,  # the first guild is the default
                "passworded": await settings.passworded(),
            }
            password = await settings.password()
            if password:
                servers[str(guild.id)]["password"] = password
        return servers

    async def get_user_data(self, discord_server_id: str) -> dict[str, Any]:
        self.callback_loops.add(asyncio.get_running_loop())
        guild = self.bot.get_guild(int(discord_server_id))
        if guild is None:
            return {}
        ignore_offline = await self.config.guild(guild).ignoreOfflineMembers()
        users = {}
        for member in guild.members:
            status = STATUS_MAPPING.get(str(member.status), "offline")
            if ignore_offline and status == "offline":
                continue
            users[str(member.id)] = {
                "uid": str(member.id),
                "username": member.display_name,
                "status": status,
                "roleColor": await self.role_color(member),
            }
        return users

    async def get_client_id(self, discord_server_id: str) -> str | None:
        self.callback_loops.add(asyncio.get_running_loop())
        return await self.config.client_id()

    async def validate_discord_user(self, token: str, user: dict, discord_server_id: str) -> bool:
        self.callback_loops.add(asyncio.get_running_loop())
        self.validations.append((token, user, discord_server_id))
        guild = self.bot.get_guild(int(discord_server_id))
        if guild is None or self.bot.oauth_tokens.get(token) != user.get("id"):
            return False
        return guild.get_member(int(user["id"])) is not None

    async def handle_static_request(self, path: str) -> tuple[str, str] | None:
        self.callback_loops.add(asyncio.get_running_loop())
        root = await self.config.static_file_path()
        if not root:
            return None
        path = path.lstrip("/") or "index.html"
        if ".." in path:
            return None
        full_path = os.path.join(root, path)
        content_type = mimetypes.guess_type(full_path)[0] or "application/octet-stream"
        return content_type, full_path  # may not exist: the server answers 404

    async def role_color(self, member: Member) -> str:
        custom = (await self.config.guild(member.guild).members()).get(str(member.id), {})
        if "role_color" in custom:
            return custom["role_color"]
        if member.top_role and member.top_role.colour.value:
            return str(member.top_role.colour)
        return "#ffffff"

    # -- Discord events ---------------------------------------------------------------

    async def on_message(self, message: Message) -> None:
        if message.author.bot:
            return
        await self.server.broadcast_message(
            server=str(message.guild.id),
            uid=str(message.author.id),
            message=message.content,
            channel=str(message.channel.id),
        )

    async def on_presence_update(self, before: Member, after: Member) -> None:
        if before.status == after.status:
            return
        await self.server.broadcast_presence(
            server=str(after.guild.id),
            uid=str(after.id),
            status=STATUS_MAPPING.get(str(after.status), "offline"),
            username=after.display_name,
            role_color=await self.role_color(after),
        )

    async def on_member_remove(self, member: Member) -> None:
        await self.server.broadcast_presence(
            server=str(member.guild.id), uid=str(member.id), status="offline", delete=True
        )

    async def set_client_id(self, client_id: str) -> None:
        """`[p]dworldconfig setclientid`: store it and tell every browser."""
        await self.config.client_id.set(client_id)
        for guild in self.bot.guilds:
            await self.server.broadcast_client_id_update(str(guild.id), client_id)


# --------------------------------------------------------------------------------------
# The world the tests use

ALPHA, BETA, SECRET = 111, 222, 333
RED, TEAL = Colour(0xFF0000), Colour(0x1ABC9C)


def make_world() -> tuple[Bot, Config]:
    alpha = Guild(ALPHA, "alpha Guild")
    beta = Guild(BETA, "Beta Guild")
    secret = Guild(SECRET, "Secret Guild")
    mods = Role(1, "Mods", RED, position=5)
    everyone = Role(2, "@everyone", Colour(0), position=0)
    fans = Role(3, "Fans", TEAL, position=2)
    alpha.members = [
        Member(1101, "alice", alpha, Status.online, [everyone, fans, mods], nick="Alice"),
        Member(1102, "bob", alpha, Status.idle, [everyone]),
        Member(1103, "carol", alpha, Status.invisible, [everyone, fans]),
        Member(1104, "robot", alpha, Status.online, [everyone], bot=True),
    ]
    beta.members = [Member(2201, "dave", beta, Status.dnd, [fans])]
    secret.members = [Member(3301, "erin", secret, Status.online, [mods])]
    bot = Bot([alpha, beta, secret])
    bot.oauth_tokens = {"erin-token": "3301", "mallory-token": "6666"}
    config = Config()
    config._guilds[SECRET] = {**copy.deepcopy(GUILD_DEFAULTS), "passworded": True}
    config._guilds[SECRET]["password"] = "hunter2"
    config._guilds[ALPHA] = copy.deepcopy(GUILD_DEFAULTS)
    config._guilds[ALPHA]["members"] = {"1102": {"role_color": "#00ff00"}}
    return bot, config


EXPECTED_SERVER_LIST = {
    "111": {"id": "A", "name": "alpha Guild", "default": True, "passworded": False},
    "222": {"id": "B", "name": "Beta Guild", "default": False, "passworded": False},
    "333": {"id": "S", "name": "Secret Guild", "default": False, "passworded": True},
}
ALPHA_USERS = {
    "1101": {"uid": "1101", "username": "Alice", "status": "online", "roleColor": "#ff0000"},
    "1102": {"uid": "1102", "username": "bob", "status": "idle", "roleColor": "#00ff00"},
    "1103": {"uid": "1103", "username": "carol", "status": "offline", "roleColor": "#1abc9c"},
    "1104": {"uid": "1104", "username": "robot", "status": "online", "roleColor": "#ffffff"},
}
ERIN = {"id": "3301", "username": "erin", "global_name": "Erin", "avatar": None}


def port_is_free(port: int) -> bool:
    """True if a new server could listen on the port right now (as asyncio's and
    d-back's own listeners do, with SO_REUSEADDR: closed connections may linger in
    TIME_WAIT, a listener may not)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            s.listen()
        except OSError:
            return False
        return True


async def load(cog: DWorldCog) -> int:
    """`cog_load`, then wait until the server listens; returns the port."""
    await cog.cog_load()
    assert cog.task is not None
    return await wait_serving(cog.server, cog.task)


async def unload(cog: DWorldCog) -> None:
    await asyncio.wait_for(cog.cog_unload(), 15)
    if cog.task is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(cog.task, 15)


@dataclass
class Loaded:
    cog: DWorldCog
    bot: Bot
    config: Config
    port: int

    def client(self, **kwargs: Any):
        return ws_client(self.port, "/ws", **kwargs)

    def guild(self, guild_id: int) -> Guild:
        guild = self.bot.get_guild(guild_id)
        assert guild is not None
        return guild


@pytest.fixture
async def loaded_cog():
    """Factory: a loaded `DWorldCog` over `make_world()`; unloaded at teardown."""
    cogs: list[DWorldCog] = []

    async def _load(port: int = 0) -> Loaded:
        bot, config = make_world()
        cog = DWorldCog(bot, config, port=port)
        cogs.append(cog)
        return Loaded(cog, bot, config, await load(cog))

    yield _load
    for cog in cogs:
        await unload(cog)


async def assert_nothing_more(*clients: Client) -> None:
    """Each client's next frame is the barrier's answer: nothing else was queued."""
    await asyncio.gather(*(client.barrier() for client in clients))


# --------------------------------------------------------------------------------------
# Scenarios


async def test_server_list_has_names_one_default_and_no_password(loaded_cog):
    world = await loaded_cog()
    async with world.client() as client:
        assert client.server_list == EXPECTED_SERVER_LIST
        assert [key for key, e in client.server_list.items() if e.get("default")] == ["111"]
        assert all("password" not in entry for entry in client.server_list.values())
        assert "hunter2" not in client.server_list_raw
    assert world.cog.callback_loops == {asyncio.get_running_loop()}


async def test_join_default_sends_users_role_colours_and_client_id(loaded_cog):
    world = await loaded_cog()
    async with world.client() as client:
        reply = await client.join_ok(None)  # the frontend's first visit sends null
        assert reply == {
            "type": "server-join",
            "data": {
                "users": ALPHA_USERS,
                "request": {"server": "default"},
                "serverName": "alpha Guild",
                "clientId": "506432803173433344",
            },
        }
        reply = await client.join_ok("B")
        assert reply["data"]["users"] == {
            "2201": {"uid": "2201", "username": "dave", "status": "dnd", "roleColor": "#1abc9c"}
        }
        assert reply["data"]["serverName"] == "Beta Guild"

        await world.config.guild(world.guild(ALPHA)).ignoreOfflineMembers.set(True)
        reply = await client.join_ok("A")
        assert set(reply["data"]["users"]) == {"1101", "1102", "1104"}


async def test_events_reach_only_clients_of_that_guild(loaded_cog):
    world = await loaded_cog()
    cog, alpha, beta = world.cog, world.guild(ALPHA), world.guild(BETA)
    alice, bob = alpha.members[0], alpha.members[1]
    async with contextlib.AsyncExitStack() as stack:
        a1, a2, b1, lobby = [await stack.enter_async_context(world.client()) for _ in range(4)]
        await a1.join_ok("A")
        await a2.join_ok(None)
        await b1.join_ok("B")

        await cog.on_message(Message(alpha, alice, Channel(527964146659229701), "hi all ☃"))
        expected = {
            "type": "message",
            "server": "111",
            "data": {"uid": "1101", "message": "hi all ☃", "channel": "527964146659229701"},
        }
        assert await a1.recv() == expected
        assert await a2.recv() == expected
        await cog.on_message(Message(alpha, alpha.members[3], Channel(1), "beep"))  # a bot

        before = copy.copy(bob)
        bob.status = Status.dnd
        await cog.on_presence_update(before, bob)
        expected = {
            "type": "presence",
            "server": "111",
            "data": {"uid": "1102", "status": "dnd", "username": "bob", "roleColor": "#00ff00"},
        }
        assert await a1.recv() == expected
        assert await a2.recv() == expected

        await cog.on_member_remove(alice)
        expected = {
            "type": "presence",
            "server": "111",
            "data": {"uid": "1101", "status": "offline", "delete": True},
        }
        assert await a1.recv() == expected
        assert await a2.recv() == expected

        dave = beta.members[0]
        await cog.on_member_remove(dave)
        assert (await b1.recv())["data"] == {"uid": "2201", "status": "offline", "delete": True}

        await cog.set_client_id("999000111")
        for client, key in ((a1, "111"), (a2, "111"), (b1, "222")):
            assert await client.recv() == {
                "type": "update-clientid",
                "server": key,
                "data": {"clientId": "999000111"},
            }
        await assert_nothing_more(a1, a2, b1, lobby)

        # The new client id is also what later joins get.
        assert (await lobby.join_ok("S", discordToken="erin-token", discordUser=ERIN))["data"][
            "clientId"
        ] == "999000111"


async def test_broadcasts_return_without_waiting_for_clients(loaded_cog):
    """Broadcasts are queued, not sent in turn: they return at once, even with many
    queued frames for a client that reads nothing yet."""
    world = await loaded_cog()
    alpha = world.guild(ALPHA)
    async with world.client() as client:
        await client.join_ok("A")
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(200):
            await world.cog.on_message(Message(alpha, alpha.members[0], Channel(1), f"m{i}"))
        assert loop.time() - started < 1.0
        for i in range(200):
            assert (await client.recv())["data"]["message"] == f"m{i}"


async def test_unserializable_broadcast_raises_and_sends_nothing(loaded_cog):
    world = await loaded_cog()
    async with world.client() as client:
        await client.join_ok("A")
        with pytest.raises(TypeError):
            await world.cog.server.broadcast_message(
                server="111", uid="1101", message={"not", "json"}, channel="1"
            )
        with pytest.raises(TypeError):
            await world.cog.server.broadcast_presence(
                server="111", uid="1101", status="online", role_color=Colour(1)
            )
        await assert_nothing_more(client)
        await world.cog.on_message(
            Message(world.guild(ALPHA), world.guild(ALPHA).members[0], Channel(1), "ok")
        )
        assert (await client.recv())["data"]["message"] == "ok"


async def test_passworded_guild_needs_a_valid_discord_login(loaded_cog):
    world = await loaded_cog()
    cog = world.cog
    async with world.client() as client:
        await client.join_ok("A")
        assert await client.join("S") == {"type": "error", "data": {"message": AUTH_REQUIRED}}
        assert cog.validations == []

        stolen = await client.join("S", discordToken="mallory-token", discordUser=ERIN)
        assert stolen == {"type": "error", "data": {"message": AUTH_FAILED}}
        outsider = {"id": "6666", "username": "mallory"}
        refused = await client.join("S", discordToken="mallory-token", discordUser=outsider)
        assert refused == {"type": "error", "data": {"message": AUTH_FAILED}}
        assert cog.validations == [
            ("mallory-token", ERIN, "333"),
            ("mallory-token", outsider, "333"),
        ]
        # Failed logins keep the browser in its current world.
        await world.cog.on_message(
            Message(world.guild(ALPHA), world.guild(ALPHA).members[0], Channel(1), "still A")
        )
        assert (await client.recv())["data"]["message"] == "still A"

        reply = await client.join_ok("S", discordToken="erin-token", discordUser=ERIN)
        assert reply["data"] == {
            "users": {
                "3301": {
                    "uid": "3301",
                    "username": "erin",
                    "status": "online",
                    "roleColor": "#ff0000",
                }
            },
            "request": {"server": "S"},
            "serverName": "Secret Guild",
            "clientId": "506432803173433344",
        }
        assert cog.validations[-1] == ("erin-token", ERIN, "333")

        # The legacy shared password still works, and is echoed back.
        reply = await client.join_ok("S", password="hunter2")
        assert reply["data"]["request"] == {"server": "S", "password": "hunter2"}


async def test_static_files_from_the_configured_d_zone_build(loaded_cog, tmp_path):
    build = tmp_path / "d-zone"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text("<title>d-zone</title>")
    (build / "assets" / "app.js").write_text("console.log('zone')")
    world = await loaded_cog()

    default_index = await http_get(world.port, "/")
    assert default_index.status == 200
    assert b"D-Back WebSocket Server" in default_index.body
    version = await http_get(world.port, "/api/version")
    assert (version.status, version.content_type) == (200, "application/json")

    await world.config.static_file_path.set(str(build))
    index = await http_get(world.port, "/?socketURL=ws://127.0.0.1")
    assert (index.status, index.content_type, index.body) == (
        200,
        "text/html",
        b"<title>d-zone</title>",
    )
    script = await http_get(world.port, "/assets/app.js")
    assert (script.status, script.body) == (200, b"console.log('zone')")
    assert script.content_type in ("text/javascript", "application/javascript")
    # The cog answers every path, /api/version included: a missing file is a 404.
    assert (await http_get(world.port, "/api/version")).status == 404
    assert (await http_get(world.port, "/missing.png")).status == 404
    # Its own safety check hands `..` back to the default handling, which refuses it.
    assert (await http_get(world.port, "/../secret")).status in (403, 404)


async def test_cog_reload_rebinds_the_same_port(loaded_cog):
    """`[p]reload dworld`: unload stops the server and frees the port, a new cog
    instance binds the same port at once; the same instance can start again too."""
    port = free_port()
    first = await loaded_cog(port)
    async with first.client() as joined, first.client() as lobby:
        await joined.join_ok("A")
        await first.cog.cog_unload()
        assert port_is_free(port)
        assert await joined.expect_closed() == 1001
        assert await lobby.expect_closed() == 1001
    assert first.cog.task is not None
    assert await asyncio.wait_for(first.cog.task, TIMEOUT) is None
    await first.cog.cog_unload()  # a second unload is harmless

    second = await loaded_cog(port)
    assert second.port == port
    async with second.client() as client:
        await client.join_ok("B")
    await second.cog.cog_unload()
    assert port_is_free(port)

    assert await load(second.cog) == port  # the same WebSocketServer, started again
    async with second.client() as client:
        assert (await client.join_ok(None))["data"]["serverName"] == "alpha Guild"


async def test_cancelling_the_server_task_stops_the_server(loaded_cog):
    """Red cancels a cog's tasks at shutdown: clients get 1001 and the port is freed."""
    port = free_port()
    world = await loaded_cog(port)
    task = world.cog.task
    assert task is not None
    async with world.client() as joined, world.client() as lobby:
        await joined.join_ok("A")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
        assert await joined.expect_closed() == 1001
        assert await lobby.expect_closed() == 1001
    assert port_is_free(port)
    await asyncio.wait_for(world.cog.cog_unload(), TIMEOUT)  # unload after the cancel

    assert await load(world.cog) == port  # and it can start again
    async with world.client() as client:
        await client.join_ok("B")


async def test_busy_port_fails_the_server_task_with_oserror():
    bot, config = make_world()
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        cog = DWorldCog(bot, config, port=taken.getsockname()[1])
        await cog.cog_load()
        assert cog.task is not None
        with pytest.raises(OSError) as excinfo:
            await asyncio.wait_for(cog.task, TIMEOUT)
        assert excinfo.value.errno == errno.EADDRINUSE
    assert cog.server.server is None or not cog.server.server.sockets
    await asyncio.wait_for(cog.cog_unload(), TIMEOUT)


# --------------------------------------------------------------------------------------
# uvloop: Red runs on uvloop where it is installed


async def cog_session_on_this_loop() -> dict[str, Any]:
    """A whole cog life on the running loop: load, join, broadcast, unload.

    Returns facts for the caller to check (also used by the uvloop subprocess)."""
    loop = asyncio.get_running_loop()
    bot, config = make_world()
    cog = DWorldCog(bot, config, port=free_port())
    port = await load(cog)
    try:
        async with ws_client(port, "/ws") as client:
            reply = await client.join_ok("A")
            alpha = bot.guilds[0]
            await cog.on_message(Message(alpha, alpha.members[0], Channel(7), "hello uvloop"))
            message = await client.recv()
            await cog.cog_unload()
            close_code = await client.expect_closed()
        assert cog.task is not None
        await asyncio.wait_for(cog.task, TIMEOUT)
        return {
            "loop": type(loop).__module__ + "." + type(loop).__name__,
            "callbacks_on_this_loop": cog.callback_loops == {loop},
            "users": sorted(reply["data"]["users"]),
            "message": message,
            "close_code": close_code,
            "port_free": port_is_free(port),
        }
    finally:
        await unload(cog)


def assert_uvloop_session(facts: dict[str, Any]) -> None:
    assert facts["loop"].startswith("uvloop"), facts
    assert facts["callbacks_on_this_loop"] is True
    assert facts["users"] == sorted(ALPHA_USERS)
    assert facts["message"] == {
        "type": "message",
        "server": "111",
        "data": {"uid": "1101", "message": "hello uvloop", "channel": "7"},
    }
    assert facts["close_code"] == 1001
    assert facts["port_free"] is True


async def test_cog_on_uvloop_in_another_thread():
    """A uvloop loop in a second thread, while the test's own loop keeps running:
    callbacks go to the loop that started the server."""
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed")
    result: dict[str, Any] = {}

    def run() -> None:
        loop = uvloop.new_event_loop()
        try:
            result.update(loop.run_until_complete(asyncio.wait_for(cog_session_on_this_loop(), 60)))
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="uvloop-bot")
    thread.start()
    await asyncio.to_thread(thread.join, 90)
    assert not thread.is_alive()
    assert_uvloop_session(result)


def test_cog_on_uvloop_run_in_a_fresh_process():
    """`uvloop.run(...)` as the program's main loop (how a bot process starts)."""
    pytest.importorskip("uvloop", reason="uvloop is not installed")
    program = (
        "import json, sys, uvloop\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_cog_integration import cog_session_on_this_loop\n"
        "facts = uvloop.run(cog_session_on_this_loop())\n"
        "print('FACTS ' + json.dumps(facts))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("FACTS ")]
    assert_uvloop_session(json.loads(line[len("FACTS ") :]))
