"""Mock mode (§6): the built-in servers and users, and the per-connection mock events."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from d_back.server import WebSocketServer
from helpers import eventually
from mock_data import (
    DWORLD_KEY,
    MOCK_CHANNEL,
    MOCK_MESSAGES,
    MOCK_SERVERS,
    MOCK_STATUSES,
    MOCK_USERS,
    OAUTH_KEY,
    REPOS_KEY,
)

FAST = (0.05, 0.05)
LOGIN = {"discordToken": "token", "discordUser": {"id": "1", "username": "someone"}}


async def collect_events(client, count: int, timeout: float = 5.0) -> list[tuple[str, dict]]:
    """Receive `count` mock events; return (raw, parsed) pairs."""
    events = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(events) < count:
        raw = await client.recv_raw(max(deadline - loop.time(), 0.001))
        events.append((raw, json.loads(raw)))
    return events


def assert_mock_event(raw: str, frame: dict, key: str) -> None:
    assert raw == json.dumps(frame), "not json.dumps formatting"
    assert list(frame) == ["type", "server", "data"]
    assert frame["server"] == key
    data = frame["data"]
    assert data["uid"] in MOCK_USERS[key]
    if frame["type"] == "presence":
        assert list(data) == ["uid", "status"]
        assert data["status"] in MOCK_STATUSES
    else:
        assert frame["type"] == "message", frame
        assert list(data) == ["uid", "message", "channel"]
        assert data["message"] in MOCK_MESSAGES
        assert data["channel"] == MOCK_CHANNEL


async def assert_quiet(client, seconds: float = 0.3) -> None:
    """Nothing arrives within a short window (several mock intervals)."""
    with pytest.raises(asyncio.TimeoutError):
        frame = await client.recv_raw(seconds)
        pytest.fail(f"unexpected frame: {frame}")


class TestMockData:
    async def test_server_list_is_byte_exact(self, mock_server):
        async with mock_server.client() as client:
            assert client.server_list_raw == json.dumps(
                {"type": "server-list", "data": MOCK_SERVERS}
            )
            assert client.server_list_raw == (
                '{"type": "server-list", "data": {"232769614004748288": {"id": "dworld", '
                '"name": "D-World", "default": true, "passworded": false}, "482241773318701056": '
                '{"id": "docs", "name": "Docs (WIP)", "passworded": false}, "123456789012345678": '
                '{"id": "oauth", "name": "OAuth2 Protected Server", "passworded": true}, '
                '"987654321098765432": {"id": "repos", "name": "My Repos", "passworded": false}}}'
            )

    async def test_server_join_for_dworld_is_byte_exact(self, mock_server):
        async with mock_server.client() as client:
            await client.send({"type": "connect", "data": {"server": "dworld"}})
            raw = await client.recv_raw()
            assert raw == json.dumps(
                {
                    "type": "server-join",
                    "data": {
                        "users": MOCK_USERS[DWORLD_KEY],
                        "request": {"server": "dworld"},
                        "serverName": "D-World",
                    },
                }
            )
            assert raw.startswith(
                '{"type": "server-join", "data": {"users": {"123456789012345001": {"uid": '
                '"123456789012345001", "username": "vegeta897", "status": "online", '
                '"roleColor": "#ff6b6b"}, '
            )

    @pytest.mark.parametrize(
        ("short_id", "count", "first"),
        [
            ("dworld", 4, ("123456789012345001", "vegeta897", "online", "#ff6b6b")),
            ("docs", 1, ("223456789012345001", "nntin.xyz/me", "online", "#feca57")),
            ("oauth", 1, ("323456789012345001", "NNTin", "online", "#ff9ff3")),
            ("repos", 21, ("423456789012345001", "me", "online", "#54a0ff")),
        ],
    )
    async def test_users_of_each_server(self, mock_server, short_id, count, first):
        async with mock_server.client() as client:
            extra = LOGIN if short_id == "oauth" else {}
            users = (await client.join_ok(short_id, **extra))["data"]["users"]
            assert len(users) == count
            uid, username, status, color = first
            assert next(iter(users.items())) == (
                uid,
                {"uid": uid, "username": username, "status": status, "roleColor": color},
            )
            key = next(k for k, v in MOCK_SERVERS.items() if v["id"] == short_id)
            assert users == MOCK_USERS[key]

    async def test_mock_mode_never_sends_client_id(self, mock_server):
        async with mock_server.client() as client:
            for short_id in ("dworld", "docs", "repos"):
                assert "clientId" not in (await client.join_ok(short_id))["data"]


class TestMockEvents:
    async def test_events_arrive_for_the_joined_server(self, serve):
        running = await serve(mock_intervals=(0.05, 0.07))
        async with running.client() as client:
            await client.join_ok("dworld")
            events = await collect_events(client, 12)
            for raw, frame in events:
                assert_mock_event(raw, frame, DWORLD_KEY)
            kinds = {frame["type"] for _, frame in events}
            assert kinds == {"presence", "message"}

    async def test_no_events_before_joining(self, serve):
        running = await serve(mock_intervals=FAST)
        async with running.client() as client:
            await assert_quiet(client)
            await client.barrier()

    async def test_events_go_only_to_that_connection(self, serve):
        running = await serve(mock_intervals=FAST)
        async with contextlib.AsyncExitStack() as stack:
            dworld, repos, lobby = [
                await stack.enter_async_context(running.client()) for _ in range(3)
            ]
            await dworld.join_ok("dworld")
            await repos.join_ok("repos")
            for raw, frame in await collect_events(dworld, 10):
                assert_mock_event(raw, frame, DWORLD_KEY)
            for raw, frame in await collect_events(repos, 10):
                assert_mock_event(raw, frame, REPOS_KEY)
            await lobby.barrier()

    async def test_oauth_server_events(self, serve):
        running = await serve(mock_intervals=FAST)
        async with running.client() as client:
            await client.join_ok("oauth", **LOGIN)
            for raw, frame in await collect_events(client, 4):
                assert_mock_event(raw, frame, OAUTH_KEY)

    async def test_rejoin_cancels_the_old_tasks(self, serve):
        """§7 #5: upstream kept the old tasks running after a re-join."""
        running = await serve(mock_intervals=FAST)
        async with running.client() as client:
            await client.join_ok("repos")
            for raw, frame in await collect_events(client, 2):
                assert_mock_event(raw, frame, REPOS_KEY)
            await client.send({"type": "connect", "data": {"server": "dworld"}})
            join, _ = await client.recv_until(lambda f: f["type"] == "server-join")
            assert join["data"]["serverName"] == "D-World"
            for raw, frame in await collect_events(client, 16):
                assert_mock_event(raw, frame, DWORLD_KEY)

    async def test_exactly_one_pair_per_connection(self, serve):
        """Re-joining the same server must not add tasks (upstream added two per join)."""
        interval = 0.05
        running = await serve(mock_intervals=(interval, interval))
        async with running.client() as client:
            for _ in range(4):
                await client.send({"type": "connect", "data": {"server": "dworld"}})
                await client.recv_until(lambda f: f["type"] == "server-join")
            loop = asyncio.get_running_loop()
            window = 0.6
            end = loop.time() + window
            counts = {"presence": 0, "message": 0}
            while (remaining := end - loop.time()) > 0:
                try:
                    frame = await client.recv(remaining)
                except asyncio.TimeoutError:
                    break
                counts[frame["type"]] += 1
            # One pair: about window/interval = 12 of each; four pairs would give ~48.
            assert 1 <= counts["presence"] <= 20, counts
            assert 1 <= counts["message"] <= 20, counts

    async def test_disconnect_stops_the_tasks_quietly(self, serve):
        running = await serve(mock_intervals=(0.01, 0.01))
        for _ in range(3):
            async with running.client() as client:
                await client.join_ok("repos")
                await collect_events(client, 3)
        await eventually(lambda: len(running.server.connections) == 0)
        async with running.client() as client:
            assert len(running.server.connections) == 1
            await client.join_ok("docs")
            for raw, frame in await collect_events(client, 3):
                assert_mock_event(raw, frame, "482241773318701056")

    @pytest.mark.parametrize("which", ["server_data", "user_data"])
    async def test_no_events_when_a_data_callback_is_registered(self, serve, which):
        provider_servers = dict(MOCK_SERVERS)

        async def get_servers():
            return provider_servers

        async def get_users(key):
            return MOCK_USERS.get(key, {})

        callbacks = (
            {"on_get_server_data": get_servers}
            if which == "server_data"
            else {"on_get_user_data": get_users}
        )
        running = await serve(mock_intervals=FAST, **callbacks)
        async with running.client() as client:
            await client.join_ok("dworld")
            await assert_quiet(client)

    async def test_other_callbacks_keep_mock_events(self, serve):
        async def client_id(key):
            return "cid"

        async def validate(token, user, key):
            return True

        running = await serve(
            mock_intervals=FAST, on_get_client_id=client_id, on_validate_discord_user=validate
        )
        async with running.client() as client:
            assert (await client.join_ok("dworld"))["data"]["clientId"] == "cid"
            for raw, frame in await collect_events(client, 4):
                assert_mock_event(raw, frame, DWORLD_KEY)

    async def test_intervals_from_environment(self, serve, monkeypatch):
        monkeypatch.setenv("D_BACK_MOCK_PRESENCE_INTERVAL", "0.05")
        monkeypatch.setenv("D_BACK_MOCK_MESSAGE_INTERVAL", "0.05")
        running = await serve()
        async with running.client() as client:
            await client.join_ok("docs")
            events = await collect_events(client, 6, timeout=3.0)
            assert {frame["type"] for _, frame in events} == {"presence", "message"}

    async def test_default_intervals_are_seconds_apart(self, serve):
        running = await serve()
        async with running.client() as client:
            await client.join_ok("dworld")
            await assert_quiet(client, 0.5)

    def test_keyword_intervals_are_accepted(self):
        WebSocketServer(0, "127.0.0.1", mock_presence_interval=0.05, mock_message_interval=0.05)
