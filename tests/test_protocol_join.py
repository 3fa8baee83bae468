"""Joining a server: id normalization and matching (§3.6), `server-join` (§3.8), membership."""

from __future__ import annotations

import asyncio
import collections
import enum
import json
from typing import Any

import pytest
from helpers import CANNOT_CONNECT, CUSTOM_SERVERS, CUSTOM_USERS, error_frame
from mock_data import DWORLD_KEY, MOCK_SERVERS, MOCK_USERS, REPOS_KEY


async def test_server_list_is_the_first_frame(mock_server):
    async with mock_server.client(read_server_list=False) as client:
        frame = await client.recv()
        assert frame == {"type": "server-list", "data": MOCK_SERVERS}


@pytest.mark.parametrize(
    ("data", "requested"),
    [
        ({"server": None}, "default"),
        ({}, "default"),
        ({"server": ""}, "default"),
        ({"server": "   "}, "default"),
        ({"server": "\t\n \r"}, "default"),
        ({"server": "default"}, "default"),
        ({"server": "dworld"}, "dworld"),
        ({"server": "  dworld  "}, "dworld"),
        ({"server": "\tdworld\n"}, "dworld"),
    ],
    ids=["null", "missing", "empty", "spaces", "whitespace", "default", "id", "padded", "tabs"],
)
async def test_requests_that_resolve_to_dworld(mock_server, data, requested):
    async with mock_server.client() as client:
        await client.send({"type": "connect", "data": data})
        reply = await client.recv()
        assert reply == {
            "type": "server-join",
            "data": {
                "users": MOCK_USERS[DWORLD_KEY],
                "request": {"server": requested},
                "serverName": "D-World",
            },
        }


@pytest.mark.parametrize(
    "server",
    ["nope", "DWORLD", "dworl", DWORLD_KEY, "D-World", "232769614004748288 x"],
    ids=["unknown", "case", "prefix", "mapping-key", "name", "key-plus"],
)
async def test_unknown_ids_are_rejected(mock_server, server):
    async with mock_server.client() as client:
        await client.send({"type": "connect", "data": {"server": server}})
        assert await client.recv_raw() == error_frame(CANNOT_CONNECT)


@pytest.mark.parametrize(
    ("sent", "requested"),
    [(123, "123"), (1.0, "1.0"), (True, "True"), (-7, "-7")],
    ids=["int", "float", "bool", "negative"],
)
async def test_non_string_ids_are_converted_with_str(serve, sent, requested):
    servers = {
        "k-int": {"id": "123", "name": "Int"},
        "k-float": {"id": "1.0", "name": "Float"},
        "k-bool": {"id": "True", "name": "Bool"},
        "k-neg": {"id": "-7", "name": "Negative"},
    }
    names = {"123": "Int", "1.0": "Float", "True": "Bool", "-7": "Negative"}

    async def get_servers():
        return servers

    async def get_users(key):
        return {"key": key}

    running = await serve(on_get_server_data=get_servers, on_get_user_data=get_users)
    async with running.client() as client:
        reply = await client.join_ok(sent)
        assert reply["data"]["request"] == {"server": requested}
        assert reply["data"]["serverName"] == names[requested]


async def test_non_string_entry_id_never_matches(serve):
    async def get_servers():
        return {"k5": {"id": 5, "name": "Five"}, "k6": {"id": "6", "name": "Six"}}

    running = await serve(on_get_server_data=get_servers)
    async with running.client() as client:
        assert await client.join("5") == json.loads(error_frame(CANNOT_CONNECT))
        assert (await client.join_ok(6))["data"]["serverName"] == "Six"


async def test_entry_without_id_does_not_match_missing(serve):
    """§7 #13: upstream matched an entry without `id` against the request "MISSING"."""

    async def get_servers():
        return {"k1": {"name": "No id"}, "k2": {"id": "x", "name": "X", "default": True}}

    running = await serve(on_get_server_data=get_servers)
    async with running.client() as client:
        assert await client.join("MISSING") == json.loads(error_frame(CANNOT_CONNECT))
        assert (await client.join_ok(None))["data"]["serverName"] == "X"


async def test_first_match_wins_for_duplicate_ids_and_defaults(serve):
    async def get_servers():
        return {
            "k1": {"id": "d", "name": "First D"},
            "k2": {"id": "d", "name": "Second D", "default": True},
            "k3": {"id": "e", "name": "E", "default": True},
        }

    async def get_users(key):
        return {"key": key}

    running = await serve(on_get_server_data=get_servers, on_get_user_data=get_users)
    async with running.client() as client:
        reply = await client.join_ok("d")
        assert reply["data"]["serverName"] == "First D"
        assert reply["data"]["users"] == {"key": "k1"}
        reply = await client.join_ok("default")
        assert reply["data"]["serverName"] == "Second D"
        assert reply["data"]["users"] == {"key": "k2"}
        assert reply["data"]["request"] == {"server": "default"}


