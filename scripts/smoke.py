#!/usr/bin/env python3
"""Smoke test of an installed d_back, for a fresh environment right after installing
a wheel or an sdist. Standard library only (it carries a minimal RFC 6455 client), so
nothing but d_back needs to be installed; runs on Linux, macOS and Windows.

    python scripts/smoke.py [--expect-version VERSION]

For a `WebSocketServer` started from Python and for `python -m d_back`, each on
127.0.0.1 and an ephemeral port, it checks that `GET /api/version` reports
`d_back.__version__`, that a WebSocket gets `server-list`, then `server-join` with the
mock users after joining the default server, and that stopping is clean (`stop()`
frees the port; Ctrl-C ends the command line with status 0, on Windows the process
is terminated instead). On a free-threaded Python it also checks that importing
d_back leaves the GIL disabled.

Exit status 0 when every check passes; otherwise 1, with one line saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
from typing import Any

logger = logging.getLogger("smoke")

HOST = "127.0.0.1"
TIMEOUT = 20.0  # seconds for any single step; generous for slow CI machines
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
READY = re.compile(r"running on ws://\S+:(?P<port>\d+) ")
STOPPED_LINE = "[INFO] Server stopped by user"
USER_FIELDS = {"uid", "username", "status", "roleColor"}

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class SmokeError(Exception):
    """A failed check; the message is the one-line reason."""


# What is being checked, for the failure line (a timeout has no message of its own).
current_part = "setup"
current_step = "import d_back"


def part(name: str) -> None:
    global current_part
    current_part = name
    step("start")


def step(name: str) -> None:
    global current_step
    current_step = name


def check(condition: object, reason: str) -> None:
    if not condition:
        raise SmokeError(reason)


# --------------------------------------------------------------------------- HTTP


def http_get(port: int, target: str) -> tuple[int, bytes]:
    # http.client, not urllib: no proxy from the environment gets in the way.
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
    try:
        conn.request("GET", target)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


async def check_version(port: int, version: str) -> None:
    step("GET /api/version")
    status, body = await asyncio.to_thread(http_get, port, "/api/version")
    check(status == 200, f"GET /api/version answered {status}")
    try:
        reported = json.loads(body)
    except ValueError:
        raise SmokeError(f"GET /api/version is not JSON: {body[:80]!r}") from None
    check(
        reported == {"version": version},
        f"GET /api/version gave {reported!r}, expected version {version!r}",
    )
    logger.info("GET /api/version: %s", reported)


# ---------------------------------------------------------------------- WebSocket


class WebSocket:
    """Just enough of an RFC 6455 client: handshake, text frames, pings, close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, path: str = "/") -> WebSocket:
        reader, writer = await asyncio.open_connection(HOST, port)
        ws = cls(reader, writer)
        try:
            await asyncio.wait_for(ws._handshake(port, path), TIMEOUT)
        except BaseException:
            ws.abort()
            raise
        return ws

    async def _handshake(self, port: int, path: str) -> None:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        request = (
            f"GET {path} HTTP/1.1\r\n"
            f"Host: {HOST}:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        )
        self.writer.write(request.encode("ascii"))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        check(
            status_line.startswith("HTTP/1.1 101 "),
            f"WebSocket handshake answered {status_line!r}",
        )
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest())
        check(
            headers.get("sec-websocket-accept") == accept.decode("ascii"),
            "WebSocket handshake has a wrong Sec-WebSocket-Accept",
        )
        check(
            headers.get("upgrade", "").lower() == "websocket",
            "WebSocket handshake lacks 'Upgrade: websocket'",
        )

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = await self.reader.readexactly(2)
        check(not first & 0x70, "server frame has reserved bits set")
        check(not second & 0x80, "server frame is masked")
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return bool(first & 0x80), first & 0x0F, await self.reader.readexactly(length)

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        # Client frames are always masked (RFC 6455, 5.3).
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def _recv_message(self) -> tuple[int, bytes]:
        """The next data message (opcode, payload); pings are answered on the way."""
        opcode: int | None = None
        parts: list[bytes] = []
        while True:
            fin, op, payload = await self._read_frame()
            if op == OP_PING:
                await self._send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                return op, payload
            if op == OP_CONT:
                check(opcode is not None, "continuation frame without a message")
            else:
                check(opcode is None, f"frame with opcode {op} inside a fragmented message")
                opcode = op
            parts.append(payload)
            if fin:
                assert opcode is not None
                return opcode, b"".join(parts)

    async def recv_json(self) -> Any:
        opcode, payload = await asyncio.wait_for(self._recv_message(), TIMEOUT)
        if opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            raise SmokeError(f"server closed the WebSocket (code {code}) instead of answering")
        check(opcode == OP_TEXT, f"server sent a non-text message (opcode {opcode})")
        try:
            return json.loads(payload.decode("utf-8"))
        except ValueError:
            raise SmokeError(f"server sent a frame that is not JSON: {payload[:80]!r}") from None

    async def send_json(self, value: Any) -> None:
        await self._send_frame(OP_TEXT, json.dumps(value).encode("utf-8"))

    async def close(self) -> None:
        """Closing handshake with 1000; the server must echo it and end the TCP stream."""
        await self._send_frame(OP_CLOSE, struct.pack("!H", 1000))

        async def until_closed() -> bytes:
            while True:
                opcode, payload = await self._recv_message()
                if opcode == OP_CLOSE:
                    return payload  # data frames in between (mock events) are skipped

        payload = await asyncio.wait_for(until_closed(), TIMEOUT)
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        check(code == 1000, f"server answered the close with code {code}, expected 1000")
        rest = await asyncio.wait_for(self.reader.read(), TIMEOUT)
        check(rest == b"", "server sent data after its close frame")
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    def abort(self) -> None:
        self.writer.close()


