"""Origin allow-list and trusted reverse proxies (both off by default)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from d_back.server import WebSocketServer
from helpers import HOST, TIMEOUT, http_get, wait_serving
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[WebSocketServer, int]]:
    server = WebSocketServer(port=0, host=HOST, **options)
    task = asyncio.create_task(server.start())
    try:
        yield server, await wait_serving(server, task)
    finally:
        await asyncio.wait_for(server.stop(), TIMEOUT)
        await asyncio.wait_for(task, TIMEOUT)


async def test_only_listed_origins_may_open_a_websocket():
    async with running(allowed_origins=["https://dzone.example"]) as (_server, port):
        url = f"ws://{HOST}:{port}/ws"
        async with connect(url, origin="https://dzone.example") as ws:
            assert '"server-list"' in await asyncio.wait_for(ws.recv(), TIMEOUT)
        for origin in ["https://evil.example", None]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, origin=origin):
                    pass
            response = refused.value.response
            assert response.status_code == 403
            assert response.body.startswith(b"Failed to open a WebSocket connection: ")
        # Plain HTTP is not affected by the allow-list.
        assert (await http_get(port, "/api/version")).status == 200


async def test_any_origin_is_accepted_by_default():
    async with running() as (_server, port):
        async with connect(f"ws://{HOST}:{port}/", origin="https://anything.example") as ws:
            assert '"server-list"' in await asyncio.wait_for(ws.recv(), TIMEOUT)


@pytest.mark.parametrize(
    ("trusted", "expected"), [(["127.0.0.1"], "198.51.100.7"), (["10.9.9.9"], "127.0.0.1")]
)
async def test_forwarded_for_names_the_client_only_behind_trusted_proxies(trusted, expected):
    async with running(trusted_proxies=trusted) as (server, port):
        headers = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7"}
        async with connect(f"ws://{HOST}:{port}/", additional_headers=headers) as ws:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            [connection] = list(server.connections)
            assert connection.remote_address[0] == expected


def test_a_trusted_proxy_must_be_an_ip_address():
    with pytest.raises(ValueError, match="not an IP address"):
        WebSocketServer(trusted_proxies=["proxy.example"])