async def test_default_needs_a_truthy_default_flag(serve):
    async def get_servers():
        return {"k1": {"id": "a", "name": "A", "default": False}, "k2": {"id": "b", "name": "B"}}

    running = await serve(on_get_server_data=get_servers)
    async with running.client() as client:
        assert await client.join(None) == json.loads(error_frame(CANNOT_CONNECT))


async def test_join_each_mock_server(mock_server):
    async with mock_server.client() as client:
        for key, entry in MOCK_SERVERS.items():
            if entry["passworded"]:
                continue
            reply = await client.join_ok(entry["id"])
            assert reply["data"] == {
                "users": MOCK_USERS[key],
                "request": {"server": entry["id"]},
                "serverName": entry["name"],
            }
            assert list(reply["data"]) == ["users", "request", "serverName"]


async def test_server_join_shape_with_client_id(serve):
    seen = []

    async def get_client_id(key):
        seen.append(key)
        return "424242"

    running = await serve(on_get_client_id=get_client_id)
    async with running.client() as client:
        await client.send({"type": "connect", "data": {"server": "dworld"}})
        raw = await client.recv_raw()
        assert raw == json.dumps(
            {
                "type": "server-join",
                "data": {
                    "users": MOCK_USERS[DWORLD_KEY],
                    "request": {"server": "dworld"},
                    "serverName": "D-World",
                    "clientId": "424242",
                },
            }
        )
    assert seen == [DWORLD_KEY]


@pytest.mark.parametrize(
    ("returned", "expected"),
    [("abc", "abc"), (12345, 12345), ("", None), (None, None), (0, None)],
    ids=["str", "int-verbatim", "empty", "none", "zero"],
)
async def test_client_id_only_when_truthy(serve, returned, expected):
    async def get_client_id(key):
        return returned

    running = await serve(on_get_client_id=get_client_id)
    async with running.client() as client:
        data = (await client.join_ok("dworld"))["data"]
        if expected is None:
            assert "clientId" not in data
        else:
            assert data["clientId"] == expected


async def test_failing_client_id_callback_is_omitted(serve):
    async def get_client_id(key):
        raise RuntimeError("boom")

    running = await serve(on_get_client_id=get_client_id)
    async with running.client() as client:
        data = (await client.join_ok("dworld"))["data"]
        assert "clientId" not in data
        assert data["serverName"] == "D-World"


async def test_request_echoes_truthy_password_only(mock_server):
    async with mock_server.client() as client:
        reply = await client.join_ok("docs", password="pw")
        assert reply["data"]["request"] == {"server": "docs", "password": "pw"}
        reply = await client.join_ok("docs", password="")
        assert reply["data"]["request"] == {"server": "docs"}
        reply = await client.join_ok("docs", discordToken="t", discordUser={"id": "1"})
        assert reply["data"]["request"] == {"server": "docs"}


class Level(enum.IntEnum):
    ADMIN = 3


class Name(str):
    pass


Point = collections.namedtuple("Point", "x y")


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": [value]}
    return value


# User data as cogs return it, for the byte-exact `json.dumps` text in `server-join`.
USER_DATA_SHAPES = {
    "plain": {
        f"u{i}": {"uid": f"u{i}", "username": f"user {i}", "status": "online"} for i in range(60)
    },
    "unicode and mixed values": {
        "u1": {"uid": "u1", "username": "Ünïcode ☃", "extra": [1, 2.5, None, True]}
    },
    "escapes": {"u": {"username": 'q"b\\s/\n\r\t\b\f\x00\x1f\x7f~ é☃😀'}},
    "lone surrogate": {"u": {"username": "broken \ud800 name"}},
    "numbers": {
        "u": {
            "ints": [0, -1, 2**63 - 1, -(2**63), 2**64, -(10**30), True, False],
            "floats": [
                0.0,
                -0.0,
                0.1,
                1.5,
                1e16,
                1e15,
                1e-05,
                0.0001,
                2.5e-300,
                1.7976931348623157e308,
            ],
        }
    },
    "tuples and empties": {"u": {"tags": ("a", ("b",)), "none": None, "e": [], "d": {}}},
    "subclasses": {"u": {"level": Level.ADMIN, "name": Name("sub"), "at": Point(1, 2)}},
    "dict subclass": collections.OrderedDict([("u", {"uid": "u"})]),
    "non-str keys": {"u": {7: "seven", 2.5: "f", False: "no", None: "n"}},
    "deep": {"u": nested(150)},
}


