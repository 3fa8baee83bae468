"""Every row of the §3.10 error table, in its corrected (§7) form: the socket stays open."""

from __future__ import annotations

import json

import pytest
from helpers import (
    CANNOT_CONNECT,
    INVALID_BINARY,
    INVALID_JSON,
    UNKNOWN_EVENT,
    error_frame,
)
from mock_data import DWORLD_KEY, MOCK_USERS


async def assert_still_usable(client, server="dworld"):
    reply = await client.join_ok(server)
    assert reply["data"]["request"] == {"server": server}


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\xfd", b"\xc3", b'{"type": "connect", "data": {"server": "\xe9"}}'],
    ids=["garbage", "truncated", "latin1-in-json"],
)
async def test_binary_frame_that_is_not_utf8(mock_server, payload):
    async with mock_server.client() as client:
        await client.send_raw(payload)
        assert await client.recv_raw() == error_frame(INVALID_BINARY)
        await assert_still_usable(client)


@pytest.mark.parametrize(
    "text", ["not json", "{", '{"type": "connect"', "", "   ", "{'type': 'connect'}"]
)
async def test_text_that_is_not_json(mock_server, text):
    async with mock_server.client() as client:
        await client.send_raw(text)
        assert await client.recv_raw() == error_frame(INVALID_JSON)
        await assert_still_usable(client)


async def test_binary_that_is_utf8_but_not_json(mock_server):
    async with mock_server.client() as client:
        await client.send_raw("nicht JSON – ☃".encode())
        assert await client.recv_raw() == error_frame(INVALID_JSON)


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"data": {"server": "dworld"}},
        {"type": "Connect", "data": {"server": "dworld"}},
        {"type": "CONNECT"},
        {"type": " connect"},
        {"type": "get_user_data"},
        {"type": "authenticate", "data": {}},
        {"type": None},
        {"type": 1},
        {"type": ["connect"]},
    ],
    ids=[
        "empty",
        "no-type",
        "capitalised",
        "upper",
        "padded",
        "get_user_data",
        "authenticate",
        "null",
        "number",
        "list",
    ],
)
async def test_unknown_event_type(mock_server, message):
    async with mock_server.client() as client:
        await client.send(message)
        assert await client.recv_raw() == error_frame(UNKNOWN_EVENT)
        await assert_still_usable(client)


@pytest.mark.parametrize(
    "text", ["[1]", "5", '"x"', "null", "true", "[]", '[{"type": "connect"}]'], ids=str
)
async def test_json_that_is_not_an_object(mock_server, text):
    """§7 #2: upstream raised and closed the socket (1000) without a frame."""
    async with mock_server.client() as client:
        await client.send_raw(text)
        assert await client.recv_raw() == error_frame(UNKNOWN_EVENT)
        await assert_still_usable(client)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "connect"},
        {"type": "connect", "data": None},
        {"type": "connect", "data": []},
        {"type": "connect", "data": "dworld"},
        {"type": "connect", "data": 5},
        {"type": "connect", "data": ["server", "repos"]},
    ],
    ids=["missing", "null", "list", "string", "number", "pairs"],
)
async def test_connect_without_object_data_joins_default(mock_server, message):
    """§7 #2: missing/non-object `data` is treated as `{}` (upstream dropped the socket)."""
    async with mock_server.client() as client:
        await client.send(message)
        assert await client.recv() == {
            "type": "server-join",
            "data": {
                "users": MOCK_USERS[DWORLD_KEY],
                "request": {"server": "default"},
                "serverName": "D-World",
            },
        }


@pytest.mark.parametrize("user", ["someone", [1], 7], ids=["str", "list", "int"])
async def test_non_object_discord_user_is_ignored_on_open_servers(mock_server, user):
    """§7 #2: upstream dropped the socket."""
    async with mock_server.client() as client:
        reply = await client.join("docs", discordToken="t", discordUser=user)
        assert reply["type"] == "server-join"
        assert reply["data"]["request"] == {"server": "docs"}


