"""Callback contracts (§1.5, §4, §7 #3, #9): what a misbehaving callback does to a client.

Every failure mode (an exception, a timeout, a result of the wrong shape or one that is
not JSON) must give the client the documented answer, log under `d_back`, keep the
socket open, leave other clients alone, and let the next good request succeed.
Also: callbacks run on the asyncio loop that started the server (loop-bound objects
work inside them), plain functions work, and registrations made while serving count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from d_back.server import WebSocketServer
from helpers import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    CANNOT_CONNECT,
    HOST,
    TIMEOUT,
    Client,
    _http_request_blocking,
    eventually,
    http_get,
    wait_serving,
    ws_client,
)
from mock_data import DWORLD_KEY, MOCK_USERS

SERVERS = {
    "1001": {"id": "alpha", "name": "Alpha", "default": True, "passworded": False},
    "1002": {"id": "beta", "name": "Beta", "passworded": False},
    "1003": {"id": "locked", "name": "Locked", "passworded": True},
}
DISCORD_USER = {"id": "42", "username": "zoe", "discriminator": "0", "avatar": None}
EMPTY_SERVER_LIST = '{"type": "server-list", "data": {}}'


def users_of(key: str) -> dict[str, Any]:
    uid = f"{key}-u1"
    return {
        uid: {"uid": uid, "username": f"user of {key}", "status": "online", "roleColor": "#abcdef"}
    }


def error(message: str) -> dict[str, Any]:
    return {"type": "error", "data": {"message": message}}


@dataclass
class Started:
    server: WebSocketServer
    task: asyncio.Task
    port: int

    def client(self, **kwargs: Any):
        return ws_client(self.port, **kwargs)


@pytest.fixture
async def start_server():
    """Factory: `await start_server(callback_timeout=..., on_x=cb, ...)` on 127.0.0.1:0."""
    started: list[Started] = []

    async def _start(*, callback_timeout: float = 10.0, **callbacks: Any) -> Started:
        server = WebSocketServer(0, HOST, callback_timeout=callback_timeout)
        for name, callback in callbacks.items():
            getattr(server, name)(callback)
        task = asyncio.create_task(server.start())
        port = await wait_serving(server, task)
        started.append(Started(server, task, port))
        return started[-1]

    yield _start
    for item in started:
        await asyncio.wait_for(item.server.stop(), 15)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(item.task, 15)


class LogRecords(logging.Handler):
    """Collects the records that reach the `d_back` logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR]


@pytest.fixture
def d_back_log():
    handler = LogRecords()
    logger = logging.getLogger("d_back")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


# --------------------------------------------------------------------------------------
# Failure modes, for every callback


class Unserializable:
    """A value `json.dumps` rejects."""


class BadBool:
    """A validator result whose truthiness cannot be decided."""

    def __bool__(self) -> bool:
        raise ValueError("no truth value")


class Callbacks:
    """The five callbacks; each behaves well until the test switches it to `failure`.

    failure: "raise" (an exception), "hang" (waits past the callback timeout) or
    "bad" (returns `bad`).
    """

    def __init__(self) -> None:
        self.failing: str | None = None
        self.failure = "raise"
        self.bad: Any = None
        self.release = asyncio.Event()  # lets hanging callbacks finish at teardown

    async def _result(self, name: str, good: Any) -> Any:
        if self.failing != name:
            return good
        if self.failure == "raise":
            raise RuntimeError(f"{name} exploded")
        if self.failure == "hang":
            await self.release.wait()
            return good
        return self.bad

    async def get_server_data(self) -> Any:
        return await self._result("get_server_data", json.loads(json.dumps(SERVERS)))

    async def get_user_data(self, key: str) -> Any:
        return await self._result("get_user_data", users_of(key))

    async def validate_discord_user(self, token: str, user: Any, key: str) -> Any:
        return await self._result("validate_discord_user", token == "good-token")

    async def get_client_id(self, key: str) -> Any:
        return await self._result("get_client_id", f"cid-{key}")

    async def static_request(self, path: str) -> Any:
        return await self._result("static_request", ("text/plain", f"served {path}".encode()))

    def registrations(self) -> dict[str, Callable[..., Any]]:
        return {
            "on_get_server_data": self.get_server_data,
            "on_get_user_data": self.get_user_data,
            "on_validate_discord_user": self.validate_discord_user,
            "on_get_client_id": self.get_client_id,
            "on_static_request": self.static_request,
        }


