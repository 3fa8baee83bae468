"""`/api/health` and `/metrics`: what a load balancer's probe and a Prometheus
scrape see while browsers connect, join, receive broadcasts and leave."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import http.client
import json
import math
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import d_back
import pytest
from d_back.server import WebSocketServer
from helpers import (
    CANNOT_CONNECT,
    CUSTOM_SERVERS,
    CUSTOM_USERS,
    HOST,
    TIMEOUT,
    HttpResponse,
    error_frame,
    http_get,
    unread_ws_client,
    wait_serving,
    ws_client,
)

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DWORLD = "232769614004748288"  # a mock server's mapping key; its id is "dworld"
CALLBACKS = [
    "get_server_data",
    "get_user_data",
    "get_client_id",
    "validate_discord_user",
    "static_request",
]


# ------------------------------------------------------- a strict exposition parser

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SAMPLE = re.compile(rf"(?P<name>{NAME})(?:\{{(?P<labels>.*)\}})? (?P<value>\S+)")
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}

Labels = tuple[tuple[str, str], ...]


@dataclass
class Scrape:
    """A parsed scrape: families with their type and help, and every sample."""

    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, tuple(sorted(labels.items())))]

    def series(self, name: str, label: str) -> dict[str, float]:
        """Samples of `name` by the value of its one label `label`."""
        found = {}
        for (sample, labels), value in self.samples.items():
            if sample == name:
                assert [k for k, _ in labels] == [label], labels
                found[labels[0][1]] = value
        return found

    def callback_count(self, callback: str) -> float:
        return self.value("d_back_callback_duration_seconds_count", callback=callback)


def unescape(text: str, escapes: dict[str, str]) -> str:
    out, chars = [], iter(text)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            assert nxt in escapes, f"bad escape \\{nxt} in {text!r}"
            out.append(escapes[nxt])
        else:
            out.append(c)
    return "".join(out)


def parse_labels(text: str) -> Labels:
    """`a="x",b="y\\"z"` (a trailing comma is allowed by the format)."""
    labels: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        name = LABEL_NAME.match(text, pos)
        assert name, f"bad label name at {text[pos:]!r}"
        pos = name.end()
        assert text.startswith('="', pos), f'expected =" at {text[pos:]!r}'
        pos += 2
        raw = []
        while True:
            assert pos < len(text), f"unterminated label value in {text!r}"
            c = text[pos]
            if c == "\\":
                raw.append(text[pos : pos + 2])
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                raw.append(c)
                pos += 1
        value = unescape("".join(raw), {"\\": "\\", '"': '"', "n": "\n"})
        assert name.group() not in dict(labels), f"label {name.group()} repeated"
        labels.append((name.group(), value))
        if pos < len(text):
            assert text[pos] == ",", f"expected , at {text[pos:]!r}"
            pos += 1
    return tuple(labels)


def family_of(name: str, types: dict[str, str]) -> str | None:
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and types.get(base) == "histogram":
            return base
    return None


def parse_exposition(text: str) -> Scrape:
    """Parses text format 0.0.4 strictly: every family is typed before its
    samples, which are contiguous; no duplicate series; histograms complete."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    scrape = Scrape()
    current: str | None = None
    finished: set[str] = set()
    for line in text[:-1].split("\n"):
        assert line, "no blank lines"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                assert re.fullmatch(NAME, name), name
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    assert name not in scrape.helps, f"second HELP for {name}"
                    scrape.helps[name] = unescape(rest, {"\\": "\\", "n": "\n"})
                else:
                    assert name not in scrape.types, f"second TYPE for {name}"
                    assert rest in TYPES, line
                    scrape.types[name] = rest
                if current is not None and current != name:
                    finished.add(current)
                current = name
            continue
        match = SAMPLE.fullmatch(line)
        assert match, f"not a sample line: {line!r}"
        name = match["name"]
        family = family_of(name, scrape.types)
        assert family is not None, f"sample {name} before its TYPE"
        assert family == current and family not in finished, f"{name} is not contiguous"
        assert NUMBER.fullmatch(match["value"]), f"bad value in {line!r}"
        labels = parse_labels(match["labels"] or "")
        key = (name, tuple(sorted(labels)))
        assert key not in scrape.samples, f"duplicate series {line!r}"
        value = float(match["value"])
        if scrape.types[family] == "counter" or name.endswith(("_bucket", "_count")):
            assert value >= 0 and not math.isnan(value), line
        scrape.samples[key] = value
    check_histograms(scrape)
    return scrape