@pytest.mark.parametrize("users", USER_DATA_SHAPES.values(), ids=USER_DATA_SHAPES.keys())
async def test_user_data_is_encoded_exactly_like_json_dumps(serve, users):
    async def get_users(key):
        return users

    running = await serve(on_get_user_data=get_users)
    async with running.client() as client:
        await client.send({"type": "connect", "data": {"server": "dworld"}})
        raw = await client.recv_raw()
    expected_data = {"users": users, "request": {"server": "dworld"}, "serverName": "D-World"}
    assert raw == json.dumps({"type": "server-join", "data": expected_data})


async def test_circular_user_data_fails_the_join(serve):
    users: dict[str, Any] = {"u": {}}
    users["u"]["self"] = users

    async def get_users(key):
        return users

    running = await serve(on_get_user_data=get_users)
    async with running.client() as client:
        assert await client.join("dworld") == json.loads(error_frame(CANNOT_CONNECT))
        assert client.is_open


async def test_callbacks_receive_the_mapping_key(serve):
    calls = []

    async def get_servers():
        return CUSTOM_SERVERS

    async def get_users(key):
        calls.append(("users", key))
        return CUSTOM_USERS[key]

    async def get_client_id(key):
        calls.append(("client_id", key))
        return None

    running = await serve(
        on_get_server_data=get_servers, on_get_user_data=get_users, on_get_client_id=get_client_id
    )
    async with running.client() as client:
        reply = await client.join_ok("beta")
        assert reply["data"]["users"] == CUSTOM_USERS["1002"]
    assert calls == [("users", "1002"), ("client_id", "1002")]


async def test_rejoin_on_the_same_socket(mock_server):
    async with mock_server.client() as client:
        assert (await client.join_ok("dworld"))["data"]["users"] == MOCK_USERS[DWORLD_KEY]
        assert (await client.join_ok("repos"))["data"]["users"] == MOCK_USERS[REPOS_KEY]
        assert (await client.join_ok(None))["data"]["serverName"] == "D-World"


async def test_connection_attributes_after_join(mock_server):
    async with mock_server.client() as client:
        conns = list(mock_server.server.connections)
        assert len(conns) == 1
        assert not hasattr(conns[0], "discordServer")
        await client.join_ok("  repos ")
        (conn,) = list(mock_server.server.connections)
        assert conn.discordServer == REPOS_KEY
        assert conn.server_id == "repos"
        await client.join_ok(None)
        (conn,) = list(mock_server.server.connections)
        assert conn.discordServer == DWORLD_KEY
        assert conn.server_id == "default"


async def test_failed_rejoin_keeps_membership(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        assert await client.join("nope") == json.loads(error_frame(CANNOT_CONNECT))
        await data_server.server.broadcast_message("1002", "u", "still here", "c")
        frame = await client.recv()
        assert frame["type"] == "message"
        assert frame["data"]["message"] == "still here"
        (conn,) = list(data_server.server.connections)
        assert conn.discordServer == "1002"


async def test_server_data_is_fetched_on_every_connect(serve):
    state = {"name": "Before", "calls": 0}

    async def get_servers():
        state["calls"] += 1
        return {"k": {"id": "s", "name": state["name"], "default": True}}

    running = await serve(on_get_server_data=get_servers)
    async with running.client() as client:
        assert client.server_list == {"k": {"id": "s", "name": "Before", "default": True}}
        assert (await client.join_ok("s"))["data"]["serverName"] == "Before"
        state["name"] = "After"
        assert (await client.join_ok("s"))["data"]["serverName"] == "After"
    assert state["calls"] == 3


async def test_frames_are_handled_in_order(mock_server):
    async with mock_server.client() as client:
        await client.send_raw("not json")
        await client.send({"type": "connect", "data": {"server": "docs"}})
        await client.send({"type": "nope"})
        await client.send({"type": "connect", "data": {"server": "nope"}})
        await client.send({"type": "connect", "data": {"server": "dworld"}})
        frames = [await client.recv() for _ in range(5)]
        assert [f["type"] for f in frames] == [
            "error",
            "server-join",
            "error",
            "error",
            "server-join",
        ]
        assert frames[1]["data"]["serverName"] == "Docs (WIP)"
        assert frames[4]["data"]["serverName"] == "D-World"


async def test_slow_callback_only_delays_its_own_client(serve):
    release = asyncio.Event()
    entered = asyncio.Event()

    async def get_users(key):
        if key == "482241773318701056":  # docs: block until released
            entered.set()
            await release.wait()
        return {"key": key}

    running = await serve(on_get_user_data=get_users)
    async with running.client() as slow, running.client() as fast:
        await slow.send({"type": "connect", "data": {"server": "docs"}})
        await asyncio.wait_for(entered.wait(), 5)
        assert (await fast.join_ok("dworld"))["data"]["users"] == {"key": DWORLD_KEY}
        release.set()
        assert (await slow.recv())["data"]["serverName"] == "Docs (WIP)"
