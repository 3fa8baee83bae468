"""NaN/Infinity are refused (browsers cannot parse them); slow callbacks are cancelled."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from d_back.server import WebSocketServer
from helpers import CANNOT_CONNECT, HOST, TIMEOUT, error_frame, wait_serving, ws_client

DWORLD = "232769614004748288"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_broadcast_of_a_non_finite_float_raises_and_sends_nothing(mock_server, value):
    async with mock_server.client() as client:
        await client.join_ok("dworld")
        with pytest.raises(ValueError):
            await mock_server.server.broadcast_message(DWORLD, "u", value, "c")
        await client.barrier()  # nothing arrived before the barrier's answer


async def test_callback_data_with_nan_is_a_failed_callback(serve, caplog):
    def servers():
        return {"k": {"id": "a", "name": "A", "default": True, "score": math.nan}}

    running = await serve(on_get_server_data=servers)
    async with running.client(read_server_list=False) as client:
        assert await client.recv_raw() == '{"type": "server-list", "data": {}}'
        await client.send({"type": "connect", "data": {"server": "a"}})
        assert await client.recv_raw() == error_frame(CANNOT_CONNECT)
    assert any(
        record.name.startswith("d_back") and "on_get_server_data" in record.getMessage()
        for record in caplog.records
    )


async def test_a_callback_that_times_out_is_cancelled():
    cancelled = asyncio.Event()

    async def users(_key: str) -> dict[str, object]:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    server = WebSocketServer(port=0, host=HOST, callback_timeout=0.2)
    server.on_get_user_data(users)
    task = asyncio.create_task(server.start())
    try:
        port = await wait_serving(server, task)
        async with ws_client(port) as client:
            assert await client.join("dworld") == json.loads(error_frame(CANNOT_CONNECT))
            await asyncio.wait_for(cancelled.wait(), TIMEOUT)
            await client.barrier()
    finally:
        await server.stop()
        await task