def check_histograms(scrape: Scrape) -> None:
    for family, kind in scrape.types.items():
        if kind != "histogram":
            continue
        buckets: dict[Labels, list[tuple[float, float]]] = {}
        for (name, labels), value in scrape.samples.items():
            if name == f"{family}_bucket":
                rest = tuple(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                buckets.setdefault(rest, []).append((float(le), value))
        for labels, series in buckets.items():
            series.sort()
            counts = [count for _, count in series]
            assert counts == sorted(counts), f"{family}{labels}: buckets not cumulative"
            assert series[-1][0] == math.inf, f"{family}{labels}: no +Inf bucket"
            assert scrape.samples[(f"{family}_count", labels)] == counts[-1]
            assert (f"{family}_sum", labels) in scrape.samples


# ------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def running(
    callbacks: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[tuple[WebSocketServer, int]]:
    """A server on an ephemeral port, without mock timers firing during a test."""
    server = WebSocketServer(
        port=0, host=HOST, mock_presence_interval=3600, mock_message_interval=3600, **options
    )
    for name, callback in (callbacks or {}).items():
        getattr(server, f"on_{name}")(callback)
    task = asyncio.create_task(server.start())
    try:
        port = await wait_serving(server, task)
        yield server, port
    finally:
        await asyncio.wait_for(server.stop(), 15)
        await asyncio.wait_for(task, 15)


def data_callbacks(servers: dict[str, Any] | None = None) -> dict[str, Any]:
    """Async data callbacks, as a bot registers them."""
    servers = CUSTOM_SERVERS if servers is None else servers

    async def get_server_data() -> dict[str, Any]:
        return copy.deepcopy(servers)

    async def get_user_data(key: str) -> dict[str, Any]:
        return copy.deepcopy(CUSTOM_USERS.get(key, {}))

    return {"get_server_data": get_server_data, "get_user_data": get_user_data}


async def scrape(port: int) -> Scrape:
    response = await http_get(port, "/metrics")
    assert response.status == 200, response
    assert response.content_type == METRICS_TYPE
    return parse_exposition(response.body.decode())


async def scrape_until(port: int, check: Callable[[Scrape], bool]) -> Scrape:
    """Scrape until `check` holds (server-side bookkeeping that no client event marks)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        result = await scrape(port)
        if check(result):
            return result
        assert time.monotonic() < deadline, f"metrics never matched: {result.samples}"
        await asyncio.sleep(0.01)


def joined(s: Scrape) -> dict[str, float]:
    return s.series("d_back_joined_clients", "server")


def frames(s: Scrape) -> float:
    return s.value("d_back_frames_sent_total")


async def health(port: int, method: str = "GET") -> tuple[HttpResponse, Any]:
    response = await http_get(port, "/api/health", method)
    assert response.content_type == "application/json"
    assert response.headers["cache-control"] == "no-store"
    return response, json.loads(response.body) if response.body else None


@contextlib.asynccontextmanager
async def lingering_ws(port: int) -> AsyncIterator[asyncio.StreamReader]:
    """A WebSocket client that reads but never answers the server's close frame,
    so a stop has to wait for it (until it goes away or the close timeout)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), TIMEOUT)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101"), head
        yield reader
    finally:
        writer.transport.abort()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    first, second = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return first & 0x0F, await asyncio.wait_for(reader.readexactly(length), TIMEOUT)


# --------------------------------------------------------------------------- tests


async def test_metrics_parse_as_prometheus_exposition_with_every_family():
    async with running() as (_server, port), ws_client(port) as client:
        await client.join_ok("dworld")
        response = await http_get(port, "/metrics")
        assert response.status == 200
        assert response.content_type == METRICS_TYPE
        result = parse_exposition(response.body.decode())
        assert result.types == {
            "d_back_build_info": "gauge",
            "d_back_connections_open": "gauge",
            "d_back_connections_total": "counter",
            "d_back_joined_clients": "gauge",
            "d_back_frames_sent_total": "counter",
            "d_back_events_dropped_total": "counter",
            "d_back_callback_duration_seconds": "histogram",
            "d_back_callback_errors_total": "counter",
        }
        assert set(result.helps) == set(result.types)
        assert result.value("d_back_build_info", version=d_back.__version__) == 1
        assert joined(result) == {DWORLD: 1}
        for callback in CALLBACKS:
            for reason in ("error", "timeout"):
                labels = {"callback": callback, "reason": reason}
                assert result.value("d_back_callback_errors_total", **labels) == 0

        head = await http_get(port, "/metrics", "HEAD")
        assert (head.status, head.content_type, head.body) == (200, METRICS_TYPE, b"")
        assert int(head.headers["content-length"]) > 0


