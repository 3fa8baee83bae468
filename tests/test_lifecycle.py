"""Lifecycle (§1.3, §7 #10, #16): start/stop/run_forever, closing clients, freeing the port."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import socket

import pytest
from d_back.server import WebSocketServer
from helpers import HOST, eventually, free_port, wait_serving, ws_client
from websockets.asyncio.client import connect


def port_is_listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) == 0


async def wait_connectable(port: int, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            async with connect(f"ws://{HOST}:{port}/", open_timeout=2):
                return
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.01)


@contextlib.contextmanager
def occupied_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen()
        yield s.getsockname()[1]


async def finish(task: asyncio.Task, timeout: float = 5.0):
    return await asyncio.wait_for(asyncio.shield(task), timeout)


async def cleanup(server: WebSocketServer, task: asyncio.Task) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.stop(), 10)
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(task, 10)


async def test_start_serves_until_stop(serve):
    running = await serve()
    assert running.server.server is not None
    async with running.client() as client:
        await client.join_ok("dworld")
        assert not running.task.done()
    assert await running.server.stop() is None
    assert await finish(running.task) is None


async def test_stop_closes_every_client_with_1001(serve):
    running = await serve()
    async with running.client() as joined, running.client() as lobby:
        await joined.join_ok("dworld")
        await running.server.stop()
        assert await joined.expect_closed() == 1001
        assert await lobby.expect_closed() == 1001
    await eventually(lambda: len(running.server.connections) == 0)


async def test_stop_releases_the_port_immediately(serve):
    first = await serve()
    port = first.port
    async with first.client() as client:
        await client.join_ok("dworld")
        await first.server.stop()
        await client.expect_closed()
    assert not port_is_listening(port)
    second = await serve(port=port)  # e.g. a cog reload binding the same port again
    assert second.port == port
    async with second.client() as client:
        await client.join_ok("docs")


async def test_second_stop_is_harmless(serve):
    running = await serve()
    await running.server.stop()
    assert await running.server.stop() is None
    await finish(running.task)


async def test_start_again_after_stop(serve):
    running = await serve()
    server = running.server
    server.port = running.port
    await server.stop()
    await finish(running.task)
    task = asyncio.create_task(server.start())
    try:
        assert await wait_serving(server, task) == running.port
        async with ws_client(running.port) as client:
            await client.join_ok("dworld")
    finally:
        await cleanup(server, task)


async def test_stop_before_start_is_a_noop(capsys):
    server = WebSocketServer(0, HOST)
    assert await server.stop() is None
    assert capsys.readouterr().out == ""
    assert server.server is None


async def test_start_and_stop_lines(serve, capsys):
    running = await serve()
    await running.server.stop()
    await finish(running.task)
    out = capsys.readouterr().out.splitlines()
    assert any(re.fullmatch(rf"WebSocket server started on ws://{HOST}:\d+", line) for line in out)
    assert "WebSocket server stopped" in out


async def test_bind_error_raises_oserror():
    with occupied_port() as port:
        server = WebSocketServer(port, HOST)
        with pytest.raises(OSError) as excinfo:
            await asyncio.wait_for(server.start(), 10)
        assert excinfo.value.errno == errno.EADDRINUSE


async def test_run_forever_bind_error_raises_once(capsys):
    """§7 #16: no misleading "falling back" retry."""
    with occupied_port() as port:
        server = WebSocketServer(port, HOST)
        with pytest.raises(OSError) as excinfo:
            await asyncio.wait_for(server.run_forever(), 10)
        assert excinfo.value.errno == errno.EADDRINUSE
    out = capsys.readouterr().out
    assert "Falling back" not in out
    assert "[WARNING]" not in out


async def test_run_forever_reports_the_bound_port(capsys):
    server = WebSocketServer(0, HOST)
    task = asyncio.create_task(server.run_forever())
    try:
        output = ""
        pattern = re.compile(
            rf"^Mock WebSocket server running on ws://{HOST}:(\d+) \(with HTTP support\)$", re.M
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not (match := pattern.search(output)):
            assert not task.done(), output
            assert loop.time() < deadline, output
            await asyncio.sleep(0.01)
            output += capsys.readouterr().out
        port = int(match.group(1))
        assert port != 0
        async with ws_client(port) as client:
            await client.join_ok("dworld")
        assert "[DEBUG]" not in output
    finally:
        await cleanup(server, task)


async def test_stop_stops_run_forever():
    """§7 #10: upstream's stop() could not stop run_forever()."""
    port = free_port()
    server = WebSocketServer(port, HOST)
    task = asyncio.create_task(server.run_forever())
    try:
        await wait_connectable(port)
        async with ws_client(port) as client:
            await client.join_ok("dworld")
            await asyncio.wait_for(server.stop(), 10)
            assert await client.expect_closed() == 1001
        await finish(task)
        assert not port_is_listening(port)
    finally:
        await cleanup(server, task)


async def test_cancelling_run_forever_closes_clients_and_port():
    port = free_port()
    server = WebSocketServer(port, HOST)
    task = asyncio.create_task(server.run_forever())
    try:
        await wait_connectable(port)
        async with ws_client(port) as client:
            await client.join_ok("dworld")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            assert await client.expect_closed() == 1001
        assert not port_is_listening(port)
    finally:
        await cleanup(server, task)


async def test_stop_during_a_pending_start():
    """§7 #10: stop() must not leave a server starting up behind it."""
    port = free_port()
    server = WebSocketServer(port, HOST)
    task = asyncio.create_task(server.start())
    try:
        await asyncio.sleep(0)  # let start() begin binding
        await asyncio.wait_for(server.stop(), 10)
        with contextlib.suppress(asyncio.CancelledError):
            await finish(task)
        assert not port_is_listening(port)
    finally:
        await cleanup(server, task)


async def test_broadcast_after_stop_is_harmless(serve):
    running = await serve()
    async with running.client() as client:
        await client.join_ok("dworld")
    await running.server.stop()
    await running.server.broadcast_message("232769614004748288", "u", "m", "c")
    await running.server.broadcast_presence("232769614004748288", "u", "online")
