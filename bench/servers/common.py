"""What the two Python servers under test share: the data a cog would serve, the
control channel, and the scheduled broadcasts.

The servers are driven by `bench/run.py` over stdin/stdout, one line each way:

* at start-up the server prints `{"event": "listening", "port": P, "pid": ..., "impl": ...}`;
* `broadcast RATE SECONDS MAX_SECONDS`: the server itself calls
  `await server.broadcast_message(...)` RATE times a second for SECONDS on its own
  event loop (stopping early once MAX_SECONDS have passed), the message text being
  `seq:<n>:<scheduled unix ns>:<called unix ns>`, and replies with how long each call
  took (wall time, and CPU time of the loop's thread);
* `stats`: `{"event": "stats", "connections": n}`;
* `quit` or end of input: stop the server and exit.

Anything the server library prints goes to stderr (the driver logs it); only the
control replies use stdout. Standard library only, Python 3.9+.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]
from typing import Any, Callable

# The same data as ceiling/src/main.rs: one default server, 50 users, a client id.
SERVER_KEY = "100000000000000001"
CHANNEL = "300000000000000001"
CLIENT_ID = "506432803173433344"
USERS = 50


def uid(i: int) -> str:
    return f"2000000000000{i + 1:05d}"


# Like a cog's callbacks (async def, each call building fresh objects).
async def get_server_data() -> dict[str, Any]:
    return {
        SERVER_KEY: {"id": "bench", "name": "Bench Server", "default": True, "passworded": False}
    }


async def get_user_data(discord_server_id: str) -> dict[str, Any]:
    return {
        uid(i): {
            "uid": uid(i),
            "username": f"bench user {i + 1}",
            "status": "online",
            "roleColor": "#3498db",
        }
        for i in range(USERS)
    }


async def get_client_id(discord_server_id: str) -> str:
    return CLIENT_ID


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    return parser.parse_args()


class Control:
    """stdout for replies only; whatever else prints goes to stderr."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # print() of the library under test → stderr

    def reply(self, **fields: Any) -> None:
        self._out.write(json.dumps(fields) + "\n")
        self._out.flush()


def summary(values: list[float]) -> dict[str, Any]:
    """Nearest-rank percentiles (the same as the ceiling's)."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return round(ordered[min(max(math.ceil(q * n), 1), n) - 1], 3)

    return {
        "count": n,
        "p50": rank(0.50),
        "p99": rank(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / n, 3),
    }


def thread_context_switches() -> int:
    """Voluntary plus involuntary context switches of the calling thread so far."""
    if resource is None:
        return 0
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw + usage.ru_nivcsw


async def broadcasts(server: Any, rate: float, seconds: float, max_seconds: float) -> dict:
    """`server.broadcast_message(...)` at a fixed schedule, from this loop."""
    planned = max(1, round(rate * seconds))
    interval_ns = round(1e9 / rate)
    lead_ns = 50_000_000
    t0 = time.monotonic_ns() + lead_ns
    t0_unix = time.time_ns() + lead_ns
    deadline = t0 + int(max_seconds * 1e9)
    calls_us: list[float] = []
    calls_cpu_us: list[float] = []
    # Calls during which the OS gave the loop's CPU to another thread.
    calls_undisturbed_us: list[float] = []
    preempted = 0
    start_lag_ms: list[float] = []
    issued = 0
    did_not_finish = False
    sender = uid(0)
    for seq in range(planned):
        target = t0 + seq * interval_ns
        now = time.monotonic_ns()
        if now > deadline:
            did_not_finish = True
            break
        if target > now:
            await asyncio.sleep((target - now) / 1e9)
        scheduled = t0_unix + seq * interval_ns
        called = time.time_ns()
        text = f"seq:{seq}:{scheduled}:{called}"
        switches0 = thread_context_switches()
        cpu0 = time.thread_time_ns()
        wall0 = time.perf_counter_ns()
        await server.broadcast_message(server=SERVER_KEY, uid=sender, message=text, channel=CHANNEL)
        wall1 = time.perf_counter_ns()
        cpu1 = time.thread_time_ns()
        switched = thread_context_switches() != switches0
        calls_us.append((wall1 - wall0) / 1000)
        calls_cpu_us.append((cpu1 - cpu0) / 1000)
        if switched:
            preempted += 1
        else:
            calls_undisturbed_us.append((wall1 - wall0) / 1000)
        start_lag_ms.append(max(0, called - scheduled) / 1e6)
        issued += 1
    return {
        "event": "broadcast",
        "planned": planned,
        "issued": issued,
        "did_not_finish": did_not_finish,
        "elapsed_s": round((time.monotonic_ns() - t0) / 1e9, 3),
        "call_us": summary(calls_us),
        "call_cpu_us": summary(calls_cpu_us),
        "call_undisturbed_us": summary(calls_undisturbed_us),
        "calls_switched": preempted if resource is not None else None,
        "start_lag_ms": summary(start_lag_ms),
    }


async def serve(
    impl: str,
    server: Any,
    bound_port: Callable[[], int | None],
    connection_count: Callable[[], int],
) -> None:
    """Start `server`, announce its port, then obey the driver until told to quit."""
    control = Control()
    loop = asyncio.get_running_loop()
    serving = asyncio.ensure_future(server.start())
    deadline = time.monotonic() + 30
    port = None
    while port is None:
        if serving.done():
            serving.result()  # raises the bind error
            raise RuntimeError("server.start() returned before binding")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not bind within 30 s")
        port = bound_port()
        if port is None:
            await asyncio.sleep(0.01)
    control.reply(event="listening", port=port, pid=os.getpid(), impl=impl)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        words = line.decode().split()
        if not words:
            continue
        if words[0] == "broadcast" and len(words) == 4:
            try:
                rate, seconds, max_seconds = (float(w) for w in words[1:])
            except ValueError:
                control.reply(event="error", message="bad numbers")
                continue
            if min(rate, seconds, max_seconds) <= 0:
                control.reply(event="error", message="numbers must be positive")
                continue
            control.reply(**await broadcasts(server, rate, seconds, max_seconds))
        elif words == ["stats"]:
            control.reply(event="stats", connections=connection_count())
        elif words == ["quit"]:
            break
        else:
            control.reply(event="error", message=f"unknown command {line!r}")
    try:
        await asyncio.wait_for(server.stop(), 15)
    except Exception as exc:  # noqa: BLE001 - report, then exit anyway
        print(f"stop failed: {exc!r}", file=sys.stderr)
    serving.cancel()
    control.reply(event="bye")