async def join_locked(client: Client) -> Any:
    return await client.join("locked", discordToken="good-token", discordUser=DISCORD_USER)


def join_reply(key: str, server: str, name: str, client_id: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "users": users_of(key),
        "request": {"server": server},
        "serverName": name,
    }
    if client_id:
        data["clientId"] = f"cid-{key}"
    return {"type": "server-join", "data": data}


async def exercise(running: Started, callbacks: Callbacks, case: str) -> None:
    """Make one request that hits the failing callback; assert the client's answer,
    then switch the callback back to good behaviour and assert the same socket works."""
    if case == "server_data_on_open":
        callbacks.failing = "get_server_data"
        async with running.client(read_server_list=False) as client:
            assert await client.recv_raw() == EMPTY_SERVER_LIST
            callbacks.failing = None
            assert await client.join("beta") == join_reply("1002", "beta", "Beta")
        return
    if case == "static_request":
        callbacks.failing = case
        response = await http_get(running.port, "/page")
        assert (response.status, response.body) == (500, b"Internal Server Error")
        callbacks.failing = None
        response = await http_get(running.port, "/page")
        assert (response.status, response.body) == (200, b"served /page")
        return
    async with running.client() as client:
        await client.join_ok("beta")  # the membership a failed join must keep
        callbacks.failing = case
        if case == "get_client_id":  # an optional field: the join still succeeds
            assert await client.join("alpha") == join_reply("1001", "alpha", "Alpha", False)
        elif case == "validate_discord_user":
            assert await join_locked(client) == error(AUTH_FAILED)
        else:
            assert await client.join("alpha") == error(CANNOT_CONNECT)
            (conn,) = [c for c in running.server.connections if c.server_id == "beta"]
            assert conn.discordServer == "1002"
        assert client.is_open
        callbacks.failing = None
        if case == "validate_discord_user":
            assert await join_locked(client) == join_reply("1003", "locked", "Locked")
        else:
            assert await client.join("alpha") == join_reply("1001", "alpha", "Alpha")


FAILURES = [
    # (case, failure, bad value, logged exception type or None)
    ("server_data_on_open", "raise", None, RuntimeError),
    ("server_data_on_open", "bad", {"1001": {"id": "alpha", "name": "A", "tags": {1}}}, TypeError),
    ("server_data_on_open", "hang", None, None),
    ("get_server_data", "raise", None, RuntimeError),
    ("get_server_data", "bad", Unserializable(), TypeError),
    ("get_server_data", "bad", tuple(SERVERS.items()), None),  # JSON, but not a mapping
    ("get_server_data", "hang", None, None),
    ("get_user_data", "raise", None, RuntimeError),
    ("get_user_data", "bad", {"u": {"since": {1, 2}}}, TypeError),
    ("get_user_data", "hang", None, None),
    ("validate_discord_user", "raise", None, RuntimeError),
    ("validate_discord_user", "bad", BadBool(), ValueError),
    ("validate_discord_user", "hang", None, None),
    ("get_client_id", "raise", None, RuntimeError),
    ("get_client_id", "bad", object(), TypeError),
    ("get_client_id", "hang", None, None),
    ("static_request", "raise", None, RuntimeError),
    ("static_request", "bad", ("text/plain", ("not", "a path")), TypeError),
    ("static_request", "bad", ("text/plain", "/etc/hostname", "extra"), ValueError),
    ("static_request", "bad", 404, TypeError),
    ("static_request", "hang", None, None),
]


@pytest.mark.parametrize(
    "case, failure, bad, logged",
    FAILURES,
    ids=[f"{case}-{failure}-{i}" for i, (case, failure, _, _) in enumerate(FAILURES)],
)
async def test_failing_callback(start_server, d_back_log, case, failure, bad, logged):
    callbacks = Callbacks()
    running = await start_server(callback_timeout=0.2, **callbacks.registrations())
    try:
        async with running.client() as bystander:
            await bystander.join_ok("alpha")
            callbacks.failure, callbacks.bad = failure, bad
            d_back_log.records.clear()

            await asyncio.wait_for(exercise(running, callbacks, case), 4 * TIMEOUT)

            # Other clients are unaffected: still joined, still receiving broadcasts.
            await running.server.broadcast_message("1001", "1001-u1", "still here", "c")
            frame = await bystander.recv()
            assert frame["data"]["message"] == "still here"
    finally:
        callbacks.release.set()

    if logged is not None:
        record = next(
            (r for r in d_back_log.errors() if r.exc_info and isinstance(r.exc_info[1], logged)),
            None,
        )
        assert record is not None, [r.getMessage() for r in d_back_log.records]
        assert record.name == "d_back"
        if failure == "raise":
            slot = "get_server_data" if case == "server_data_on_open" else case
            assert str(record.exc_info[1]) == f"{slot} exploded"
    elif failure == "hang":
        await eventually(lambda: any("timed out" in r.getMessage() for r in d_back_log.errors()))
        assert all(r.name.startswith("d_back") for r in d_back_log.errors())


