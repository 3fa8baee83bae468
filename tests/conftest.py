"""Shared fixtures: start an in-process server on an ephemeral port, talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import signal
from dataclasses import dataclass
from typing import Any

import d_back
import pytest
from d_back.server import WebSocketServer
from helpers import CUSTOM_SERVERS, CUSTOM_USERS, HOST, wait_serving, ws_client

# Run in the background by a non-interactive shell, pytest (and every command-line
# server it starts) would ignore SIGINT; the Ctrl-C tests need the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config):
    return f"d_back {d_back.__version__} imported from {d_back.__file__}"


@dataclass
class Running:
    server: WebSocketServer
    task: asyncio.Task
    port: int

    def client(self, path: str = "/", **kwargs: Any):
        return ws_client(self.port, path, **kwargs)


async def stop_running(running: Running) -> None:
    await asyncio.wait_for(running.server.stop(), 15)
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(running.task, 15)


@pytest.fixture
async def serve():
    """Factory: `await serve(...)` starts a `WebSocketServer` on 127.0.0.1:0.

    Keyword arguments: `mock_intervals=(presence, message)` (seconds), `static_dir`,
    `port`, and `on_*=callback` registrations. Every server is stopped at teardown.
    """
    started: list[Running] = []

    async def _serve(
        *,
        mock_intervals: tuple[float, float] | None = None,
        static_dir: Any = None,
        port: int = 0,
        **callbacks: Any,
    ) -> Running:
        kwargs: dict[str, Any] = {}
        if mock_intervals is not None:
            kwargs["mock_presence_interval"], kwargs["mock_message_interval"] = mock_intervals
        server = WebSocketServer(port=port, host=HOST, **kwargs)
        for name, callback in callbacks.items():
            assert name.startswith("on_"), name
            getattr(server, name)(callback)
        if static_dir is not None:
            server.static_dir = static_dir
        task = asyncio.create_task(server.start())
        try:
            bound = await wait_serving(server, task)
        except BaseException:
            task.cancel()
            raise
        running = Running(server, task, bound)
        started.append(running)
        return running

    yield _serve
    for running in started:
        await stop_running(running)


@pytest.fixture
async def mock_server(serve) -> Running:
    """A server in mock mode (no callbacks), default mock intervals."""
    return await serve()


@pytest.fixture
async def data_server(serve) -> Running:
    """A server with async data callbacks serving CUSTOM_SERVERS / CUSTOM_USERS."""

    async def get_servers():
        return copy.deepcopy(CUSTOM_SERVERS)

    async def get_users(key):
        return copy.deepcopy(CUSTOM_USERS.get(key, {}))

    return await serve(on_get_server_data=get_servers, on_get_user_data=get_users)
