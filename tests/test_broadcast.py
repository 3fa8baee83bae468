"""Broadcasts (§1.4): frame shapes, byte-exact encoding, routing by membership, isolation."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from helpers import eventually, unread_ws_client
from websockets.exceptions import ConnectionClosed

ALPHA, BETA = "1001", "1002"


async def test_message_frame_is_exact(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        result = await data_server.server.broadcast_message(
            server=BETA, uid="1002-u1", message="hello", channel="527964146659229701"
        )
        assert result is None
        assert await client.recv_raw() == (
            '{"type": "message", "server": "1002", "data": {"uid": "1002-u1", '
            '"message": "hello", "channel": "527964146659229701"}}'
        )


async def test_non_ascii_text_is_escaped_like_json_dumps(data_server):
    text = 'héllo wörld ☃ 🎉 "quoted" \\ </script>\n\t\u2028'
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_message(BETA, "ü-uid", text, "kanal-ß")
        raw = await client.recv_raw()
        assert raw == json.dumps(
            {
                "type": "message",
                "server": BETA,
                "data": {"uid": "ü-uid", "message": text, "channel": "kanal-ß"},
            }
        )
        assert raw.isascii()
        assert "\\ud83c\\udf89" in raw  # astral characters as surrogate pairs
        assert "\\u00e9" in raw


async def test_presence_with_all_fields(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_presence(
            server=BETA,
            uid="u9",
            status="dnd",
            username="New Person",
            role_color="#abcdef",
            delete=True,
        )
        assert await client.recv_raw() == (
            '{"type": "presence", "server": "1002", "data": {"uid": "u9", "status": "dnd", '
            '"username": "New Person", "roleColor": "#abcdef", "delete": true}}'
        )


@pytest.mark.parametrize(
    ("kwargs", "data"),
    [
        ({}, {"uid": "u", "status": "online"}),
        (
            {"username": "", "role_color": None, "delete": False},
            {"uid": "u", "status": "online"},
        ),
        ({"username": "N"}, {"uid": "u", "status": "online", "username": "N"}),
        ({"role_color": "#000000"}, {"uid": "u", "status": "online", "roleColor": "#000000"}),
        ({"delete": True}, {"uid": "u", "status": "online", "delete": True}),
    ],
    ids=["minimal", "falsy-omitted", "username", "role-color", "delete"],
)
async def test_presence_optional_fields(data_server, kwargs, data):
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_presence(BETA, "u", "online", **kwargs)
        raw = await client.recv_raw()
        assert raw == json.dumps({"type": "presence", "server": BETA, "data": data})


async def test_presence_positional_arguments(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_presence(BETA, "u", "idle", "Name", "#111111", True)
        assert (await client.recv())["data"] == {
            "uid": "u",
            "status": "idle",
            "username": "Name",
            "roleColor": "#111111",
            "delete": True,
        }


async def test_client_id_update(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_client_id_update(BETA, "506432803173433344")
        assert await client.recv_raw() == (
            '{"type": "update-clientid", "server": "1002", '
            '"data": {"clientId": "506432803173433344"}}'
        )
        await data_server.server.broadcast_client_id_update(server=BETA, client_id="x")
        assert (await client.recv())["data"] == {"clientId": "x"}


async def test_values_are_passed_through_verbatim(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_message(BETA, 42, {"a": [1, 2.5, None]}, None)
        assert await client.recv_raw() == json.dumps(
            {
                "type": "message",
                "server": BETA,
                "data": {"uid": 42, "message": {"a": [1, 2.5, None]}, "channel": None},
            }
        )
        await data_server.server.broadcast_presence(BETA, "u", None)
        assert (await client.recv())["data"] == {"uid": "u", "status": None}


class Label(str):
    """A str subclass, as some libraries hand out."""


@pytest.mark.parametrize(
    "text",
    ["plain", "", '\x00\x1f\x7f \\ "', "lone \ud800 surrogate", Label("subclass")],
    ids=["plain", "empty", "controls", "lone-surrogate", "str-subclass"],
)
async def test_every_kind_of_string_is_sent_as_json_dumps_would(data_server, text):
    async with data_server.client() as client:
        await client.join_ok("beta")
        server = data_server.server
        await server.broadcast_message(BETA, text, text, text)
        await server.broadcast_presence(BETA, text, text, text, text, True)
        await server.broadcast_client_id_update(BETA, text)
        optional = {"username": text, "roleColor": text} if text else {}
        assert [await client.recv_raw() for _ in range(3)] == [
            json.dumps(
                {
                    "type": "message",
                    "server": BETA,
                    "data": {"uid": text, "message": text, "channel": text},
                }
            ),
            json.dumps(
                {
                    "type": "presence",
                    "server": BETA,
                    "data": {"uid": text, "status": text, **optional, "delete": True},
                }
            ),
            json.dumps({"type": "update-clientid", "server": BETA, "data": {"clientId": text}}),
        ]


async def test_frames_of_plain_and_other_values_keep_their_order(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        server = data_server.server
        for n in range(30):  # plain str frames and json.dumps-encoded ones interleaved
            await server.broadcast_message(BETA, "u", str(n) if n % 2 else n, "c")
        messages = [(await client.recv())["data"]["message"] for _ in range(30)]
        assert messages == [str(n) if n % 2 else n for n in range(30)]


async def test_only_clients_joined_to_that_server_receive(data_server):
    server = data_server.server
    async with contextlib.AsyncExitStack() as stack:
        alpha1, alpha2, beta, lobby = [
            await stack.enter_async_context(data_server.client()) for _ in range(4)
        ]
        await alpha1.join_ok("alpha")
        await alpha2.join_ok(None)  # default → alpha
        await beta.join_ok("beta")

        await server.broadcast_message(ALPHA, "u", "for alpha", "c")
        await server.broadcast_presence(ALPHA, "u", "idle")
        await server.broadcast_client_id_update(ALPHA, "cid")
        for client in (alpha1, alpha2):
            assert (await client.recv())["data"]["message"] == "for alpha"
            assert (await client.recv())["data"]["status"] == "idle"
            assert (await client.recv())["data"]["clientId"] == "cid"
        for client in (alpha1, alpha2, beta, lobby):
            await client.barrier()

        await server.broadcast_message(BETA, "u", "for beta", "c")
        assert (await beta.recv())["data"]["message"] == "for beta"
        for client in (alpha1, alpha2, beta, lobby):
            await client.barrier()


async def test_routing_uses_plain_equality(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
        await data_server.server.broadcast_message(1002, "u", "int key", "c")
        await data_server.server.broadcast_message("beta", "u", "short id", "c")
        await data_server.server.broadcast_message(" 1002", "u", "padded", "c")
        await client.barrier()


async def test_no_recipients_is_fine(data_server):
    assert await data_server.server.broadcast_message("nobody", "u", "m", "c") is None
    assert await data_server.server.broadcast_presence("nobody", "u", "online") is None
    assert await data_server.server.broadcast_client_id_update("nobody", "c") is None


async def test_per_connection_order_is_kept(data_server):
    async with data_server.client() as a, data_server.client() as b:
        await a.join_ok("beta")
        await b.join_ok("beta")
        for i in range(200):
            if i % 2:
                await data_server.server.broadcast_message(BETA, str(i), f"m{i}", "c")
            else:
                await data_server.server.broadcast_presence(BETA, str(i), "online")
        for client in (a, b):
            uids = [(await client.recv())["data"]["uid"] for _ in range(200)]
            assert uids == [str(i) for i in range(200)]


async def test_broadcast_to_a_disconnected_client_does_not_raise(data_server):
    async with data_server.client() as client:
        await client.join_ok("beta")
    await data_server.server.broadcast_message(BETA, "u", "anyone?", "c")
    await eventually(lambda: len(data_server.server.connections) == 0)
    await data_server.server.broadcast_message(BETA, "u", "anyone?", "c")


async def test_membership_switches_when_server_join_is_sent(serve):
    """§7 #8: no broadcast for a server reaches a client before its `server-join`."""
    entered = asyncio.Event()
    release = asyncio.Event()

    async def get_servers():
        return {"k-old": {"id": "old", "name": "Old"}, "k-new": {"id": "new", "name": "New"}}

    async def get_users(key):
        if key == "k-new":
            entered.set()
            await release.wait()
        return {}

    running = await serve(on_get_server_data=get_servers, on_get_user_data=get_users)
    async with running.client() as client:
        await client.join_ok("old")
        await client.send({"type": "connect", "data": {"server": "new"}})
        await asyncio.wait_for(entered.wait(), 5)
        # The join is in progress: the client still belongs to the old server.
        await running.server.broadcast_message("k-new", "u", "too early", "c")
        await running.server.broadcast_message("k-old", "u", "still old", "c")
        release.set()
        first = await client.recv()
        assert (first["type"], first["data"]["message"]) == ("message", "still old")
        second = await client.recv()
        assert second["type"] == "server-join"
        assert second["data"]["serverName"] == "New"
        await client.barrier()  # "too early" was never delivered
        await running.server.broadcast_message("k-new", "u", "now", "c")
        await running.server.broadcast_message("k-old", "u", "not any more", "c")
        assert (await client.recv())["data"]["message"] == "now"
        await client.barrier()