async def test_callback_finishing_within_the_timeout_is_waited_for(start_server):
    """A callback that finishes within `callback_timeout` is waited for."""
    done = asyncio.Event()

    async def get_users(key):
        await asyncio.sleep(0.3)
        done.set()
        return users_of(key)

    async def get_servers():
        return SERVERS

    running = await start_server(
        callback_timeout=2.0, on_get_server_data=get_servers, on_get_user_data=get_users
    )
    async with running.client() as client:
        assert await client.join("alpha") == join_reply("1001", "alpha", "Alpha", False)
        assert done.is_set()


# --------------------------------------------------------------------------------------
# Where callbacks run


async def test_callbacks_run_on_the_loop_that_started_the_server(start_server, tmp_path):
    """Sync and async callbacks alike run on the server's loop, in its thread."""
    loop = asyncio.get_running_loop()
    seen: list[tuple[str, Any, int]] = []
    page = tmp_path / "page.txt"
    page.write_text("from a file")

    def note(name: str) -> None:
        seen.append((name, asyncio.get_running_loop(), threading.get_ident()))

    def get_servers():
        note("get_server_data")
        return SERVERS

    async def get_users(key):
        note("get_user_data")
        await asyncio.sleep(0)
        return users_of(key)

    def validate(token, user, key):
        note("validate_discord_user")
        return True

    async def client_id(key):
        note("get_client_id")
        return f"cid-{key}"

    def static(path):
        note("static_request")
        return ("text/plain", str(page)) if path == "/page" else None

    running = await start_server(
        on_get_server_data=get_servers,
        on_get_user_data=get_users,
        on_validate_discord_user=validate,
        on_get_client_id=client_id,
        on_static_request=static,
    )
    async with running.client() as client:
        assert await join_locked(client) == join_reply("1003", "locked", "Locked")
    response = await http_get(running.port, "/page")
    assert (response.status, response.body) == (200, b"from a file")

    assert {name for name, _, _ in seen} == {
        "get_server_data",
        "get_user_data",
        "validate_discord_user",
        "get_client_id",
        "static_request",
    }
    for name, callback_loop, thread in seen:
        assert callback_loop is loop, name
        assert thread == threading.get_ident(), name


async def test_loop_bound_lock_and_queue_work_inside_callbacks(start_server):
    """An asyncio.Lock/Queue/Event created on the server's loop (as Red's Config and
    discord.py hold them) can be awaited by a callback."""
    lock = asyncio.Lock()
    entered = asyncio.Event()
    calls: asyncio.Queue[str] = asyncio.Queue()

    async def get_servers():
        return SERVERS

    async def get_users(key):
        entered.set()
        async with lock:
            await calls.put(key)
            return users_of(key)

    running = await start_server(on_get_server_data=get_servers, on_get_user_data=get_users)
    async with running.client() as client, running.client() as other:
        async with lock:
            await client.send({"type": "connect", "data": {"server": "alpha"}})
            await asyncio.wait_for(entered.wait(), TIMEOUT)
            assert calls.empty()  # the callback waits for the lock the test holds
            # Meanwhile, other clients are served.
            await other.barrier()
        assert await client.recv() == join_reply("1001", "alpha", "Alpha", False)
        assert await asyncio.wait_for(calls.get(), TIMEOUT) == "1001"


