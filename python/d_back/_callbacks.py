"""Callback registration slots of `WebSocketServer`.

Upstream d-back registers data callbacks with method calls
(`server.on_get_user_data(cb)`), while its README assigns them as attributes
(`server.on_get_user_data = cb`). Both styles must register, so every `on_*` name is a
data descriptor (`CallbackSlot`): reading it gives a registrar callable, assigning it
registers. The private `_on_*` names (`CallbackStore`) read back the current callback
and register on assignment, as upstream's plain attributes did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast, overload

__all__ = [
    "CallbackHost",
    "CallbackSlot",
    "CallbackStore",
    "ClientIdCallback",
    "Registrar",
    "ServerDataCallback",
    "StaticRequestCallback",
    "UserDataCallback",
    "ValidateDiscordUserCallback",
]

# Each callback may be a plain function or an `async def` (its awaitable is awaited).
ServerDataCallback = Callable[[], Any]
"""`() -> {discord_id: {"id", "name", "default"?, "passworded"?, ...}}`"""
UserDataCallback = Callable[[str], Any]
"""`(discord_id) -> {uid: {"uid", "username", "status", "roleColor"}}`"""
ValidateDiscordUserCallback = Callable[[str, Any, str], Any]
"""`(discord_token, discord_user, discord_id) -> truthy if the user may join`"""
ClientIdCallback = Callable[[str], Any]
"""`(discord_id) -> Discord application id (falsy: omitted)`"""
StaticRequestCallback = Callable[[str], Any]
"""`(path) -> None | (content_type, file_path)`"""

F = TypeVar("F", bound=Callable[..., Any])


class CallbackHost(Protocol):
    """What a class holding callback slots provides."""

    def _set_callback(self, name: str, callback: Callable[..., Any] | None) -> None: ...

    def _get_callback(self, name: str) -> Callable[..., Any] | None: ...


class Registrar(Generic[F]):
    """The value of `server.on_x`: call it with a callback to register it (last wins).

    `None` unregisters. Returns `None`, like upstream's registration methods.
    """

    __slots__ = ("_host", "_name", "_attr")

    def __init__(self, host: CallbackHost, name: str, attr: str) -> None:
        self._host = host
        self._name = name
        self._attr = attr

    def __call__(self, callback: F | None) -> None:
        self._host._set_callback(self._name, callback)

    def __repr__(self) -> str:
        return f"<callback registrar {self._attr} of {self._host!r}>"


class CallbackSlot(Generic[F]):
    """Public `on_x` name: reading gives a `Registrar`, assigning registers.

    `server.on_x(cb)`, `server.on_x = cb` and `server._on_x = cb` are equivalent;
    `server.on_x = None` and `del server.on_x` unregister.
    """

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.attr = f"on_{name}"
        self.__doc__ = doc

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    @overload
    def __get__(self, instance: None, owner: type) -> CallbackSlot[F]: ...

    @overload
    def __get__(self, instance: CallbackHost, owner: type) -> Registrar[F]: ...

    def __get__(self, instance: CallbackHost | None, owner: type) -> CallbackSlot[F] | Registrar[F]:
        if instance is None:
            return self
        return Registrar(instance, self.name, self.attr)

    def __set__(self, instance: CallbackHost, value: F | None) -> None:
        instance._set_callback(self.name, value)

    def __delete__(self, instance: CallbackHost) -> None:
        instance._set_callback(self.name, None)


class CallbackStore(Generic[F]):
    """Private `_on_x` name: reading gives the registered callback or `None`."""

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> CallbackStore[F]: ...

    @overload
    def __get__(self, instance: CallbackHost, owner: type) -> F | None: ...

    def __get__(self, instance: CallbackHost | None, owner: type) -> CallbackStore[F] | F | None:
        if instance is None:
            return self
        return cast("F | None", instance._get_callback(self.name))

    def __set__(self, instance: CallbackHost, value: F | None) -> None:
        instance._set_callback(self.name, value)

    def __delete__(self, instance: CallbackHost) -> None:
        instance._set_callback(self.name, None)
