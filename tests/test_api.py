"""The public Python API (spec §1): module layout, constructor, registration, coroutines."""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import sys
from pathlib import Path

import d_back
import d_back.mock
import d_back.mock.data
import d_back.server
import pytest
from d_back import MockDataProvider, WebSocketServer
from mock_data import DWORLD_KEY, MOCK_SERVERS, MOCK_USERS

REPO = Path(__file__).resolve().parent.parent


def test_package_exports():
    assert sorted(d_back.__all__) == sorted(["WebSocketServer", "MockDataProvider", "__version__"])
    assert d_back.WebSocketServer is d_back.server.WebSocketServer
    assert d_back.MockDataProvider is d_back.mock.MockDataProvider
    assert d_back.mock.MockDataProvider is d_back.mock.data.MockDataProvider
    assert d_back.server.MockDataProvider is d_back.MockDataProvider
    assert d_back.mock.__all__ == ["MockDataProvider"]
    for name in ("parse_args", "get_version", "main", "main_sync"):
        assert callable(getattr(d_back.server, name)), name
    assert inspect.iscoroutinefunction(d_back.server.main)


def test_version_is_consistent():
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", d_back.__version__)
    assert d_back.server.get_version() == d_back.__version__
    assert importlib.metadata.version("d-back") == d_back.__version__


def test_version_comes_from_cargo_toml():
    cargo = (REPO / "Cargo.toml").read_text()
    package = cargo.split("[package]", 1)[1].split("\n[", 1)[0]
    version = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M).group(1)
    assert d_back.__version__ == version


def test_constructor_defaults():
    server = WebSocketServer()
    assert server.port == 3000
    assert server.host == "localhost"
    assert server.server is None
    assert len(server.connections) == 0
    assert list(server.connections) == []
    assert isinstance(server.static_dir, Path)
    assert server.static_dir.name == "dist"
    assert (server.static_dir / "index.html").is_file()
    assert isinstance(server.mock_provider, MockDataProvider)
    assert server.mock_provider.server is server
    for name in (
        "_on_get_server_data",
        "_on_get_user_data",
        "_on_static_request",
        "_on_validate_discord_user",
        "_on_get_client_id",
    ):
        assert getattr(server, name) is None, name


def test_constructor_positional_and_keyword():
    server = WebSocketServer(4567, "127.0.0.1")
    assert (server.port, server.host) == (4567, "127.0.0.1")
    server = WebSocketServer(host="0.0.0.0", port=0)
    assert (server.port, server.host) == (0, "0.0.0.0")


def test_constructor_accepts_mock_intervals():
    server = WebSocketServer(0, "127.0.0.1", mock_presence_interval=0.5, mock_message_interval=1)
    assert server.port == 0


def test_attributes_are_writable():
    server = WebSocketServer()
    server.port = 1234
    server.host = "127.0.0.1"
    server.static_dir = Path("/tmp")
    assert (server.port, server.host, server.static_dir) == (1234, "127.0.0.1", Path("/tmp"))


@pytest.mark.parametrize(
    "name",
    [
        "on_get_server_data",
        "on_get_user_data",
        "on_static_request",
        "on_validate_discord_user",
        "on_get_client_id",
    ],
)
def test_registration_methods_return_none(name):
    server = WebSocketServer()

    async def callback(*args):
        return None

    assert getattr(server, name)(callback) is None


async def test_lifecycle_and_broadcast_methods_return_coroutines():
    """`asyncio.create_task(server.start())` needs a real coroutine (spec §1.8)."""
    server = WebSocketServer(0, "127.0.0.1")
    calls = {
        "start": server.start(),
        "stop": server.stop(),
        "run_forever": server.run_forever(),
        "broadcast_message": server.broadcast_message("s", "u", "m", "c"),
        "broadcast_presence": server.broadcast_presence("s", "u", "online"),
        "broadcast_client_id_update": server.broadcast_client_id_update("s", "c"),
    }
    try:
        for name, obj in calls.items():
            assert inspect.iscoroutine(obj), f"{name}() returned {type(obj)!r}"
    finally:
        for obj in calls.values():
            if inspect.iscoroutine(obj):
                obj.close()
    main = d_back.server.main()
    assert inspect.iscoroutine(main)
    main.close()


async def test_broadcasts_before_start_are_noops():
    server = WebSocketServer(0, "127.0.0.1")
    assert await server.broadcast_message("s", "u", "m", "c") is None
    assert await server.broadcast_presence("s", "u", "online", username="x") is None
    assert await server.broadcast_client_id_update("s", "cid") is None
    assert await server.stop() is None  # never started: harmless


def test_random_helpers():
    server = WebSocketServer()
    assert {server._random_status() for _ in range(200)} <= {"online", "idle", "dnd", "offline"}
    assert re.fullmatch(r"#[0-9a-f]{6}", server._random_color())


def test_parse_args(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["d_back"])
    args = d_back.server.parse_args()
    assert (args.port, args.host, args.static_dir) == (3000, "localhost", None)
    monkeypatch.setattr(
        sys, "argv", ["d_back", "--port", "8080", "--host", "0.0.0.0", "--static-dir", "/x"]
    )
    args = d_back.server.parse_args()
    assert (args.port, args.host, args.static_dir) == (8080, "0.0.0.0", "/x")
    assert isinstance(args.port, int)


class TestMockDataProvider:
    def test_server_data(self):
        provider = MockDataProvider(None)
        assert provider.server is None
        data = provider.get_mock_server_data()
        assert data == MOCK_SERVERS
        assert list(data) == list(MOCK_SERVERS)
        for key, entry in data.items():
            assert list(entry) == list(MOCK_SERVERS[key]), "key order is part of the wire"

    def test_user_data(self):
        provider = MockDataProvider(None)
        counts = {key: len(provider.get_mock_user_data(key)) for key in MOCK_SERVERS}
        assert list(counts.values()) == [4, 1, 1, 21]
        for key in MOCK_SERVERS:
            users = provider.get_mock_user_data(key)
            assert users == MOCK_USERS[key]
            assert list(users) == list(MOCK_USERS[key])
        assert provider.get_mock_user_data(DWORLD_KEY)["123456789012345001"] == {
            "uid": "123456789012345001",
            "username": "vegeta897",
            "status": "online",
            "roleColor": "#ff6b6b",
        }

    def test_unknown_or_short_id_gives_empty(self):
        provider = MockDataProvider(None)
        assert provider.get_mock_user_data() == {}
        assert provider.get_mock_user_data("dworld") == {}
        assert provider.get_mock_user_data("nope") == {}

    def test_returns_fresh_dicts(self):
        provider = MockDataProvider(None)
        provider.get_mock_server_data().clear()
        provider.get_mock_user_data(DWORLD_KEY).clear()
        assert provider.get_mock_server_data() == MOCK_SERVERS
        assert provider.get_mock_user_data(DWORLD_KEY) == MOCK_USERS[DWORLD_KEY]