async def test_stopping_leaves_the_bots_loop_watching_nothing_of_ours():
    """While serving, the loop watches a socket the server rings when callbacks are
    due; every stop gives it back, so start/stop cycles leave the bot's loop (and its
    file descriptors) as they found it."""
    loop = asyncio.get_running_loop()
    watched_before = set(loop._selector.get_map())  # the default selector event loop
    for _ in range(3):
        server = WebSocketServer(0, HOST)
        server.on_get_server_data(lambda: SERVERS)
        server.on_get_user_data(users_of)
        task = asyncio.create_task(server.start())
        port = await wait_serving(server, task)
        assert len(set(loop._selector.get_map()) - watched_before) == 1
        async with ws_client(port) as client:
            assert await client.join("alpha") == join_reply("1001", "alpha", "Alpha", False)
        await asyncio.wait_for(server.stop(), 15)
        await asyncio.wait_for(task, 15)
        assert set(loop._selector.get_map()) == watched_before


def test_callbacks_run_on_a_loop_that_cannot_watch_sockets():
    """Loops without `add_reader` (Windows' proactor loop) get their callback calls
    scheduled with `call_soon_threadsafe` instead."""

    class NoAddReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:
            raise NotImplementedError

    async def scenario() -> None:
        server = WebSocketServer(0, HOST)
        server.on_get_server_data(lambda: SERVERS)
        server.on_get_user_data(users_of)
        task = asyncio.create_task(server.start())
        port = await wait_serving(server, task)
        try:
            for _ in range(3):
                async with ws_client(port) as client:
                    assert client.server_list == SERVERS
                    assert await client.join("beta") == join_reply("1002", "beta", "Beta", False)
        finally:
            await asyncio.wait_for(server.stop(), 15)
            await asyncio.wait_for(task, 15)

    loop = NoAddReaderLoop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


# --------------------------------------------------------------------------------------
# Registration styles and timing


async def test_assignment_registers_every_callback(start_server, tmp_path):
    """`server.on_x = cb` works for all five (upstream's README style), `None` unregisters."""
    calls: list[tuple[Any, ...]] = []
    page = tmp_path / "page.html"
    page.write_text("<p>custom</p>")
    running = await start_server()
    server = running.server

    async def get_servers():
        return SERVERS

    def get_users(key):
        return users_of(key)

    async def validate(token, user, key):
        calls.append((token, user, key))
        return token == "good-token"

    def client_id(key):
        return f"cid-{key}"

    async def static(path):
        return ("text/html", page) if path == "/custom" else None

    server.on_get_server_data = get_servers
    server.on_get_user_data = get_users
    server.on_validate_discord_user = validate
    server.on_get_client_id = client_id
    server.on_static_request = static

    async with running.client() as client:
        assert client.server_list == SERVERS
        assert await join_locked(client) == join_reply("1003", "locked", "Locked")
        bad = await client.join("locked", discordToken="bad-token", discordUser=DISCORD_USER)
        assert bad == error(AUTH_FAILED)
        assert calls == [
            ("good-token", DISCORD_USER, "1003"),
            ("bad-token", DISCORD_USER, "1003"),
        ]
    response = await http_get(running.port, "/custom")
    assert (response.status, response.content_type, response.body) == (
        200,
        "text/html",
        b"<p>custom</p>",
    )

    server.on_get_client_id = None
    server.on_static_request = None
    server.on_validate_discord_user = None
    async with running.client() as client:
        reply = await client.join("locked", discordToken="any", discordUser=DISCORD_USER)
        assert reply == join_reply("1003", "locked", "Locked", client_id=False)
        assert calls == [calls[0], calls[1]]  # the validator is no longer consulted
    assert (await http_get(running.port, "/custom")).status == 404


async def test_registration_while_serving_applies_to_open_sockets(start_server):
    """Validator, client id and static callbacks registered after start() take effect
    on the next request, also on sockets opened before."""

    async def get_servers():
        return SERVERS

    running = await start_server(on_get_server_data=get_servers)
    server = running.server
    async with running.client() as client:
        reply = await client.join("locked", discordToken="t", discordUser=DISCORD_USER)
        assert reply["type"] == "server-join"  # no validator: a well-formed user is let in
        assert "clientId" not in reply["data"]
        assert await client.join("locked") == error(AUTH_REQUIRED)

        server.on_validate_discord_user(lambda token, user, key: False)
        server.on_get_client_id(lambda key: "506432803173433344")
        refused = await client.join("locked", discordToken="t", discordUser=DISCORD_USER)
        assert refused == error(AUTH_FAILED)
        assert (await client.join_ok("beta"))["data"]["clientId"] == "506432803173433344"

    assert (await http_get(running.port, "/api/version")).content_type == "application/json"
    server.on_static_request(lambda path: ("text/plain", b"overridden"))
    response = await http_get(running.port, "/api/version")
    assert (response.status, response.body) == (200, b"overridden")


