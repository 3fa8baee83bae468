"""Small client-side helpers shared by the behaviour tests.

Everything here talks to the server the way real users do: a WebSocket client
(`websockets`), an HTTP client (`http.client`) or raw bytes on a TCP socket for
requests that ordinary clients cannot produce, and the CLI as a subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HOST = "127.0.0.1"
TIMEOUT = 5.0

# A text frame that is not JSON: the server answers it with exactly this frame and
# nothing else, so it works as a round-trip marker ("everything queued for this
# client before now has been delivered").
BARRIER_TEXT = "d-back test barrier: not json"
ERROR_INVALID_JSON = '{"type": "error", "data": {"message": "Invalid JSON"}}'


def error_frame(message: str) -> str:
    """The exact text of an error frame (Python `json.dumps` formatting)."""
    return json.dumps({"type": "error", "data": {"message": message}})


UNKNOWN_EVENT = "Unknown event type"
INVALID_JSON = "Invalid JSON"
INVALID_BINARY = "Invalid binary encoding"
CANNOT_CONNECT = "Sorry, couldn't connect to that Discord server."
AUTH_REQUIRED = "This server requires Discord authentication. Please login with Discord."
AUTH_FAILED = "Discord authentication failed. Please try logging in again."


# Test data for servers driven by callbacks (the way the Red-DiscordBot cog does it).
CUSTOM_SERVERS: dict[str, dict[str, Any]] = {
    "1001": {"id": "alpha", "name": "Alpha", "default": True, "passworded": False},
    "1002": {"id": "beta", "name": "Beta", "passworded": False},
    "1003": {"id": "locked", "name": "Locked", "passworded": True},
    "1004": {"id": "legacy", "name": "Legacy", "passworded": True, "password": "hunter2"},
}
CUSTOM_USERS: dict[str, dict[str, Any]] = {
    key: {
        f"{key}-u{i}": {
            "uid": f"{key}-u{i}",
            "username": f"{server['name']} user {i}",
            "status": "online",
            "roleColor": "#123456",
        }
        for i in range(1, 3)
    }
    for key, server in CUSTOM_SERVERS.items()
}


async def eventually(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll a condition that has no event to await (e.g. `len(server.connections)`)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


async def wait_serving(server: Any, task: asyncio.Task) -> int:
    """Wait until `start()` has bound; return the bound port."""
    deadline = time.monotonic() + TIMEOUT
    while server.server is None or not server.server.sockets:
        if task.done():
            task.result()  # raises the bind error
            raise AssertionError("start() returned before the server was serving")
        if time.monotonic() > deadline:
            raise AssertionError("server did not start within the timeout")
        await asyncio.sleep(0.005)
    return server.server.sockets[0].getsockname()[1]


class Client:
    """A joined-or-not browser stand-in on one WebSocket connection."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.server_list_raw: str | None = None
        self.server_list: Any = None

    async def recv_raw(self, timeout: float = TIMEOUT) -> str:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(frame, str), f"server sent a binary frame: {frame!r}"
        return frame

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        return json.loads(await self.recv_raw(timeout))

    async def recv_until(
        self, predicate: Callable[[Any], bool], timeout: float = TIMEOUT
    ) -> tuple[Any, list[Any]]:
        """Receive until a frame matches; returns it and the frames skipped before it."""
        skipped: list[Any] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching frame within {timeout} s; got {skipped!r}")
            frame = await self.recv(remaining)
            if predicate(frame):
                return frame, skipped
            skipped.append(frame)

    async def send(self, obj: Any) -> None:
        await self.ws.send(json.dumps(obj))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def join(self, server: Any = None, **data: Any) -> Any:
        """Send `connect` for `server` (plus extra data fields); return the reply frame."""
        await self.send({"type": "connect", "data": {"server": server, **data}})
        return await self.recv()

    async def join_ok(self, server: Any = None, **data: Any) -> Any:
        reply = await self.join(server, **data)
        assert reply["type"] == "server-join", reply
        return reply

    async def barrier(self, timeout: float = TIMEOUT) -> None:
        """Round-trip a marker; fails if any other frame arrives before its answer."""
        await self.send_raw(BARRIER_TEXT)
        frame = await self.recv_raw(timeout)
        assert frame == ERROR_INVALID_JSON, f"unexpected frame before the barrier: {frame}"

    async def expect_closed(self, timeout: float = TIMEOUT) -> int | None:
        """Wait for the server to close the connection; return the close code."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(ConnectionClosed):
            while True:  # drain whatever is still queued, up to the close frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"connection still open after {timeout} s")
                await asyncio.wait_for(self.ws.recv(), remaining)
        await asyncio.wait_for(self.ws.wait_closed(), max(deadline - time.monotonic(), 0.1))
        return self.ws.close_code

    @property
    def is_open(self) -> bool:
        return self.ws.close_code is None


@contextlib.asynccontextmanager
async def ws_client(port: int, path: str = "/", *, read_server_list: bool = True):
    """Open a WebSocket to the server; by default read (and keep) the server-list."""
    async with connect(
        f"ws://{HOST}:{port}{path}", open_timeout=TIMEOUT, close_timeout=2, max_size=None
    ) as ws:
        client = Client(ws)
        if read_server_list:
            client.server_list_raw = await client.recv_raw()
            frame = json.loads(client.server_list_raw)
            assert frame["type"] == "server-list", frame
            client.server_list = frame["data"]
        yield client


def masked_text_frame(text: str) -> bytes:
    """One client-to-server WebSocket text frame (RFC 6455 §5.2; clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = bytes([0x81, 0x80 | n])
    elif n < 65536:
        header = bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        header = bytes([0x81, 0x80 | 127]) + n.to_bytes(8, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@contextlib.asynccontextmanager
async def unread_ws_client(port: int, join: Any):
    """A WebSocket client that joins `join` and then never reads again.

    Built on a raw socket with a tiny receive buffer, so the server's writes to it
    back up after a few kilobytes (an ordinary client library keeps reading)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (HOST, port)), TIMEOUT)
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(masked_text_frame(json.dumps({"type": "connect", "data": {"server": join}})))
        await writer.drain()
        yield
    finally:
        writer.transport.abort()


# --------------------------------------------------------------------------- HTTP


@dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    raw_head: bytes = b""
    extra: bytes = field(default=b"", repr=False)  # bytes after the declared body

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def _http_request_blocking(
    port: int, method: str, target: str, headers: dict[str, str] | None
) -> HttpResponse:
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    try:
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return HttpResponse(
            resp.status, resp.reason, {k.lower(): v for k, v in resp.getheaders()}, body
        )
    finally:
        conn.close()


async def http_get(
    port: int, target: str, method: str = "GET", headers: dict[str, str] | None = None
) -> HttpResponse:
    """A real HTTP/1.1 client (`http.client`), run off the event loop."""
    return await asyncio.to_thread(_http_request_blocking, port, method, target, headers)


async def raw_http(port: int, request: bytes, *, head: bool = False) -> HttpResponse:
    """Send raw request bytes; parse one response (Content-Length or read to EOF)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), TIMEOUT)
    try:
        writer.write(request)
        await writer.drain()
        raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = raw_head.decode("latin-1").split("\r\n")
        _version, status, *reason = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if head:
            body = b""
        elif "content-length" in headers:
            body = await asyncio.wait_for(
                reader.readexactly(int(headers["content-length"])), TIMEOUT
            )
        else:
            body = await asyncio.wait_for(reader.read(), TIMEOUT)
        extra = b""
        if head:
            # Whatever the server sends after the head (it must not send a body for
            # HEAD); we asked for `Connection: close`, so EOF comes next.
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                extra = await asyncio.wait_for(reader.read(), TIMEOUT)
        return HttpResponse(
            int(status), reason[0] if reason else "", headers, body, raw_head, extra
        )
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def request_bytes(
    method: str,
    target: str,
    port: int,
    *,
    version: str = "HTTP/1.1",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {target} {version}", f"Host: {HOST}:{port}"]
    all_headers = {"Connection": "close", **(headers or {})}
    if body:
        all_headers["Content-Length"] = str(len(body))
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --------------------------------------------------------------------------- CLI

READY_RE = re.compile(
    r"^Mock WebSocket server running on ws://(?P<host>[^\s:]+):(?P<port>\d+) \(with HTTP support\)$"
)


class CliProcess:
    """`python -m d_back ...` as a subprocess, its stdout read line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, cwd: str | None = None):
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "d_back", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=cwd,
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream, is_stdout: bool) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if is_stdout:
                self.stdout_lines.append(line)
                self._queue.put(line)
            else:
                self.stderr_lines.append(line)
        if is_stdout:
            self._queue.put(None)

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(self.describe(f"no line matching {pattern.pattern!r}"))
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(self.describe("stdout closed before the expected line"))
            match = pattern.search(line)
            if match:
                return match

    def wait_ready(self, timeout: float = 15.0) -> int:
        """Wait for the 'running on' line; return the port it reports."""
        return int(self.wait_for_line(READY_RE, timeout)["port"])

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 15.0) -> int:
        rc = self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for t in self._threads:
            t.join(5)

    def describe(self, what: str) -> str:
        return (
            f"{what}\n--- stdout ---\n"
            + "\n".join(self.stdout_lines)
            + "\n--- stderr ---\n"
            + "\n".join(self.stderr_lines)
        )


def free_port() -> int:
    """A port that was free a moment ago (for the few tests that need a fixed number)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# Starts a server, lets one browser join, then reports every thread's name and
# nice value as /proc shows them (what `top -H` or `ps -eLo comm,ni` list).
_THREADS_PROBE = textwrap.dedent(
    """
    import asyncio, json, os
    from websockets.asyncio.client import connect
    from d_back.server import WebSocketServer

    def threads():
        found = []
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as stat:
                text = stat.read()
            name = text[text.index("(") + 1 : text.rindex(")")]
            nice = int(text[text.rindex(")") + 2 :].split()[16])
            found.append({"name": name, "nice": nice, "main": int(tid) == os.getpid()})
        return found

    async def main():
        server = WebSocketServer(port=0, host="127.0.0.1")
        serving = asyncio.create_task(server.start())
        while server.server is None:
            await asyncio.sleep(0.01)
        port = server.server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "connect", "data": {"server": None}}))
            while json.loads(await ws.recv())["type"] != "server-join":
                pass
            print("THREADS", json.dumps(threads()), flush=True)
        await server.stop()
        await serving

    asyncio.run(main())
    """
)


def server_threads(env: dict[str, str | None]) -> list[dict[str, Any]]:
    """The threads of a fresh interpreter serving one joined browser, each as
    `{"name", "nice", "main"}`; `env` sets (or, with None, removes) variables."""
    child_env = {k: v for k, v in os.environ.items() if k not in env}
    child_env.update({k: v for k, v in env.items() if v is not None})
    result = subprocess.run(
        [sys.executable, "-c", _THREADS_PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env,
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("THREADS "))
    return json.loads(line.removeprefix("THREADS "))