async def check_join(port: int) -> None:
    step("WebSocket handshake")
    ws = await WebSocket.connect(port)
    try:
        step("server-list")
        first = await ws.recv_json()
        check(
            isinstance(first, dict) and first.get("type") == "server-list",
            f"first frame is not server-list: {str(first)[:120]}",
        )
        servers = first.get("data")
        check(isinstance(servers, dict) and servers, "server-list has no servers")
        defaults = [s for s in servers.values() if isinstance(s, dict) and s.get("default")]
        check(len(defaults) == 1, f"server-list has {len(defaults)} default servers")
        logger.info("server-list: %d servers, default %r", len(servers), defaults[0].get("id"))

        step("join the default server")
        await ws.send_json({"type": "connect", "data": {"server": "default"}})
        joined = await ws.recv_json()
        check(
            isinstance(joined, dict) and joined.get("type") == "server-join",
            f"answer to connect is not server-join: {str(joined)[:120]}",
        )
        data = joined.get("data")
        check(isinstance(data, dict), "server-join has no data object")
        check(
            data.get("serverName") == defaults[0].get("name"),
            f"server-join names {data.get('serverName')!r}, not the default server",
        )
        check(data.get("request") == {"server": "default"}, "server-join echoes a wrong request")
        users = data.get("users")
        check(isinstance(users, dict) and users, "server-join has no users")
        for uid, user in users.items():
            check(
                isinstance(user, dict) and USER_FIELDS <= user.keys() and user["uid"] == uid,
                f"mock user {uid!r} is malformed: {user!r}",
            )
        logger.info("server-join: %s with %d users", data["serverName"], len(users))
    except BaseException:
        ws.abort()
        raise
    step("WebSocket close")
    await ws.close()
    logger.info("WebSocket closed cleanly (1000)")


# ----------------------------------------------------------------- the two ways in


async def smoke_api(version: str) -> None:
    from d_back.server import WebSocketServer

    part("Python API")
    logger.info("-- WebSocketServer(port=0, host=%r) from Python", HOST)
    server = WebSocketServer(port=0, host=HOST)
    task = asyncio.ensure_future(server.start())
    loop = asyncio.get_running_loop()
    step("bind")
    deadline = loop.time() + TIMEOUT
    # The server exposes no "bound" event; `server.server` appears once it is serving.
    while server.server is None or not server.server.sockets:
        if task.done():
            task.result()  # a bind error surfaces here
            raise SmokeError("start() returned before the server was serving")
        check(loop.time() < deadline, "WebSocketServer.start() did not bind in time")
        await asyncio.wait({task}, timeout=0.01)
    port = server.server.sockets[0].getsockname()[1]
    logger.info("serving on port %d", port)
    try:
        await check_version(port, version)
        await check_join(port)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.stop(), TIMEOUT)
        raise
    step("stop()")
    await asyncio.wait_for(server.stop(), TIMEOUT)
    await asyncio.wait_for(task, TIMEOUT)  # start() returns once stopped
    try:
        # SO_REUSEADDR (as create_server sets it on POSIX) tolerates TIME_WAIT leftovers,
        # not a listener that is still open.
        socket.create_server((HOST, port)).close()
    except OSError as exc:
        raise SmokeError(f"port {port} is still taken after stop(): {exc}") from None
    logger.info("stop() returned and port %d is free", port)