async def test_health_reports_serving_and_open_connections():
    async with running() as (_server, port):
        response, body = await health(port)
        assert response.status == 200
        assert body == {"status": "serving", "version": d_back.__version__, "connections": 0}
        async with ws_client(port), ws_client(port):
            response, body = await health(port)
            assert body["connections"] == 2
            head, no_body = await health(port, "HEAD")
            assert (head.status, no_body) == (200, None)
            assert int(head.headers["content-length"]) == len(response.body)


async def test_connections_open_and_total_follow_clients():
    async with running() as (_server, port):
        before = await scrape(port)
        total = before.value("d_back_connections_total")
        async with ws_client(port) as leaving:
            async with ws_client(port), ws_client(port):
                now = await scrape(port)
                assert now.value("d_back_connections_open") == 3
                assert now.value("d_back_connections_total") == total + 3
                await leaving.ws.close()
                now = await scrape_until(port, lambda s: s.value("d_back_connections_open") == 2)
                assert now.value("d_back_connections_total") == total + 3
        await scrape_until(port, lambda s: s.value("d_back_connections_open") == 0)


async def test_joined_clients_per_server_follow_joins_and_leaves():
    async with running(data_callbacks()) as (_server, port):
        async with ws_client(port) as a1, ws_client(port) as a2, ws_client(port) as b:
            async with ws_client(port):  # connected, never joined: counted nowhere
                await a1.join_ok("alpha")
                await a2.join_ok("alpha")
                await b.join_ok("beta")
                await scrape_until(port, lambda s: joined(s) == {"1001": 2, "1002": 1})
                await a2.ws.close()
                await scrape_until(port, lambda s: joined(s) == {"1001": 1, "1002": 1})
                await b.join_ok("alpha")  # moving leaves the old server's series
                await scrape_until(port, lambda s: joined(s) == {"1001": 2})
        await scrape_until(port, lambda s: joined(s) == {})


async def test_client_text_never_becomes_a_server_label():
    hostile = ['x"} d_back_connections_open 999\n#', "1001", "a" * 10_000, "default\\"]
    async with running(data_callbacks()) as (_server, port), ws_client(port) as client:
        for server in hostile:
            assert await client.join(server) == {
                "type": "error",
                "data": {"message": CANNOT_CONNECT},
            }
        result = await scrape(port)
        assert joined(result) == {}
        assert result.value("d_back_connections_open") == 1


async def test_server_ids_with_quotes_and_newlines_are_escaped():
    key = 'we"ird\\key\nnext'
    servers = {key: {"id": "weird", "name": "Weird", "default": True}}
    async with running(data_callbacks(servers)) as (_server, port), ws_client(port) as client:
        await client.join_ok("weird")
        await scrape_until(port, lambda s: joined(s) == {key: 1})


async def test_frames_sent_counts_replies_and_broadcast_recipients():
    async with running(data_callbacks()) as (server, port):
        async with ws_client(port) as a, ws_client(port) as b, ws_client(port) as other:
            await a.join_ok("alpha")
            await b.join_ok("alpha")
            await other.join_ok("beta")
            base = frames(await scrape_until(port, lambda s: frames(s) == 6))  # 3 lists, 3 joins
            await server.broadcast_message("1001", "u", "hello", "general")
            for client in (a, b):
                assert (await client.recv())["data"]["message"] == "hello"
            await scrape_until(port, lambda s: frames(s) == base + 2)
            await other.barrier()  # one error frame as the reply
            assert frames(await scrape(port)) == base + 3


async def test_mock_data_records_no_callback_calls():
    async with running() as (_server, port), ws_client(port) as client:
        await client.join_ok("dworld")
        result = await scrape(port)
        for callback in CALLBACKS:
            assert result.callback_count(callback) == 0


async def test_callback_durations_are_recorded_per_callback():
    async with running(data_callbacks()) as (_server, port), ws_client(port) as client:
        await client.join_ok("alpha")  # the server-list and the join each read servers
        result = await scrape(port)
        assert result.callback_count("get_server_data") == 2
        assert result.callback_count("get_user_data") == 1
        assert result.callback_count("get_client_id") == 0  # not registered: mock answer
        assert result.value("d_back_callback_duration_seconds_sum", callback="get_user_data") > 0


