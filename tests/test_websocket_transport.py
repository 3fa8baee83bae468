"""The WebSocket transport (§3.1, §5.1): paths, handshake, frames, `connections`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import socket
import sys

import pytest
from helpers import HOST, eventually, raw_http, request_bytes
from mock_data import DWORLD_KEY, MOCK_SERVERS
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


@pytest.mark.parametrize(
    "path", ["/", "/ws", "/dzone?x=1", "/index.html", "/api/version", "/a/b/c?s=dworld&t=%20"]
)
async def test_upgrade_on_any_path(mock_server, path):
    async with mock_server.client(path) as client:
        assert client.server_list == MOCK_SERVERS
        assert (await client.join_ok("dworld"))["data"]["serverName"] == "D-World"


async def test_get_ws_without_upgrade_is_plain_http(mock_server):
    port = mock_server.port
    response = await raw_http(port, request_bytes("GET", "/ws", port))
    assert response.status == 404


def handshake_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v is not None}


async def test_raw_handshake_succeeds(mock_server):
    port = mock_server.port
    key = base64.b64encode(os.urandom(16)).decode()
    request = request_bytes(
        "GET", "/ws", port, headers=handshake_headers(**{"Sec-WebSocket-Key": key})
    )
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        assert accept in head
        first = await asyncio.wait_for(reader.readexactly(2), 5)
        assert first[0] == 0x81, "first frame must be a final text frame (server-list)"
    finally:
        writer.close()


# struct tcp_info: tcpi_data_segs_in, a __u32 at byte 152 (Linux 4.6 and later).
TCPI_DATA_SEGS_IN = slice(152, 156)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_CORK is Linux-only")
async def test_handshake_answer_and_server_list_arrive_in_one_segment(mock_server):
    """One packet, one wake-up of the client, one acknowledgement per connection."""
    port = mock_server.port
    request = request_bytes("GET", "/ws", port, headers=handshake_headers())
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        opcode, length = await asyncio.wait_for(reader.readexactly(2), 5)
        assert opcode == 0x81
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        payload = await asyncio.wait_for(reader.readexactly(length), 5)
        assert payload.startswith(b'{"type": "server-list"')
        info = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        if len(info) < TCPI_DATA_SEGS_IN.stop:
            pytest.skip("kernel too old to count data segments")
        assert int.from_bytes(info[TCPI_DATA_SEGS_IN], sys.byteorder) == 1
    finally:
        writer.close()


@pytest.mark.parametrize(
    "overrides",
    [{"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"}, {"Connection": "UPGRADE"}],
    ids=["mixed-case", "upper"],
)
async def test_upgrade_header_matching_is_case_insensitive(mock_server, overrides):
    port = mock_server.port
    request = request_bytes("GET", "/", port, headers=handshake_headers(**overrides))
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
    finally:
        writer.close()


@pytest.mark.parametrize(
    "overrides",
    [{"Sec-WebSocket-Key": None}, {"Sec-WebSocket-Version": None}],
    ids=["no-key", "no-version"],
)
async def test_invalid_handshake_is_400(mock_server, overrides):
    port = mock_server.port
    request = request_bytes("GET", "/", port, headers=handshake_headers(**overrides))
    response = await raw_http(port, request)
    assert response.status == 400
    assert response.content_type.split(";")[0] == "text/plain"
    assert response.body.startswith(b"Failed to open a WebSocket connection: ")
    if overrides == {"Sec-WebSocket-Key": None}:
        assert b"Sec-WebSocket-Key" in response.body


async def test_server_sends_text_frames_only(mock_server):
    async with connect(f"ws://{HOST}:{mock_server.port}/ws") as ws:
        assert isinstance(await asyncio.wait_for(ws.recv(), 5), str)
        await ws.send(b'{"type": "connect", "data": {"server": "dworld"}}')  # binary in
        assert isinstance(await asyncio.wait_for(ws.recv(), 5), str)  # text out


async def test_binary_utf8_frames_are_treated_as_text(mock_server):
    async with mock_server.client() as client:
        await client.send_raw(b'{"type": "connect", "data": {"server": "  repos "}}')
        reply = await client.recv()
        assert reply["type"] == "server-join"
        assert reply["data"]["request"] == {"server": "repos"}


async def test_ping_is_answered(mock_server):
    async with mock_server.client() as client:
        pong_waiter = await client.ws.ping(b"hi")
        latency = await asyncio.wait_for(pong_waiter, 5)
        assert latency >= 0


async def test_oversized_message_closes_with_1009(mock_server):
    async with mock_server.client() as client:
        # The server may close before the client has finished sending.
        with contextlib.suppress(ConnectionClosed):
            await client.send_raw("x" * (2 * 1024 * 1024))
        assert await client.expect_closed() == 1009


async def test_message_just_under_the_limit_is_accepted(mock_server):
    async with mock_server.client() as client:
        padding = "x" * (900 * 1024)
        await client.send_raw(
            f'{{"type": "connect", "data": {{"server": "docs", "pad": "{padding}"}}}}'
        )
        assert (await client.recv())["data"]["serverName"] == "Docs (WIP)"


async def test_client_close_is_clean(mock_server):
    async with mock_server.client() as client:
        await client.join_ok("dworld")
        await client.ws.close(1000, "bye")
        assert client.ws.close_code == 1000
    await eventually(lambda: len(mock_server.server.connections) == 0)


class TestConnections:
    async def test_counts_open_sockets_joined_or_not(self, mock_server):
        server = mock_server.server
        assert len(server.connections) == 0
        async with mock_server.client() as a:
            assert len(server.connections) == 1
            async with mock_server.client() as b:
                await b.join_ok("dworld")
                assert len(server.connections) == 2
            await eventually(lambda: len(server.connections) == 1)
            await a.barrier()
        await eventually(lambda: len(server.connections) == 0)

    async def test_http_requests_are_not_connections(self, mock_server):
        port = mock_server.port
        async with mock_server.client():
            await raw_http(port, request_bytes("GET", "/", port))
            assert len(mock_server.server.connections) == 1

    async def test_handles_support_iteration_membership_and_send(self, mock_server):
        server = mock_server.server
        async with mock_server.client() as client:
            await client.join_ok("dworld")
            handles = list(server.connections)
            assert len(handles) == 1
            (conn,) = handles
            assert conn in server.connections
            assert conn.discordServer == DWORLD_KEY
            assert conn.server_id == "dworld"
            host, port = conn.remote_address[:2]
            assert host == HOST
            assert port == client.ws.local_address[1]
            await conn.send('{"type": "custom", "data": {}}')
            assert await client.recv_raw() == '{"type": "custom", "data": {}}'

    async def test_send_to_a_closed_handle_does_not_hang(self, mock_server):
        server = mock_server.server
        async with mock_server.client():
            (conn,) = list(server.connections)
        await eventually(lambda: len(server.connections) == 0)
        # Upstream raises `ConnectionClosed`; either way it must neither hang nor
        # bring a closed socket back into `connections`.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.send("late"), 5)
        assert len(server.connections) == 0
