"""Hostile-input battery: what the open internet may send, layer by layer.

Every case runs while a healthy *bystander* browser is joined to the mock `dworld`
server. After the bad input the bystander must still receive a broadcast, the
connection count must be back to just the bystander, `GET /api/version` must still
answer, and the process must not have logged an error or printed a Rust panic.

Layers: JSON and `connect` fields (text/binary frames through a real client),
WebSocket framing (hand-built frames on a raw socket), floods and stuck peers, TCP
resets, the WebSocket handshake, and plain HTTP requests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import d_back
import pytest
from d_back.server import WebSocketServer
from helpers import (
    AUTH_FAILED,
    AUTH_REQUIRED,
    CANNOT_CONNECT,
    HOST,
    INVALID_BINARY,
    INVALID_JSON,
    TIMEOUT,
    UNKNOWN_EVENT,
    Client,
    error_frame,
    eventually,
    http_get,
    raw_http,
    request_bytes,
    unread_ws_client,
    wait_serving,
    ws_client,
)
from mock_data import DOCS_KEY, DWORLD_KEY, MOCK_USERS

# Opcodes (RFC 6455 §5.2).
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
# Close codes the server sends after a bad frame.
PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1002, 1007, 1009

SMALL_LIMIT = 4096  # max_message_size of the framing server
NOT_FOUND = b"<h1>404 Not Found</h1><p>The requested file was not found.</p>"
VERSION_BODY = json.dumps({"version": d_back.__version__}).encode()
_markers = itertools.count()


# --------------------------------------------------------------------- servers


@dataclasses.dataclass
class Env:
    server: WebSocketServer
    port: int


@contextlib.asynccontextmanager
async def running(**limits: Any) -> AsyncIterator[Env]:
    """A mock-mode server with the given limits and no mock events (1 h intervals)."""
    server = WebSocketServer(
        port=0, host=HOST, mock_presence_interval=3600, mock_message_interval=3600, **limits
    )
    task = asyncio.create_task(server.start())
    try:
        yield Env(server, await wait_serving(server, task))
    finally:
        await asyncio.wait_for(server.stop(), 15)
        await asyncio.wait_for(task, 15)


@pytest.fixture(scope="module")
async def main_env() -> AsyncIterator[Env]:
    """Default limits (1 MiB messages): JSON, `connect` fields, floods, resets, HTTP."""
    async with running() as env:
        yield env


@pytest.fixture(scope="module")
async def small_env() -> AsyncIterator[Env]:
    """4 KiB messages: framing and size limits."""
    async with running(max_message_size=SMALL_LIMIT) as env:
        yield env


@pytest.fixture(scope="module")
async def stuck_env() -> AsyncIterator[Env]:
    """A write may stall for 0.5 s before the peer is given up on."""
    async with running(ping_timeout=0.5) as env:
        yield env


@pytest.fixture(scope="module")
async def slow_env() -> AsyncIterator[Env]:
    """Request headers must arrive within 0.5 s."""
    async with running(open_timeout=0.5) as env:
        yield env


@pytest.fixture(autouse=True)
def no_server_failure(capfd, caplog):
    """No Rust panic on stderr and no error logged by `d_back` during a case."""
    yield
    assert "panicked" not in capfd.readouterr().err
    errors = [
        r for r in caplog.records if r.name.startswith("d_back") and r.levelno >= logging.ERROR
    ]
    assert not errors, [r.getMessage() for r in errors]


@contextlib.asynccontextmanager
async def bystander(env: Env) -> AsyncIterator[Client]:
    """A healthy browser joined to `dworld` for the duration of one hostile input.

    On exit it proves the input hurt nobody: the bystander gets a broadcast (and
    nothing else), only the bystander is left in `connections`, HTTP still works."""
    # Whatever an earlier case opened must be gone before this one starts.
    await eventually(lambda: len(env.server.connections) == 0)
    async with ws_client(env.port) as client:
        await client.join_ok("dworld")
        yield client
        marker = f"still here {next(_markers)}"
        await env.server.broadcast_message(DWORLD_KEY, "watchdog", marker, "general")
        assert await client.recv_raw() == json.dumps(
            {
                "type": "message",
                "server": DWORLD_KEY,
                "data": {"uid": "watchdog", "message": marker, "channel": "general"},
            }
        )
        await eventually(lambda: len(env.server.connections) == 1)
        await client.barrier()
        version = await http_get(env.port, "/api/version")
        assert (version.status, version.body) == (200, VERSION_BODY)


# ------------------------------------------------------------ expected frames


def join_frame(key: str, requested: str, name: str, **request: Any) -> str:
    """The exact `server-join` frame of the mock server `key`."""
    return json.dumps(
        {
            "type": "server-join",
            "data": {
                "users": MOCK_USERS[key],
                "request": {"server": requested, **request},
                "serverName": name,
            },
        }
    )


JOINS_DEFAULT = join_frame(DWORLD_KEY, "default", "D-World")
JOINS_DOCS = join_frame(DOCS_KEY, "docs", "Docs (WIP)")


def connect(data: Any) -> str:
    return json.dumps({"type": "connect", "data": data})


# ------------------------------------------------------------ raw WebSocket


def frame(opcode: int, payload: bytes = b"", fin: bool = True, masked: bool = True, rsv: int = 0):
    """One client frame, built by hand (RFC 6455 §5.2); `rsv` is the 3-bit RSV field."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 1 << 16:
        header = bytes([first, mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([first, mask_bit | 127]) + n.to_bytes(8, "big")
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


class RawSocket:
    """A raw TCP client, both reader and writer of hand-built bytes.

    Unlike asyncio's StreamReader, which raises a connection reset before handing out
    bytes it already received, it keeps returning what arrived before a reset: a server
    that closes with our unread data in its buffer sends its close frame, then a RST."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.ended = False  # EOF or reset seen

    @classmethod
    async def connect(cls, port: int) -> RawSocket:
        sock = socket.socket()
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (HOST, port)), TIMEOUT)
        return cls(sock)

    async def send(self, data: bytes) -> None:
        """Send all; the server may legitimately hang up while we are sending."""
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_sendall(self.sock, data), TIMEOUT
            )

    async def _fill(self) -> bool:
        if self.ended:
            return False
        try:
            chunk = await asyncio.wait_for(
                asyncio.get_running_loop().sock_recv(self.sock, 1 << 16), TIMEOUT
            )
        except ConnectionResetError:
            chunk = b""
        self.ended = not chunk
        self.buffer += chunk
        return bool(chunk)

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not await self._fill():
                raise AssertionError(f"connection ended; wanted {n} bytes, got {self.buffer!r}")
        data, self.buffer = bytes(self.buffer[:n]), self.buffer[n:]
        return data

    async def read_until(self, separator: bytes) -> bytes:
        while separator not in self.buffer:
            if not await self._fill():
                raise AssertionError(f"connection ended before {separator!r}: {self.buffer!r}")
        return await self.read_exactly(self.buffer.index(separator) + len(separator))

    async def read_to_end(self) -> bytes:
        """Everything until the server hangs up (FIN or RST)."""
        while await self._fill():
            pass
        data, self.buffer = bytes(self.buffer), bytearray()
        return data

    def half_close(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        """Close with SO_LINGER 0: the server sees a TCP RST, not a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


async def read_frame(conn: RawSocket) -> tuple[int, bytes]:
    """One server frame (servers never mask): `(opcode, payload)`; must be final."""
    first, second = await conn.read_exactly(2)
    assert first & 0x80, "the server sent a fragmented frame"
    assert not second & 0x80, "the server masked a frame"
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await conn.read_exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await conn.read_exactly(8), "big")
    return first & 0x0F, await conn.read_exactly(length)


async def read_text(conn: RawSocket) -> str:
    opcode, payload = await read_frame(conn)
    assert opcode == TEXT, (opcode, payload[:200])
    return payload.decode()


def handshake(port: int, key: str | None = None) -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def raw_ws(port: int) -> RawSocket:
    """A raw socket after the `101` and the `server-list` frame that always follows."""
    conn = await RawSocket.connect(port)
    await conn.send(handshake(port))
    head = await conn.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert json.loads(await read_text(conn))["type"] == "server-list"
    return conn


@contextlib.asynccontextmanager
async def raw_client(port: int) -> AsyncIterator[RawSocket]:
    conn = await raw_ws(port)
    try:
        yield conn
    finally:
        conn.close()


async def expect_close(conn: RawSocket) -> tuple[int | None, list[tuple[int, bytes]]]:
    """Read up to the server's close frame; return its code and the frames before it.
    Then the server must hang up the TCP connection."""
    before: list[tuple[int, bytes]] = []
    while True:
        opcode, payload = await read_frame(conn)
        if opcode == CLOSE:
            break
        before.append((opcode, payload))
    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
    assert await conn.read_to_end() == b"", "data after the close frame"
    return code, before


# ============================================================ JSON and `connect`

# (payload sent as one frame: str → text, bytes → binary; exact reply frame)
JSON_CASES = [
    pytest.param("not json", error_frame(INVALID_JSON), id="not-json"),
    pytest.param('{"type": "connect"', error_frame(INVALID_JSON), id="truncated-object"),
    pytest.param('{"type": "connect"} x', error_frame(INVALID_JSON), id="trailing-garbage"),
    pytest.param("{'type': 'connect'}", error_frame(INVALID_JSON), id="single-quotes"),
    pytest.param('\ufeff{"type": "connect"}', error_frame(INVALID_JSON), id="bom-prefix"),
    pytest.param("", error_frame(INVALID_JSON), id="empty-frame"),
    pytest.param("[" * 100_000 + "]" * 100_000, error_frame(INVALID_JSON), id="nested-arrays-100k"),
    pytest.param(
        '{"a": ' * 100_000 + "1" + "}" * 100_000,
        error_frame(INVALID_JSON),
        id="nested-objects-100k",
    ),
    pytest.param("[1]", error_frame(UNKNOWN_EVENT), id="array"),
    pytest.param("5", error_frame(UNKNOWN_EVENT), id="number"),
    pytest.param('"x"', error_frame(UNKNOWN_EVENT), id="string"),
    pytest.param("null", error_frame(UNKNOWN_EVENT), id="null"),
    pytest.param("true", error_frame(UNKNOWN_EVENT), id="true"),
    pytest.param("{}", error_frame(UNKNOWN_EVENT), id="empty-object"),
    pytest.param('{"type": "nope"}', error_frame(UNKNOWN_EVENT), id="type-unknown"),
    pytest.param('{"type": "Connect"}', error_frame(UNKNOWN_EVENT), id="type-capitalised"),
    pytest.param('{"type": "CONNECT"}', error_frame(UNKNOWN_EVENT), id="type-upper"),
    pytest.param('{"type": 1}', error_frame(UNKNOWN_EVENT), id="type-number"),
    pytest.param('{"type": ["connect"]}', error_frame(UNKNOWN_EVENT), id="type-list"),
    pytest.param('{"type": {"connect": 1}}', error_frame(UNKNOWN_EVENT), id="type-object"),
    pytest.param('{"type": null}', error_frame(UNKNOWN_EVENT), id="type-null"),
    pytest.param('{"type": "connect\\u0000"}', error_frame(UNKNOWN_EVENT), id="type-nul-suffix"),
    pytest.param(
        json.dumps({"type": "x" * 1_000_000}), error_frame(UNKNOWN_EVENT), id="type-1mb-string"
    ),
    # `connect` with fields of the wrong type.
    pytest.param(connect({"server": ["dworld"]}), error_frame(CANNOT_CONNECT), id="server-list"),
    pytest.param(
        connect({"server": {"id": "dworld"}}), error_frame(CANNOT_CONNECT), id="server-object"
    ),
    pytest.param(connect({"server": 5}), error_frame(CANNOT_CONNECT), id="server-number"),
    pytest.param(connect({"server": True}), error_frame(CANNOT_CONNECT), id="server-true"),
    pytest.param(connect({"server": False}), error_frame(CANNOT_CONNECT), id="server-false"),
    pytest.param(
        '{"type": "connect", "data": {"server": 1e400}}',
        error_frame(CANNOT_CONNECT),
        id="server-1e400",
    ),
    pytest.param(connect({"server": "\x00"}), error_frame(CANNOT_CONNECT), id="server-nul"),
    pytest.param(
        connect({"server": "d" * 1_000_000}), error_frame(CANNOT_CONNECT), id="server-1mb-string"
    ),
    pytest.param(connect({"server": "\u2003\u3000"}), JOINS_DEFAULT, id="server-unicode-blank"),
    pytest.param(connect(["server", "repos"]), JOINS_DEFAULT, id="data-list"),
    pytest.param(connect("repos"), JOINS_DEFAULT, id="data-string"),
    pytest.param(connect(7), JOINS_DEFAULT, id="data-number"),
    pytest.param(
        connect({"server": "oauth", "discordToken": "t", "discordUser": "someone"}),
        error_frame(AUTH_FAILED),
        id="discorduser-string",
    ),
    pytest.param(
        connect({"server": "oauth", "discordToken": "t", "discordUser": [{"id": "1"}]}),
        error_frame(AUTH_FAILED),
        id="discorduser-list",
    ),
    pytest.param(
        connect({"server": "oauth", "discordToken": "t", "discordUser": 42}),
        error_frame(AUTH_FAILED),
        id="discorduser-number",
    ),
    pytest.param(
        connect({"server": "oauth", "discordToken": "t", "discordUser": {"id": [], "username": 1}}),
        error_frame(AUTH_FAILED),
        id="discorduser-empty-id",
    ),
    pytest.param(
        connect({"server": "oauth", "discordToken": {"t": 1}}),
        error_frame(AUTH_REQUIRED),
        id="token-object-without-user",
    ),
    pytest.param(
        connect({"server": "oauth", "password": {"a": 1}}),
        error_frame(AUTH_REQUIRED),
        id="password-object-passworded",
    ),
    pytest.param(
        connect({"server": "docs", "password": {"a": [1, None]}}),
        join_frame(DOCS_KEY, "docs", "Docs (WIP)", password={"a": [1, None]}),
        id="password-object-open-echoed",
    ),
    pytest.param(
        connect({"server": "docs", "password": "p" * 500_000}),
        join_frame(DOCS_KEY, "docs", "Docs (WIP)", password="p" * 500_000),
        id="password-500kb-echoed",
    ),
    pytest.param(
        connect({"server": "docs", "pad": "x" * 1_000_000}), JOINS_DOCS, id="field-1mb-under-limit"
    ),
    pytest.param(
        connect({"server": "docs", **{f"k{i}": i for i in range(50_000)}}),
        JOINS_DOCS,
        id="data-50k-keys",
    ),
    # Binary frames: decoded as UTF-8, then handled like text.
    pytest.param(b"\xff\xfe", error_frame(INVALID_BINARY), id="binary-not-utf8"),
    pytest.param(b'{"type": "\xc3', error_frame(INVALID_BINARY), id="binary-truncated-utf8"),
    pytest.param(
        b'{"type": "connect", "data": {"server": "\xed\xa0\x80"}}',
        error_frame(INVALID_BINARY),
        id="binary-utf8-encoded-surrogate",
    ),
    pytest.param(connect({"server": "docs"}).encode(), JOINS_DOCS, id="binary-valid-json"),
]


class TestJsonAndConnectFields:
    """Frames a real client can send: each gets one exact answer, the socket stays open."""

    @pytest.mark.parametrize(("payload", "reply"), JSON_CASES)
    async def test_answered_and_still_open(self, main_env, payload, reply):
        async with bystander(main_env):
            async with ws_client(main_env.port) as hostile:
                await hostile.send_raw(payload)
                assert await hostile.recv_raw() == reply
                await hostile.barrier()  # still open, nothing else was sent

    async def test_lone_surrogate_escape_is_parsed_like_python(self, main_env):
        async with bystander(main_env):
            async with ws_client(main_env.port) as hostile:
                await hostile.send_raw('{"type": "connect", "data": {"server": "\\ud800"}}')
                assert await hostile.recv_raw() == error_frame(CANNOT_CONNECT)

    @pytest.mark.parametrize(
        "payload",
        [b"\xff\xfe", b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"'],
        ids=["0xff-0xfe", "overlong", "encoded-surrogate", "above-u10ffff"],
    )
    async def test_text_frame_with_invalid_utf8_closes_1007(self, main_env, payload):
        async with bystander(main_env):
            async with raw_client(main_env.port) as conn:
                await conn.send(frame(TEXT, payload))
                assert await expect_close(conn) == (INVALID_DATA, [])


# ============================================================ WebSocket framing

# (bytes after the handshake; close code; server limit is 4 KiB)
CLOSING_FRAMES = [
    pytest.param(
        frame(TEXT, b"x" * 3000, fin=False) + frame(CONT, b"x" * 3000),
        TOO_BIG,
        id="fragmented-message-over-limit",
    ),
    pytest.param(frame(TEXT, b"x" * (SMALL_LIMIT + 1)), TOO_BIG, id="single-frame-over-limit"),
    pytest.param(
        bytes([0x81, 0xFF]) + (2**63 - 1).to_bytes(8, "big") + os.urandom(4),
        TOO_BIG,
        id="frame-length-2**63-1",
    ),
    pytest.param(frame(CONT, b"{}"), PROTOCOL_ERROR, id="continuation-without-start"),
    pytest.param(
        frame(TEXT, b"{", fin=False) + frame(TEXT, b"{}"),
        PROTOCOL_ERROR,
        id="text-while-fragmented",
    ),
    pytest.param(
        frame(TEXT, b"{", fin=False) + frame(BINARY, b"{}"),
        PROTOCOL_ERROR,
        id="binary-while-fragmented",
    ),
    pytest.param(frame(TEXT, b"{}", masked=False), PROTOCOL_ERROR, id="unmasked"),
    pytest.param(frame(0x3, b"{}"), PROTOCOL_ERROR, id="reserved-opcode-0x3"),
    pytest.param(frame(0xB, b""), PROTOCOL_ERROR, id="reserved-opcode-0xB"),
    pytest.param(frame(TEXT, b"{}", rsv=0b100), PROTOCOL_ERROR, id="rsv1"),
    pytest.param(frame(TEXT, b"{}", rsv=0b010), PROTOCOL_ERROR, id="rsv2"),
    pytest.param(frame(TEXT, b"{}", rsv=0b001), PROTOCOL_ERROR, id="rsv3"),
    pytest.param(frame(PING, b"p" * 126), PROTOCOL_ERROR, id="ping-126-bytes"),
    pytest.param(frame(PING, b"p", fin=False), PROTOCOL_ERROR, id="fragmented-ping"),
    pytest.param(frame(CLOSE, close_payload(999)), PROTOCOL_ERROR, id="close-code-999"),
    pytest.param(frame(CLOSE, close_payload(1005)), PROTOCOL_ERROR, id="close-code-1005"),
    pytest.param(frame(CLOSE, close_payload(5000)), PROTOCOL_ERROR, id="close-code-5000"),
    pytest.param(frame(CLOSE, b"\x03"), PROTOCOL_ERROR, id="close-1-byte-payload"),
    pytest.param(
        frame(CLOSE, close_payload(1000, b"\xff")), INVALID_DATA, id="close-reason-not-utf8"
    ),
    pytest.param(
        frame(TEXT, b'"ok', fin=False) + frame(CONT, b'\xff"'),
        INVALID_DATA,
        id="invalid-utf8-in-continuation",
    ),
]

# (bytes after the handshake; the exact frames the server answers with)
ACCEPTED_FRAMES = [
    pytest.param(
        frame(TEXT, b'{"type": "con', fin=False)
        + frame(CONT, b'nect", "data": ', fin=False)
        + frame(CONT, b'{"server": "docs"}}'),
        [(TEXT, JOINS_DOCS.encode())],
        id="fragmented-message",
    ),
    pytest.param(
        frame(TEXT, b'{"type": "connect", ', fin=False)
        + frame(PING, b"between")
        + frame(CONT, b'"data": {"server": "docs"}}'),
        [(PONG, b"between"), (TEXT, JOINS_DOCS.encode())],
        id="ping-between-fragments",
    ),
    pytest.param(
        frame(BINARY, b'{"type": "connect", ', fin=False)
        + frame(CONT, b'"data": {"server": "docs"}}'),
        [(TEXT, JOINS_DOCS.encode())],
        id="fragmented-binary",
    ),
    pytest.param(
        # "é" (0xc3 0xa9) split between two fragments is valid UTF-8 as a message.
        frame(TEXT, b'{"type": "connect", "data": {"server": "\xc3', fin=False)
        + frame(CONT, b'\xa9"}}'),
        [(TEXT, error_frame(CANNOT_CONNECT).encode())],
        id="utf8-char-split-across-fragments",
    ),
    pytest.param(
        frame(TEXT, b"", fin=False) + frame(CONT, b"", fin=False) + frame(CONT, b"{}"),
        [(TEXT, error_frame(UNKNOWN_EVENT).encode())],
        id="empty-fragments",
    ),
    pytest.param(
        b"".join(frame(PONG, b"unsolicited") for _ in range(500)),
        [],
        id="500-unsolicited-pongs",
    ),
]


class TestFraming:
    """Hand-built frames on a raw socket, against a server with a 4 KiB message limit."""

    @pytest.mark.parametrize(("data", "code"), CLOSING_FRAMES)
    async def test_bad_frame_closes_with_code(self, small_env, data, code):
        async with bystander(small_env):
            async with raw_client(small_env.port) as conn:
                await conn.send(data)
                assert await expect_close(conn) == (code, [])

    @pytest.mark.parametrize(("data", "replies"), ACCEPTED_FRAMES)
    async def test_legal_but_unusual_frames_are_handled(self, small_env, data, replies):
        async with bystander(small_env):
            async with raw_client(small_env.port) as conn:
                await conn.send(data + frame(TEXT, b"barrier"))
                received = [await read_frame(conn) for _ in range(len(replies) + 1)]
                # A pong may be written before or after a reply already queued.
                assert sorted(received) == sorted(
                    [*replies, (TEXT, error_frame(INVALID_JSON).encode())]
                )
                assert received[-1] == (TEXT, error_frame(INVALID_JSON).encode())


# ============================================================ floods and stuck peers


class TestFloods:
    async def test_ping_flood_gets_ordered_pongs_and_stays_responsive(self, main_env):
        """2,000 pings in one burst: answered in order (RFC 6455 allows skipping all but
        the latest pong; this server has been seen to answer every one), then the
        flooder's next message is handled as usual."""
        async with bystander(main_env):
            async with raw_client(main_env.port) as conn:
                flood = b"".join(frame(PING, str(i).encode()) for i in range(2000))
                await conn.send(flood + frame(TEXT, b"after the flood"))
                pongs: list[int] = []
                while True:
                    opcode, payload = await read_frame(conn)
                    if opcode != PONG:
                        break
                    pongs.append(int(payload))
                assert (opcode, payload) == (TEXT, error_frame(INVALID_JSON).encode())
                assert pongs, "no pong at all"
                assert pongs == sorted(set(pongs)), "pongs out of order or repeated"
                assert pongs[-1] == 1999, "the latest ping was not answered"

    async def test_client_that_never_reads_is_dropped_others_get_everything(self, stuck_env):
        """200 broadcasts of 64 KiB while one joined client never reads."""
        env = stuck_env
        async with bystander(env) as healthy:
            async with unread_ws_client(env.port, "dworld"):
                await eventually(lambda: len(env.server.connections) == 2)
                pad = "p" * 65_536
                for n in range(200):
                    await env.server.broadcast_message(DWORLD_KEY, "u", f"{n}:{pad}", "c")
                    frame_ = await healthy.recv()
                    assert frame_["data"]["message"] == f"{n}:{pad}"
                # The stuck writer gives up after a 0.5 s stall (ping_timeout).
                started = time.monotonic()
                await eventually(lambda: len(env.server.connections) == 1)
                assert time.monotonic() - started < TIMEOUT

    async def test_reply_amplification_without_reading_is_dropped(self, stuck_env):
        """20 `connect`s that each echo a 500 KB password back, never read."""
        env = stuck_env
        async with bystander(env):
            async with raw_client(env.port) as conn:
                request = frame(
                    TEXT, connect({"server": "docs", "password": "p" * 500_000}).encode()
                )
                await conn.send(request * 20)
                await eventually(lambda: len(env.server.connections) == 1)


# ============================================================ TCP resets


class TestTcpResets:
    """RST (SO_LINGER 0) or FIN at awkward moments: nothing leaks, nobody else notices."""

    async def test_reset_mid_handshake(self, main_env):
        async with bystander(main_env):
            request = handshake(main_env.port)
            conn = await RawSocket.connect(main_env.port)
            await conn.send(request[: len(request) // 2])
            await asyncio.sleep(0.05)  # let the server read the half request
            conn.reset()

    async def test_reset_before_reading_the_101(self, main_env):
        async with bystander(main_env):
            conn = await RawSocket.connect(main_env.port)
            await conn.send(handshake(main_env.port))
            conn.reset()

    async def test_reset_mid_frame(self, main_env):
        async with bystander(main_env):
            conn = await raw_ws(main_env.port)
            await eventually(lambda: len(main_env.server.connections) == 2)
            whole = frame(TEXT, connect({"server": "docs", "pad": "x" * 200}).encode())
            await conn.send(whole[:20])
            await asyncio.sleep(0.05)  # let the server start reading the frame
            conn.reset()

    async def test_fin_mid_frame(self, main_env):
        async with bystander(main_env):
            conn = await raw_ws(main_env.port)
            try:
                await conn.send(frame(TEXT, connect({"server": "docs"}).encode())[:10])
                conn.half_close()
                assert await conn.read_to_end() == b""  # the server hangs up, silently
            finally:
                conn.close()

    async def test_reset_with_a_join_reply_unread(self, main_env):
        async with bystander(main_env):
            conn = await raw_ws(main_env.port)
            await conn.send(frame(TEXT, connect({"server": "repos"}).encode()))
            conn.reset()


# ============================================================ WebSocket handshake


def upgrade_request(port: int, *, version: str = "HTTP/1.1", **headers: str | None) -> bytes:
    all_headers: dict[str, str | None] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    all_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return request_bytes(
        "GET",
        "/",
        port,
        version=version,
        headers={k: v for k, v in all_headers.items() if v is not None},
    )


HANDSHAKE_REASONS = [
    pytest.param(
        {"Sec_WebSocket_Key": "!!!not-base64!!!"},
        "invalid Sec-WebSocket-Key header: !!!not-base64!!!",
        id="key-not-base64",
    ),
    pytest.param(
        {"Sec_WebSocket_Key": base64.b64encode(b"x" * 15).decode()},
        "invalid Sec-WebSocket-Key header: eHh4eHh4eHh4eHh4eHh4",
        id="key-15-bytes",
    ),
    pytest.param(
        {"Sec_WebSocket_Key": base64.b64encode(b"x" * 1024).decode()},
        "invalid Sec-WebSocket-Key header: " + base64.b64encode(b"x" * 1024).decode(),
        id="key-1024-bytes",
    ),
    pytest.param(
        {"Sec_WebSocket_Version": "8"}, "invalid Sec-WebSocket-Version header: 8", id="version-8"
    ),
    pytest.param({"Sec_WebSocket_Key": None}, "missing Sec-WebSocket-Key header", id="no-key"),
    pytest.param(
        {"Sec_WebSocket_Version": None}, "missing Sec-WebSocket-Version header", id="no-version"
    ),
    pytest.param({"version": "HTTP/1.0"}, "unsupported HTTP version", id="http-1.0-upgrade"),
]


class TestHandshake:
    @pytest.mark.parametrize(("overrides", "reason"), HANDSHAKE_REASONS)
    async def test_invalid_handshake_is_400_with_reason(self, main_env, overrides, reason):
        async with bystander(main_env):
            response = await raw_http(main_env.port, upgrade_request(main_env.port, **overrides))
            assert response.status == 400
            assert response.content_type == "text/plain"
            assert response.body == f"Failed to open a WebSocket connection: {reason}.\n".encode()

    async def test_repeated_key_is_rejected(self, main_env):
        async with bystander(main_env):
            request = upgrade_request(main_env.port).replace(
                b"Sec-WebSocket-Version",
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version",
            )
            conn = await RawSocket.connect(main_env.port)
            try:
                await conn.send(request)
                head = await conn.read_until(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 400 "), head
            finally:
                conn.close()


# ============================================================ plain HTTP


def http_request(head: str) -> bytes:
    return f"{head}\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode("latin-1")


class TestHttp:
    @pytest.mark.parametrize(
        ("sent", "answered"),
        [
            pytest.param(b"", 0, id="silent-connection"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n", 0, id="slowloris-headers"),
            pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1, id="idle-keep-alive"),
            pytest.param(
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n",
                1,
                id="slowloris-second-request",
            ),
        ],
    )
    async def test_stalled_connection_is_cut_off(self, slow_env, sent, answered):
        """Then silence: the server hangs up after ~0.5 s (`open_timeout`), having
        answered only the complete requests."""
        async with bystander(slow_env):
            conn = await RawSocket.connect(slow_env.port)
            try:
                await conn.send(sent)
                started = time.monotonic()
                received = await conn.read_to_end()
                assert time.monotonic() - started < 3
                assert received.count(b"HTTP/1.1 ") == answered, received[:200]
                assert received.count(b"HTTP/1.1 200 OK\r\n") == answered
            finally:
                conn.close()

    async def test_trickled_headers_are_cut_off(self, slow_env):
        """One byte every 50 ms (each byte would reset a naive idle timer)."""
        async with bystander(slow_env):
            conn = await RawSocket.connect(slow_env.port)
            started = time.monotonic()
            try:
                with contextlib.suppress(OSError):
                    for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"z" * 200:
                        conn.sock.send(bytes([byte]))
                        await asyncio.sleep(0.05)
                    raise AssertionError("the server let the headers trickle on for 10 s")
                assert await conn.read_to_end() == b""
                assert time.monotonic() - started < 3
            finally:
                conn.close()

    async def test_http_1_0_get_is_served(self, main_env):
        async with bystander(main_env):
            response = await raw_http(main_env.port, b"GET / HTTP/1.0\r\n\r\n")
            assert (response.status, response.content_type) == (200, "text/html")
            assert b"<title>D-Back WebSocket Server</title>" in response.body

    @pytest.mark.parametrize("method", ["BREW", "DELETE", "PROPFIND"])
    async def test_absurd_method_is_405(self, main_env, method):
        async with bystander(main_env):
            response = await raw_http(main_env.port, http_request(f"{method} / HTTP/1.1"))
            assert response.status == 405
            assert response.headers["allow"] == "GET, HEAD"
            assert response.body == b"Method Not Allowed"

    @pytest.mark.parametrize(
        ("target", "status"),
        [
            pytest.param("/" + "a" * 10_000, 403, id="10000-char-path"),
            pytest.param("/%", 404, id="lone-percent"),
            pytest.param("/%zz", 404, id="bad-percent-escape"),
            pytest.param("/index.html%00.txt", 403, id="nul-byte"),
            pytest.param("/..%2f..%2fetc/passwd", 403, id="encoded-slash-traversal"),
            pytest.param("/%2e%2e/%2e%2e/etc/passwd", 403, id="encoded-dot-traversal"),
            pytest.param("/....//....//etc/passwd", 404, id="four-dots"),
            pytest.param("/static%5c..%5c..%5cetc%5cpasswd", 403, id="backslash-traversal"),
            pytest.param("/../../../../../../etc/passwd", 403, id="plain-traversal"),
            pytest.param("http://evil.example/../../etc/passwd", 403, id="absolute-form"),
        ],
    )
    async def test_absurd_path_is_refused(self, main_env, target, status):
        async with bystander(main_env):
            response = await raw_http(main_env.port, request_bytes("GET", target, main_env.port))
            assert response.status == status
            assert b"root:" not in response.body
            assert response.body == (NOT_FOUND if status == 404 else b"Forbidden")

    @pytest.mark.parametrize(
        ("request_", "status"),
        [
            pytest.param(
                b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(101)) + b"\r\n",
                431,
                id="101-headers",
            ),
            pytest.param(
                b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
                431,
                id="1mb-header",
            ),
            pytest.param(b"\x00\x01\x02garbage\xff\xfe\r\n\r\n", 400, id="garbage-request-line"),
            pytest.param(b"GET /index.html\x00 HTTP/1.1\r\n\r\n", 400, id="raw-nul-in-target"),
            pytest.param(b"GET / HTTP/2.0\r\n\r\n", 400, id="http-2.0-text"),
            pytest.param(b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 400, id="space-in-header-name"),
            pytest.param(
                b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                400,
                id="conflicting-content-length",
            ),
        ],
    )
    async def test_malformed_request_gets_bare_error_and_close(self, main_env, request_, status):
        """hyper answers these itself: empty body, `connection: close`, then EOF."""
        async with bystander(main_env):
            conn = await RawSocket.connect(main_env.port)
            try:
                await conn.send(request_)
                answer = await conn.read_to_end()
                head, _, body = answer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").lower().split("\r\n")
                assert lines[0].startswith(f"http/1.1 {status} "), head
                assert "connection: close" in lines[1:]
                assert "content-length: 0" in lines[1:]
                assert body == b""
            finally:
                conn.close()


async def test_every_server_still_serves_api_version(main_env, small_env, stuck_env, slow_env):
    """Last in the module: after the whole battery, every server still answers."""
    for env in (main_env, small_env, stuck_env, slow_env):
        response = await http_get(env.port, "/api/version")
        assert (response.status, response.body) == (200, VERSION_BODY)
        assert len(env.server.connections) == 0
