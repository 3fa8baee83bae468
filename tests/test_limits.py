"""Connection limits and timers: what a server exposed to the internet enforces."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from d_back.server import WebSocketServer
from helpers import HOST, TIMEOUT, eventually, unread_ws_client, wait_serving, ws_client
from websockets.exceptions import InvalidStatus

DWORLD = "232769614004748288"


@contextlib.asynccontextmanager
async def running(**limits: Any) -> AsyncIterator[tuple[WebSocketServer, int]]:
    """A mock-mode server with the given limits; no mock events during the test."""
    server = WebSocketServer(
        port=0, host=HOST, mock_presence_interval=3600, mock_message_interval=3600, **limits
    )
    task = asyncio.create_task(server.start())
    try:
        port = await wait_serving(server, task)
        yield server, port
    finally:
        await asyncio.wait_for(server.stop(), TIMEOUT)
        await asyncio.wait_for(task, TIMEOUT)


async def test_upgrades_beyond_max_connections_get_503():
    async with running(max_connections=2) as (server, port):
        async with ws_client(port) as first, ws_client(port) as second:
            with pytest.raises(InvalidStatus) as refused:
                async with ws_client(port):
                    pass
            assert refused.value.response.status_code == 503
            await first.barrier()
            await second.barrier()
        # Both closed: new connections are accepted again.
        await eventually(lambda: len(server.connections) == 0)
        async with ws_client(port) as again:
            await again.barrier()


async def test_oversized_message_closes_1009_and_spares_the_others():
    async with running(max_message_size=1024) as (_server, port):
        async with ws_client(port) as big, ws_client(port) as bystander:
            await big.send_raw("x" * 2048)
            assert await big.expect_closed() == 1009
            await bystander.barrier()
            await bystander.send_raw("y" * 1000)  # under the limit: an ordinary bad frame
            assert (await bystander.recv())["data"]["message"] == "Invalid JSON"


async def read_close_code(reader: asyncio.StreamReader) -> int | None:
    """Reads server frames (unmasked) until a close frame; returns its code."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(length)
        if first & 0x0F == 0x8:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


async def raw_upgrade(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket upgraded by hand, so the test controls every frame (pongs included)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def test_peer_that_never_answers_pings_is_closed_with_1011():
    async with running(ping_interval=0.2, ping_timeout=0.2) as (server, port):
        reader, writer = await raw_upgrade(port)
        try:
            # Read (so nothing backs up) but never answer the pings.
            assert await asyncio.wait_for(read_close_code(reader), TIMEOUT) == 1011
        finally:
            writer.close()
        await eventually(lambda: len(server.connections) == 0)


async def test_idle_peer_that_answers_pings_stays_open():
    """Pings keep coming at ping_interval, and answering them keeps an otherwise
    silent peer open well beyond ping_interval + ping_timeout."""
    async with running(ping_interval=0.1, ping_timeout=0.1) as (server, port):
        reader, writer = await raw_upgrade(port)
        try:
            pings = 0
            while pings < 10:  # a second or more of nothing but pings and pongs
                first, second = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
                length = second & 0x7F
                if length == 126:  # the server-list
                    length = int.from_bytes(await reader.readexactly(2), "big")
                payload = await reader.readexactly(length)
                opcode = first & 0x0F
                assert opcode != 0x8, f"closed: {payload!r}"
                if opcode == 0x9:
                    pings += 1
                    mask = os.urandom(4)
                    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                    writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            assert len(server.connections) == 1
        finally:
            writer.close()
        await eventually(lambda: len(server.connections) == 0)


async def test_client_that_stops_reading_is_dropped_while_others_get_everything():
    async with running(ping_timeout=0.3, max_queue=16) as (server, port):
        async with ws_client(port) as healthy:
            await healthy.join_ok("dworld")
            async with unread_ws_client(port, "dworld"):
                await eventually(lambda: len(server.connections) == 2)
                pad = "p" * 16_384
                received: list[int] = []
                for n in range(400):
                    await server.broadcast_message(DWORLD, "u", f"{n}:{pad}", "c")
                    frame = await healthy.recv()
                    received.append(int(frame["data"]["message"].split(":")[0]))
                    if len(server.connections) == 1:
                        break
                await eventually(lambda: len(server.connections) == 1)
            assert received == list(range(len(received))), "in order, nothing lost"
            await healthy.barrier()


async def test_slow_headers_are_cut_off_after_open_timeout():
    async with running(open_timeout=0.3) as (_server, port):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), TIMEOUT)
            assert b"200 OK" not in rest
        finally:
            writer.close()


@pytest.mark.parametrize("value", ["nan", "-1", "0"])
def test_bad_limits_raise_value_error(value: str):
    with pytest.raises(ValueError):
        WebSocketServer(ping_interval=float(value))


def test_cli_rejects_a_bad_limit_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "d_back", "--port", "0", "--max-connections", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["Error: max_connections must be at least 1"], (
        result.stderr
    )
    assert "Traceback" not in result.stderr


async def test_limits_can_be_replaced_before_start():
    async with running(max_connections=7) as (server, _port):
        assert server.limits.max_connections == 7
        assert server.limits.ping_interval == 20.0
    server.limits = dataclasses.replace(server.limits, max_connections=1)
    task = asyncio.create_task(server.start())
    try:
        port = await wait_serving(server, task)
        async with ws_client(port):
            with pytest.raises(InvalidStatus):
                async with ws_client(port):
                    pass
    finally:
        await server.stop()
        await task


async def test_sockets_that_never_join_are_closed_after_join_timeout():
    async with running(join_timeout=0.3) as (server, port):
        async with ws_client(port) as joined, ws_client(port) as idle:
            await joined.join_ok("dworld")
            assert await idle.expect_closed() == 1008
            await joined.barrier()  # joined in time: still open past the deadline
            assert len(server.connections) == 1


async def test_sockets_may_wait_for_a_login_by_default():
    async with running() as (server, _port):
        assert server.limits.join_timeout is None
