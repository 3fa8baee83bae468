"""`stop()` with thousands of clients: quick, every client told 1001, port free."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from d_back.server import WebSocketServer
from helpers import HOST, TIMEOUT, CliProcess, eventually, wait_serving
from websockets.asyncio.client import ClientConnection, connect

CLIENTS = 2000


async def open_client(port: int, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        ws = await connect(f"ws://{HOST}:{port}/", open_timeout=30, close_timeout=5)
        await asyncio.wait_for(ws.recv(), 30)  # server-list
        return ws


async def test_stop_with_2000_clients_closes_them_all_with_1001_within_2_seconds():
    server = WebSocketServer(port=0, host=HOST)
    task = asyncio.create_task(server.start())
    port = await wait_serving(server, task)
    gate = asyncio.Semaphore(200)
    clients = await asyncio.gather(*(open_client(port, gate) for _ in range(CLIENTS)))
    try:
        await eventually(lambda: len(server.connections) == CLIENTS, timeout=30)

        started = time.monotonic()
        await asyncio.wait_for(server.stop(), 10)
        took = time.monotonic() - started
        assert took < 2.0, f"stop() took {took:.2f} s with {CLIENTS} clients"

        await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in clients)), TIMEOUT)
        codes = {ws.close_code for ws in clients}
        assert codes == {1001}, codes
        assert len(server.connections) == 0
        with socket.create_server((HOST, port)):
            pass  # the port is free again
        await asyncio.wait_for(task, TIMEOUT)
    finally:
        for ws in clients:
            with contextlib.suppress(Exception):
                await ws.close()


async def test_ctrl_c_on_the_cli_with_2000_clients_closes_them_all_with_1001():
    cli = CliProcess(["--port", "0", "--host", HOST])
    try:
        port = await asyncio.to_thread(cli.wait_ready)
        gate = asyncio.Semaphore(200)
        clients = await asyncio.gather(*(open_client(port, gate) for _ in range(CLIENTS)))
        started = time.monotonic()
        cli.interrupt()
        await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in clients)), TIMEOUT)
        took = time.monotonic() - started
        assert {ws.close_code for ws in clients} == {1001}
        assert took < 2.0, f"clients were closed {took:.2f} s after Ctrl-C"
        assert await asyncio.to_thread(cli.wait) == 0, cli.describe("exit status")
    finally:
        cli.kill()
