"""Passworded servers (§3.7): Discord OAuth validation, the mock OAuth server, legacy passwords."""

from __future__ import annotations

import json

import pytest
from helpers import AUTH_FAILED, AUTH_REQUIRED, CUSTOM_USERS, error_frame
from mock_data import MOCK_USERS, OAUTH_KEY

USER = {"id": "80351110224678912", "username": "Nelly", "discriminator": "1337", "avatar": None}


def error(message: str):
    return json.loads(error_frame(message))


class TestMockOAuthServer:
    @pytest.mark.parametrize(
        "extra",
        [
            {},
            {"discordToken": "token"},
            {"discordUser": USER},
            {"discordToken": "", "discordUser": USER},
            {"discordToken": "token", "discordUser": {}},
            {"discordToken": None, "discordUser": None},
            {"password": "anything"},
        ],
        ids=["nothing", "token-only", "user-only", "empty-token", "empty-user", "nulls", "pw"],
    )
    async def test_requires_discord_login(self, mock_server, extra):
        async with mock_server.client() as client:
            await client.send({"type": "connect", "data": {"server": "oauth", **extra}})
            assert await client.recv_raw() == error_frame(AUTH_REQUIRED)

    async def test_token_and_user_join(self, mock_server):
        async with mock_server.client() as client:
            reply = await client.join("oauth", discordToken="token", discordUser=USER)
            assert reply == {
                "type": "server-join",
                "data": {
                    "users": MOCK_USERS[OAUTH_KEY],
                    "request": {"server": "oauth"},
                    "serverName": "OAuth2 Protected Server",
                },
            }

    @pytest.mark.parametrize(
        "user",
        [
            {"id": "1"},
            {"username": "x"},
            {"id": "1", "username": ""},
            {"id": "", "username": "x"},
            {"id": None, "username": "x"},
        ],
        ids=["no-username", "no-id", "empty-username", "empty-id", "null-id"],
    )
    async def test_incomplete_user_fails(self, mock_server, user):
        async with mock_server.client() as client:
            await client.send(
                {
                    "type": "connect",
                    "data": {"server": "oauth", "discordToken": "t", "discordUser": user},
                }
            )
            assert await client.recv_raw() == error_frame(AUTH_FAILED)

    @pytest.mark.parametrize(
        "user", ["someone", [1, 2], 42, True], ids=["str", "list", "int", "bool"]
    )
    async def test_non_object_user_fails_and_keeps_socket(self, mock_server, user):
        """§7 #2: upstream raised and dropped the socket."""
        async with mock_server.client() as client:
            await client.send(
                {
                    "type": "connect",
                    "data": {"server": "oauth", "discordToken": "t", "discordUser": user},
                }
            )
            assert await client.recv_raw() == error_frame(AUTH_FAILED)
            assert (await client.join_ok("dworld"))["data"]["serverName"] == "D-World"

    async def test_mock_oauth_bypasses_validator_in_mock_mode(self, serve):
        calls = []

        async def validate(token, user, key):
            calls.append(key)
            return False

        running = await serve(on_validate_discord_user=validate)
        async with running.client() as client:
            reply = await client.join_ok("oauth", discordToken="t", discordUser=USER)
            assert reply["data"]["serverName"] == "OAuth2 Protected Server"
        assert calls == []


class TestOAuthWithCallbacks:
    async def test_any_well_formed_user_without_validator(self, data_server):
        async with data_server.client() as client:
            reply = await client.join_ok("locked", discordToken="t", discordUser=USER)
            assert reply["data"] == {
                "users": CUSTOM_USERS["1003"],
                "request": {"server": "locked"},
                "serverName": "Locked",
            }

    async def test_validator_arguments(self, data_server):
        calls = []

        async def validate(token, user, key):
            calls.append((token, user, key))
            return True

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            await client.join_ok("locked", discordToken="tok-1", discordUser=USER)
        assert calls == [("tok-1", USER, "1003")]

    @pytest.mark.parametrize(
        ("result", "joins"),
        [(True, True), ("yes", True), (1, True), (False, False), (None, False), (0, False)],
    )
    async def test_validator_truthiness_decides(self, data_server, result, joins):
        async def validate(token, user, key):
            return result

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            reply = await client.join("locked", discordToken="t", discordUser=USER)
            if joins:
                assert reply["type"] == "server-join"
                assert reply["data"]["serverName"] == "Locked"
            else:
                assert reply == error(AUTH_FAILED)

    async def test_validator_exception_is_auth_failure(self, data_server):
        async def validate(token, user, key):
            raise RuntimeError("Discord is down")

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            assert await client.join("locked", discordToken="t", discordUser=USER) == error(
                AUTH_FAILED
            )
            assert (await client.join_ok("beta"))["data"]["serverName"] == "Beta"

    async def test_validator_not_called_for_open_servers(self, data_server):
        calls = []

        async def validate(token, user, key):
            calls.append(key)
            return False

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            await client.join_ok("beta", discordToken="t", discordUser=USER)
        assert calls == []

    async def test_incomplete_user_fails_without_calling_validator(self, data_server):
        calls = []

        async def validate(token, user, key):
            calls.append(key)
            return True

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            reply = await client.join("locked", discordToken="t", discordUser={"id": "1"})
            assert reply == error(AUTH_FAILED)
        assert calls == []

    async def test_failed_auth_keeps_membership(self, data_server):
        async def validate(token, user, key):
            return False

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            await client.join_ok("beta")
            assert await client.join("locked", discordToken="t", discordUser=USER) == error(
                AUTH_FAILED
            )
            assert await client.join("locked") == error(AUTH_REQUIRED)
            await data_server.server.broadcast_message("1002", "u", "beta msg", "c")
            assert (await client.recv())["data"]["message"] == "beta msg"


class TestLegacyPassword:
    async def test_correct_password_joins_and_is_echoed(self, data_server):
        async with data_server.client() as client:
            reply = await client.join_ok("legacy", password="hunter2")
            assert reply["data"]["request"] == {"server": "legacy", "password": "hunter2"}
            assert reply["data"]["serverName"] == "Legacy"

    @pytest.mark.parametrize("password", ["wrong", "", None, "HUNTER2"])
    async def test_wrong_password_requires_login(self, data_server, password):
        async with data_server.client() as client:
            assert await client.join("legacy", password=password) == error(AUTH_REQUIRED)

    async def test_password_comparison_is_type_sensitive(self, serve):
        async def get_servers():
            return {"k": {"id": "num", "name": "Num", "passworded": True, "password": 123}}

        running = await serve(on_get_server_data=get_servers)
        async with running.client() as client:
            assert await client.join("num", password="123") == error(AUTH_REQUIRED)
            reply = await client.join_ok("num", password=123)
            assert reply["data"]["request"] == {"server": "num", "password": 123}

    async def test_password_is_not_a_fallback_for_failed_oauth(self, data_server):
        async def validate(token, user, key):
            return False

        data_server.server.on_validate_discord_user(validate)
        async with data_server.client() as client:
            reply = await client.join(
                "legacy", password="hunter2", discordToken="t", discordUser=USER
            )
            assert reply == error(AUTH_FAILED)

    async def test_open_servers_ignore_auth_fields(self, data_server):
        async with data_server.client() as client:
            reply = await client.join_ok(
                "beta", password="whatever", discordToken="t", discordUser={"id": "1"}
            )
            assert reply["data"]["serverName"] == "Beta"