async def test_server_data_alone_falls_back_to_mock_users_without_mock_events(serve):
    """With only `on_get_server_data`, users of mock keys come from the mock provider
    (other keys get `{}`) and no mock events are sent; unregistering it while serving
    brings the mock events back on the next join."""
    own = {
        DWORLD_KEY: {"id": "world", "name": "My World", "default": True},
        "5005": {"id": "mine", "name": "Mine"},
    }

    def get_servers():
        return own

    running = await serve(mock_intervals=(0.05, 0.05), on_get_server_data=get_servers)
    async with running.client() as client:
        assert client.server_list == own
        reply = await client.join_ok(None)
        assert reply["data"]["users"] == MOCK_USERS[DWORLD_KEY]
        assert reply["data"]["serverName"] == "My World"
        assert (await client.join_ok("mine"))["data"]["users"] == {}
        with pytest.raises(asyncio.TimeoutError):  # several mock intervals: nothing
            frame = await client.recv_raw(0.3)
            pytest.fail(f"unexpected frame: {frame}")

        running.server.on_get_server_data = None
        await client.join_ok("dworld")
        frame = await client.recv(TIMEOUT)
        assert frame["type"] in ("presence", "message")
        assert frame["server"] == DWORLD_KEY
        assert frame["data"]["uid"] in MOCK_USERS[DWORLD_KEY]


# ------------------------------------------------------------ misbehaving bots


async def test_huge_user_data_is_delivered(start_server):
    """A big guild: 50,000 members (several MiB in one server-join)."""

    def users(_key: str) -> dict[str, Any]:
        return {
            str(n): {
                "uid": str(n),
                "username": f"member {n}",
                "status": "online",
                "roleColor": "#aa00ff",
            }
            for n in range(50_000)
        }

    started = await start_server(on_get_server_data=lambda: SERVERS, on_get_user_data=users)
    async with started.client() as client:
        reply = await client.join("alpha")
        assert reply["type"] == "server-join"
        assert len(reply["data"]["users"]) == 50_000
        await client.barrier()


async def test_a_callback_may_broadcast_to_the_server(start_server):
    """Calling back into the server from inside a callback neither deadlocks nor fails."""
    started: Started | None = None

    async def users(key: str) -> dict[str, Any]:
        assert started is not None
        await started.server.broadcast_message("1002", "u", f"{key} is being joined", "c")
        return users_of(key)

    started = await start_server(on_get_server_data=lambda: SERVERS, on_get_user_data=users)
    async with started.client() as watcher, started.client() as joiner:
        await watcher.join_ok("beta")
        await joiner.join_ok("alpha")
        frame = await watcher.recv()
        assert frame["type"] == "message"
        assert frame["data"]["message"].endswith("is being joined")


async def test_a_blocked_bot_loop_stalls_only_the_requests_that_need_it(start_server):
    """The bot's loop blocked for 1.5 s: the join waiting on it times out, while HTTP
    (which needs no callback) is answered during the block; afterwards all is well."""
    blocking = True
    block_started = threading.Event()
    block_ended_at: list[float] = []

    def users(key: str) -> dict[str, Any]:
        if blocking:
            block_started.set()
            time.sleep(1.5)  # a bot doing blocking work on its event loop
            block_ended_at.append(time.monotonic())
        return users_of(key)

    started = await start_server(
        callback_timeout=0.5, on_get_server_data=lambda: SERVERS, on_get_user_data=users
    )
    answered_at: list[float] = []

    def fetch_version_during_the_block() -> None:
        assert block_started.wait(TIMEOUT)
        response = _http_request_blocking(started.port, "GET", "/api/version", None)
        if response.status == 200:
            answered_at.append(time.monotonic())

    fetcher = threading.Thread(target=fetch_version_during_the_block)
    fetcher.start()
    async with started.client() as client:
        await client.send({"type": "connect", "data": {"server": "alpha"}})
        assert await client.recv() == error(CANNOT_CONNECT)
        await asyncio.to_thread(fetcher.join, TIMEOUT)
        assert answered_at and block_ended_at
        assert answered_at[0] < block_ended_at[0], "HTTP waited for the bot's loop"
        blocking = False
        assert (await client.join("alpha"))["type"] == "server-join"