async def read_lines(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for raw in stream:
        into.append(raw.decode("utf-8", "replace").rstrip("\r\n"))


async def smoke_cli(version: str) -> None:
    command = [sys.executable, "-m", "d_back", "--port", "0", "--host", HOST]
    part("command line")
    logger.info("-- %s", " ".join(["python", *command[1:]]))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}
    with tempfile.TemporaryDirectory() as cwd:  # never the source tree on sys.path
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        assert proc.stdout is not None and proc.stderr is not None
        stdout: list[str] = []
        stderr: list[str] = []
        stderr_task = asyncio.ensure_future(read_lines(proc.stderr, stderr))
        try:
            step("wait for the 'running on' line")
            port = await asyncio.wait_for(wait_ready(proc.stdout, stdout, stderr), TIMEOUT)
            logger.info("%s", stdout[-1])
            await check_version(port, version)
            await check_join(port)
            await stop_cli(proc, stdout, stderr)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stderr_task


async def wait_ready(stream: asyncio.StreamReader, stdout: list[str], stderr: list[str]) -> int:
    while True:
        raw = await stream.readline()
        if not raw:
            last = stderr[-1] if stderr else "nothing on stderr"
            raise SmokeError(f"the command line ended before serving: {last}")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        stdout.append(line)
        match = READY.search(line)
        if match:
            return int(match["port"])


async def stop_cli(proc: asyncio.subprocess.Process, stdout: list[str], stderr: list[str]) -> None:
    assert proc.stdout is not None
    step("stop")
    if sys.platform == "win32":
        # No Ctrl-C for a child without a console of its own: terminate it.
        proc.terminate()
        code = await asyncio.wait_for(proc.wait(), TIMEOUT)
        logger.info("terminated; exit status %d", code)
        return
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(read_lines(proc.stdout, stdout), TIMEOUT)
    code = await asyncio.wait_for(proc.wait(), TIMEOUT)
    tail = stderr[-1] if stderr else "nothing on stderr"
    check(code == 0, f"the command line exited with status {code} after Ctrl-C: {tail}")
    check(
        stdout and stdout[-1] == STOPPED_LINE,
        f"last line after Ctrl-C is {stdout[-1] if stdout else None!r}, not {STOPPED_LINE!r}",
    )
    check(
        not any("Traceback" in line for line in stderr),
        f"traceback on stderr after Ctrl-C: {tail}",
    )
    logger.info("Ctrl-C: %r, exit status 0", STOPPED_LINE)


# ------------------------------------------------------------------------- main


def check_free_threading() -> None:
    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    if "PYTHON_GIL" in os.environ or any(opt.startswith("gil") for opt in sys._xoptions):
        logger.info("free-threaded Python, GIL forced by the environment: %s", gil_enabled)
        return
    check(not gil_enabled, "importing d_back re-enabled the GIL on free-threaded Python")
    logger.info("free-threaded Python: the GIL stays disabled")


async def run_all(version: str) -> None:
    await smoke_api(version)
    await smoke_cli(version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--expect-version", metavar="VERSION", help="fail unless d_back.__version__ is this"
    )
    args = parser.parse_args(argv)
    # Started in the background by a non-interactive shell, this process (and so the
    # server it starts) would ignore SIGINT; the Ctrl-C check needs the default.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="smoke: %(message)s")
    logging.getLogger("d_back").setLevel(logging.WARNING)
    try:
        import d_back

        logger.info(
            "d_back %s from %s (Python %s, %s)",
            d_back.__version__,
            os.path.dirname(d_back.__file__ or "?"),
            sys.version.split()[0],
            sys.platform,
        )
        step("GIL on free-threaded Python")
        check_free_threading()
        if args.expect_version is not None:
            step("version")
            check(
                d_back.__version__ == args.expect_version,
                f"d_back.__version__ is {d_back.__version__!r}, expected {args.expect_version!r}",
            )
        asyncio.run(run_all(d_back.__version__))
    except SmokeError as exc:
        logger.error("FAILED (%s: %s): %s", current_part, current_step, exc)
        return 1
    except Exception as exc:  # an unexpected error is a failure too, in one line
        reason = str(exc).splitlines()[0] if str(exc) else "no message"
        logger.error(
            "FAILED (%s: %s): %s: %s", current_part, current_step, type(exc).__name__, reason
        )
        return 1
    logger.info("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