async def test_slow_client_does_not_stall_others(data_server):
    """§7 #1: a client that stops reading must not block broadcasts to everyone else."""
    server = data_server.server
    payload = "x" * (512 * 1024)
    async with unread_ws_client(data_server.port, "beta"), data_server.client() as reader:
        await reader.join_ok("beta")
        await eventually(
            lambda: sum(getattr(c, "discordServer", None) == BETA for c in server.connections) == 2
        )
        for i in range(160):  # 80 MiB: far more than the socket buffers of the stuck client
            await asyncio.wait_for(server.broadcast_message(BETA, str(i), payload, "c"), 10)
            raw = await reader.recv_raw(10)
            assert raw.startswith(f'{{"type": "message", "server": "1002", "data": {{"uid": "{i}"')


async def test_unserializable_broadcast_does_not_orphan_the_socket(data_server):
    """§7 #11: a socket must never stay open while missing from `connections`."""
    server = data_server.server
    async with data_server.client() as client:
        await client.join_ok("beta")
        with contextlib.suppress(TypeError, ValueError):
            await server.broadcast_message(BETA, object(), "m", "c")
        try:
            await client.barrier()
        except ConnectionClosed:
            await eventually(lambda: len(server.connections) == 0)
        else:
            assert len(server.connections) == 1
            await server.broadcast_message(BETA, "u", "after", "c")
            assert (await client.recv())["data"]["message"] == "after"
