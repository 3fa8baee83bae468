"""Data callbacks (§1.5, §4): both registration styles, sync and async, live registration."""

from __future__ import annotations

import pytest
from helpers import CUSTOM_SERVERS
from mock_data import MOCK_SERVERS


def servers_sync():
    return {"k1": {"id": "one", "name": "One", "default": True, "passworded": False}}


async def servers_async():
    return servers_sync()


def users_sync(key):
    return {"u": {"uid": "u", "username": f"user of {key}", "status": "idle", "roleColor": "#fff"}}


async def users_async(key):
    return users_sync(key)


async def test_registration_call_style(serve):
    running = await serve(on_get_server_data=servers_async, on_get_user_data=users_async)
    async with running.client() as client:
        assert client.server_list == servers_sync()
        assert (await client.join_ok(None))["data"]["users"] == users_sync("k1")


async def test_attribute_assignment_style_registers(serve):
    """The upstream README assigns callbacks; upstream silently ignored them (§7 #9)."""
    running = await serve()
    running.server.on_get_server_data = servers_async
    running.server.on_get_user_data = users_async
    async with running.client() as client:
        assert client.server_list == servers_sync()
        assert (await client.join_ok("one"))["data"]["users"] == users_sync("k1")


async def test_assigning_none_unregisters(serve):
    running = await serve(on_get_server_data=servers_async)
    running.server.on_get_server_data = None
    async with running.client() as client:
        assert client.server_list == MOCK_SERVERS


async def test_private_attribute_registers(serve):
    running = await serve()
    running.server._on_get_server_data = servers_async
    async with running.client() as client:
        assert client.server_list == servers_sync()


async def test_sync_callbacks_are_accepted(serve):
    """§7 #9: upstream awaited every result, so plain functions failed."""
    calls = []

    def validate(token, user, key):
        calls.append(("validate", key))
        return True

    def client_id(key):
        calls.append(("client_id", key))
        return "cid"

    def get_servers():
        return {"k1": {"id": "one", "name": "One", "passworded": True}}

    running = await serve(
        on_get_server_data=get_servers,
        on_get_user_data=users_sync,
        on_validate_discord_user=validate,
        on_get_client_id=client_id,
    )
    async with running.client() as client:
        reply = await client.join_ok(
            "one", discordToken="t", discordUser={"id": "1", "username": "u"}
        )
        assert reply["data"] == {
            "users": users_sync("k1"),
            "request": {"server": "one"},
            "serverName": "One",
            "clientId": "cid",
        }
    assert calls == [("validate", "k1"), ("client_id", "k1")]


async def test_mock_provider_methods_work_as_callbacks(serve):
    """The `d_back.mock` docstring registers the (sync) mock methods as callbacks."""
    running = await serve()
    provider = running.server.mock_provider
    running.server.on_get_server_data(provider.get_mock_server_data)
    running.server.on_get_user_data(provider.get_mock_user_data)
    async with running.client() as client:
        assert client.server_list == MOCK_SERVERS
        assert (await client.join_ok(None))["data"]["serverName"] == "D-World"


async def test_registration_after_start_takes_effect(mock_server):
    async with mock_server.client() as before:
        assert before.server_list == MOCK_SERVERS
        mock_server.server.on_get_server_data(servers_async)
        mock_server.server.on_get_user_data(users_async)
        async with mock_server.client() as after:
            assert after.server_list == servers_sync()
        # Already-open sockets use the new callbacks on their next `connect`.
        assert (await before.join_ok("one"))["data"]["users"] == users_sync("k1")


async def test_last_registration_wins(serve):
    async def other():
        return {"k2": {"id": "two", "name": "Two"}}

    running = await serve(on_get_server_data=servers_async)
    running.server.on_get_server_data(other)
    async with running.client() as client:
        assert client.server_list == {"k2": {"id": "two", "name": "Two"}}


async def test_server_list_never_contains_passwords(data_server):
    """§7 #12: upstream forwarded entries verbatim, leaking `password`."""
    async with data_server.client() as client:
        assert "password" in CUSTOM_SERVERS["1004"]
        for key, entry in client.server_list.items():
            assert "password" not in entry, key
        expected = {
            key: {k: v for k, v in entry.items() if k != "password"}
            for key, entry in CUSTOM_SERVERS.items()
        }
        assert client.server_list == expected


async def test_server_list_keeps_other_fields_verbatim(serve):
    servers = {
        "k": {"id": "x", "name": "X ☃", "passworded": False, "icon": None, "extra": [1, {"a": 2}]}
    }

    async def get_servers():
        return servers

    running = await serve(on_get_server_data=get_servers)
    async with running.client() as client:
        assert client.server_list == servers


@pytest.mark.parametrize("style", ["call", "assign"])
async def test_user_data_only_keeps_mock_servers(serve, style):
    running = await serve()
    if style == "call":
        running.server.on_get_user_data(users_async)
    else:
        running.server.on_get_user_data = users_async
    async with running.client() as client:
        assert client.server_list == MOCK_SERVERS
        reply = await client.join_ok("repos")
        assert reply["data"]["users"] == users_sync("987654321098765432")