async def test_python_json_extensions_are_accepted(mock_server):
    """Client frames are parsed like Python's `json.loads` (NaN, duplicate keys)."""
    async with mock_server.client() as client:
        await client.send_raw('{"type": "connect", "data": {"server": "docs", "x": NaN}}')
        assert (await client.recv())["data"]["serverName"] == "Docs (WIP)"
        await client.send_raw(
            '{"type": "nope", "data": {"server": "nope"}, '
            '"type": "connect", "data": {"server": "repos"}}'
        )
        reply = await client.recv()
        assert reply["type"] == "server-join"
        assert reply["data"]["request"] == {"server": "repos"}


class TestFailingCallbacks:
    """§7 #3: callback failures during connect answer with an error and keep the socket."""

    async def test_server_data_failing_on_open_sends_empty_list(self, serve):
        async def get_servers():
            raise RuntimeError("config unavailable")

        running = await serve(on_get_server_data=get_servers)
        async with running.client(read_server_list=False) as client:
            assert await client.recv_raw() == '{"type": "server-list", "data": {}}'
            assert await client.join("dworld") == json.loads(error_frame(CANNOT_CONNECT))
            assert client.is_open

    async def test_server_data_failing_on_connect(self, serve):
        calls = {"n": 0}

        async def get_servers():
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("flaky")
            return {"k": {"id": "s", "name": "S", "default": True}}

        running = await serve(on_get_server_data=get_servers)
        async with running.client() as client:
            await client.join_ok("s")  # call 2
            assert await client.join("s") == json.loads(error_frame(CANNOT_CONNECT))  # call 3
            assert (await client.join_ok("s"))["data"]["serverName"] == "S"  # call 4

    @pytest.mark.parametrize("value", [["s"], "s", None, 5], ids=["list", "str", "none", "int"])
    async def test_server_data_not_a_mapping_on_connect(self, serve, value):
        calls = {"n": 0}

        async def get_servers():
            calls["n"] += 1
            return {"k": {"id": "s", "name": "S"}} if calls["n"] == 1 else value

        running = await serve(on_get_server_data=get_servers)
        async with running.client() as client:
            assert await client.join("s") == json.loads(error_frame(CANNOT_CONNECT))
            assert client.is_open
            await client.barrier()

    async def test_entry_that_is_not_a_mapping(self, serve):
        async def get_servers():
            return {"bad": "not a mapping", "k": {"id": "s", "name": "S"}}

        running = await serve(on_get_server_data=get_servers)
        async with running.client() as client:
            assert await client.join("s") == json.loads(error_frame(CANNOT_CONNECT))
            await client.barrier()

    async def test_matched_entry_without_name(self, serve):
        async def get_servers():
            return {"k1": {"id": "noname"}, "k2": {"id": "ok", "name": "OK"}}

        running = await serve(on_get_server_data=get_servers)
        async with running.client() as client:
            await client.join_ok("ok")
            assert await client.join("noname") == json.loads(error_frame(CANNOT_CONNECT))
            (conn,) = list(running.server.connections)
            assert conn.discordServer == "k2"

    async def test_user_data_failing_keeps_socket_and_old_membership(self, serve):
        async def get_users(key):
            if key == "987654321098765432":
                raise RuntimeError("no users for repos")
            return {"key": key}

        running = await serve(on_get_user_data=get_users)
        async with running.client() as client:
            await client.join_ok("docs")
            assert await client.join("repos") == json.loads(error_frame(CANNOT_CONNECT))
            (conn,) = list(running.server.connections)
            assert conn.discordServer == "482241773318701056"
            await running.server.broadcast_message("987654321098765432", "u", "repos", "c")
            await running.server.broadcast_message("482241773318701056", "u", "docs", "c")
            frame = await client.recv()
            assert (frame["type"], frame["data"]["message"]) == ("message", "docs")

    async def test_user_data_not_json_serializable(self, serve):
        async def get_users(key):
            return {"u": object()}

        running = await serve(on_get_user_data=get_users)
        async with running.client() as client:
            assert await client.join("dworld") == json.loads(error_frame(CANNOT_CONNECT))
            assert client.is_open
            await client.barrier()