async def test_raising_and_slow_callbacks_count_as_errors_by_reason():
    async def get_user_data(key: str) -> dict[str, Any]:
        if key == "1001":
            raise RuntimeError("the bot is broken")
        await asyncio.Event().wait()  # never answers
        return {}

    callbacks = {**data_callbacks(), "get_user_data": get_user_data}
    async with running(callbacks, callback_timeout=0.3) as (_server, port):
        async with ws_client(port) as client:
            assert await client.join("alpha") == json.loads(error_frame(CANNOT_CONNECT))
            assert await client.join("beta") == json.loads(error_frame(CANNOT_CONNECT))
            result = await scrape(port)
            errors = "d_back_callback_errors_total"
            assert result.value(errors, callback="get_user_data", reason="error") == 1
            assert result.value(errors, callback="get_user_data", reason="timeout") == 1
            assert result.value(errors, callback="get_server_data", reason="error") == 0
            assert result.callback_count("get_user_data") == 2
            duration = "d_back_callback_duration_seconds"
            assert result.value(f"{duration}_sum", callback="get_user_data") >= 0.3
            fast = result.value(f"{duration}_bucket", callback="get_user_data", le="0.25")
            assert fast == 1, "the error was fast, the timeout took the full 0.3 s"


async def test_health_and_metrics_never_reach_the_static_request_callback():
    seen: list[str] = []

    async def on_static(path: str) -> None:
        seen.append(path)

    async def broken_static(path: str) -> None:
        raise RuntimeError("broken")

    async with running({"static_request": on_static}) as (server, port):
        assert (await http_get(port, "/api/health")).status == 200
        assert (await http_get(port, "/metrics?x=1")).status == 200
        assert seen == []
        assert (await http_get(port, "/")).status == 200
        assert seen == ["/"]
        result = await scrape(port)
        assert result.callback_count("static_request") == 1
        server.on_static_request(broken_static)
        assert (await http_get(port, "/")).status == 500
        result = await scrape(port)
        errors = "d_back_callback_errors_total"
        assert result.value(errors, callback="static_request", reason="error") == 1


async def test_events_dropped_for_a_client_that_stops_reading():
    async with running(max_queue=4) as (server, port):
        async with ws_client(port) as healthy:
            await healthy.join_ok("dworld")
            base = await scrape(port)
            sent, dropped = frames(base), base.value("d_back_events_dropped_total")
            async with unread_ws_client(port, "dworld"):
                await scrape_until(port, lambda s: joined(s) == {DWORLD: 2})
                sent = frames(await scrape(port))  # + the slow client's list and join
                pad = "p" * 65_536
                broadcasts = 0
                for n in range(400):
                    await server.broadcast_message(DWORLD, "u", f"{n}:{pad}", "c")
                    broadcasts += 1
                    assert (await healthy.recv())["data"]["message"].startswith(f"{n}:")
                    now = await scrape(port)
                    if now.value("d_back_events_dropped_total") > dropped:
                        break
                else:
                    raise AssertionError("the slow client never lost a frame")
                # Every broadcast frame was either queued or dropped for each client.
                await scrape_until(
                    port,
                    lambda s: (
                        frames(s) + s.value("d_back_events_dropped_total") - dropped
                        == sent + 2 * broadcasts
                    ),
                )


async def test_health_turns_503_on_open_connections_once_stop_begins():
    async with running(close_timeout=5) as (server, port):
        conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT)
        try:

            def get_health() -> tuple[http.client.HTTPResponse, bytes]:
                conn.request("GET", "/api/health")
                response = conn.getresponse()
                return response, response.read()

            async with lingering_ws(port) as ws:
                assert (await read_frame(ws))[0] == 0x1  # server-list: it is registered
                response, body = await asyncio.to_thread(get_health)
                assert response.status == 200
                assert json.loads(body)["connections"] == 1
                kept = conn.sock
                assert kept is not None, "the HTTP connection is kept alive"

                stopping = asyncio.create_task(server.stop())
                opcode, payload = await read_frame(ws)
                assert (opcode, int.from_bytes(payload[:2], "big")) == (0x8, 1001)
                assert conn.sock is kept
                response, body = await asyncio.to_thread(get_health)
                assert response.status == 503
                assert response.getheader("Content-Type") == "application/json"
                assert response.getheader("Cache-Control") == "no-store"
                assert response.getheader("Connection") == "close"
                assert json.loads(body) == {
                    "status": "stopping",
                    "version": d_back.__version__,
                    "connections": 1,
                }
                assert not stopping.done(), "the lingering client holds the drain open"
            started = time.monotonic()
            await asyncio.wait_for(stopping, TIMEOUT)
            assert time.monotonic() - started < 2, "the drain ends when the client is gone"
        finally:
            conn.close()


@pytest.mark.parametrize("path", ["/api/health", "/metrics"])
async def test_other_methods_are_refused(path: str):
    async with running() as (_server, port):
        response = await http_get(port, path, "POST")
        assert response.status == 405
        assert response.headers["allow"] == "GET, HEAD"
