#!/usr/bin/env python3
"""The d-back performance benchmark driver (standard library only, Python 3.9+).

Runs each scenario against three servers side by side, each in a fresh process:

* ``ours``: this repository's package through its public Python API
  (``servers/ours.py`` in ``.venv-ours``);
* ``upstream``: pure-Python ``d-back==0.0.18`` on ``websockets==15.0.1``
  (``servers/upstream.py`` in ``.venv-upstream``);
* ``ceiling``: the same Rust core with a Rust provider and Rust broadcasts, no
  Python at all (``ceiling/``).

The clients are ``loadgen/`` (one Rust process, one thread). Server CPU comes from
``/proc/<pid>/stat`` (utime + stime of every thread), RSS from ``/proc/<pid>/status``.
Prints a table with the ratios ours/upstream and ours/ceiling, checks the targets and
appends one JSON line per run to ``results.jsonl``. Use ``bench/run``, which builds
everything first; see ``README.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TARGET = BENCH / "target" / "release"
LOADGEN = TARGET / "d-back-loadgen"
SERVER_KINDS = ("ours", "upstream", "ceiling")
SCENARIOS = ("join", "fanout", "idle")
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

DEFAULT_CLIENTS = {"join": [5000], "fanout": [5000, 10000], "idle": [5000]}
QUICK_CLIENTS = {"join": [500], "fanout": [500], "idle": [500]}

# Other processes using more than this % of the machine during a measurement
# disturb it: the run is repeated (see --busy-retries).
BUSY_PCT = 10.0

MARKERS = ("STARTED", "JOINED", "READY", "DRAINED", "DONE")


class DidNotFinish(Exception):
    """A phase ran out of time or a process gave up; reported, never hung on."""


VENVS = {"ours": BENCH / ".venv-ours", "upstream": BENCH / ".venv-upstream"}


def server_argv(kind: str) -> list[str]:
    if kind == "ceiling":
        return [str(TARGET / "d-back-ceiling"), "--host", HOST, "--port", "0"]
    python = VENVS[kind] / "bin" / "python"
    return [str(python), str(BENCH / "servers" / f"{kind}.py"), "--host", HOST, "--port", "0"]


# -- /proc ----------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent not idle, summed over every CPU (/proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is already in user)
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


NCPU = os.cpu_count() or 1


class Sample:
    """The server's CPU and RSS (and the load generator's CPU) at one moment."""

    def __init__(self, pid: int, loadgen_pid: int | None = None) -> None:
        self.time = time.monotonic()
        self.machine_busy = machine_busy_seconds()
        self.cpu = proc_cpu_seconds(pid)
        self.rss_kib = proc_rss_kib(pid)
        self.loadgen_cpu: float | None = None
        if loadgen_pid is not None:
            try:
                self.loadgen_cpu = proc_cpu_seconds(loadgen_pid)
            except OSError:
                pass


def other_load_pct(start: Sample, end: Sample) -> float | None:
    """CPU used by everything but the server and the load generator between two
    samples, in % of the whole machine (other processes disturb the figures)."""
    window = end.time - start.time
    if window <= 0.2 or start.loadgen_cpu is None or end.loadgen_cpu is None:
        return None
    ours = (end.cpu - start.cpu) + (end.loadgen_cpu - start.loadgen_cpu)
    other = (end.machine_busy - start.machine_busy) - ours
    return round(max(0.0, other) / window / NCPU * 100, 1)


def wait_until_quiet(max_wait: float, threshold: float = 15.0) -> float | None:
    """Waits (bounded) until other processes use < threshold % of the machine;
    returns the last measured load."""
    deadline = time.monotonic() + max_wait
    while True:
        t0, b0 = time.monotonic(), machine_busy_seconds()
        time.sleep(1.0)
        load = (machine_busy_seconds() - b0) / (time.monotonic() - t0) / NCPU * 100
        if load < threshold or time.monotonic() >= deadline:
            return round(load, 1)


def loadgen_pct(start: Sample, end: Sample) -> float | None:
    """The load generator's CPU between two samples, in % of one core."""
    if start.loadgen_cpu is None or end.loadgen_cpu is None or end.time <= start.time:
        return None
    return round((end.loadgen_cpu - start.loadgen_cpu) / (end.time - start.time) * 100, 1)


# -- processes ------------------------------------------------------------------------


class ServerProcess:
    """A server under test, driven over its stdin/stdout control channel."""

    def __init__(self, kind: str, log_path: Path) -> None:
        self.kind = kind
        self.log = open(log_path, "wb")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            server_argv(kind),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=str(BENCH / "servers"),
            env=env,
        )
        self.pid = self.proc.pid
        self.replies: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        listening = self.expect("listening", 60)
        self.port = int(listening["port"])
        self.url = f"ws://{HOST}:{self.port}/ws"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.replies.put(json.loads(raw))
            except ValueError:
                self.log.write(b"[non-JSON control output] " + raw)
        self.replies.put(None)

    def expect(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DidNotFinish(f"{self.kind}: no {event!r} reply within {timeout:.0f} s")
            try:
                reply = self.replies.get(timeout=left)
            except queue.Empty:
                continue
            if reply is None:
                raise DidNotFinish(f"{self.kind}: server exited (rc={self.proc.poll()})")
            if reply.get("event") == event:
                return reply
            if reply.get("event") == "error":
                raise RuntimeError(f"{self.kind}: {reply.get('message')}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def command(self, line: str, event: str, timeout: float) -> dict:
        self.send(line)
        return self.expect(event, timeout)

    def sample(self, loadgen_pid: int | None = None) -> Sample:
        return Sample(self.pid, loadgen_pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


class Loadgen:
    """One run of the load generator; stderr markers are stamped with a server sample."""

    def __init__(self, args: list[str], server: ServerProcess, log_path: Path) -> None:
        self.server = server
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(LOADGEN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.markers: queue.Queue[tuple[str, list[str], Sample | None] | None] = queue.Queue()
        self.stdout: list[bytes] = []
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            words = raw.decode(errors="replace").split()
            if words and words[0] in MARKERS:
                try:
                    sample: Sample | None = self.server.sample(self.proc.pid)
                except (OSError, RuntimeError):
                    sample = None
                self.markers.put((words[0], words[1:], sample))
            self.log.write(raw)
        self.markers.put(None)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout.append(self.proc.stdout.read())

    def marker(self, name: str, timeout: float) -> tuple[list[str], Sample]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DidNotFinish(f"load generator: no {name} within {timeout:.0f} s")
            try:
                item = self.markers.get(timeout=left)
            except queue.Empty:
                continue
            if item is None:
                raise DidNotFinish(f"load generator exited before {name} (rc={self.proc.poll()})")
            if item[0] == name:
                if item[2] is None:
                    raise DidNotFinish(f"server gone at {name}")
                return item[1], item[2]

    def result(self, timeout: float) -> dict:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DidNotFinish(f"load generator did not exit within {timeout:.0f} s") from None
        for _ in range(100):
            if self.stdout:
                break
            time.sleep(0.01)
        text = b"".join(self.stdout).decode(errors="replace").strip()
        if self.proc.returncode != 0 or not text:
            raise DidNotFinish(f"load generator failed (rc={self.proc.returncode})")
        return json.loads(text.splitlines()[-1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


# -- scenarios ------------------------------------------------------------------------


def join_phase_timeout(n: int) -> float:
    """Generous but finite: 2 minutes plus 20 ms per client."""
    return 120 + n * 0.02


def run_join(srv: ServerProcess, lg_log: Path, n: int, opts: argparse.Namespace) -> dict:
    phase = join_phase_timeout(n)
    lg = Loadgen(
        [
            "join-storm",
            "--url",
            srv.url,
            "--clients",
            str(n),
            "--in-flight",
            str(opts.in_flight),
            "--phase-timeout",
            str(phase),
        ],
        srv,
        lg_log,
    )
    try:
        _, start = lg.marker("STARTED", 30)
        _, end = lg.marker("JOINED", phase + 30)
        res = lg.result(60)
    finally:
        lg.close()
    joined = res["joined"]
    cpu = end.cpu - start.cpu
    lat = res["latency_ms"]
    return {
        "clients": n,
        "in_flight": opts.in_flight,
        "joined": joined,
        "failed": res["failed"] + res["unfinished"],
        "failures": res["failures"],
        "did_not_finish": bool(res["timed_out"]),
        "joins_per_s": res["joins_per_s"],
        "join_p50_ms": lat["p50"],
        "join_p99_ms": lat["p99"],
        "join_max_ms": lat["max"],
        "server_cpu_s": round(cpu, 3),
        "cpu_per_join_us": round(cpu / joined * 1e6, 1) if joined else None,
        "loadgen_cpu_pct": loadgen_pct(start, end),
        "other_load_pct": other_load_pct(start, end),
    }


def run_fanout(srv: ServerProcess, lg_log: Path, n: int, opts: argparse.Namespace) -> dict:
    phase = join_phase_timeout(n)
    # Broadcasting stops after this long even if not all were issued ("did not
    # finish"); then the clients get up to 30 s more to drain.
    max_seconds = opts.seconds * 4 + 10
    with tempfile.TemporaryDirectory(prefix="d-back-bench-") as tmp:
        done_file = Path(tmp) / "issued"
        lg = Loadgen(
            [
                "fanout",
                "--url",
                srv.url,
                "--clients",
                str(n),
                "--in-flight",
                str(opts.in_flight),
                "--phase-timeout",
                str(phase),
                "--rate",
                str(opts.rate),
                "--seconds",
                str(opts.seconds),
                "--done-file",
                str(done_file),
                "--drain",
                "2",
                "--start-timeout",
                str(max_seconds + 30),
                "--max-drain",
                str(max_seconds + 30),
            ],
            srv,
            lg_log,
        )
        try:
            ready, _ = lg.marker("READY", phase + 30)
            joined = int(ready[0])
            time.sleep(0.5)  # let the last joins' callbacks settle
            start = srv.sample(lg.proc.pid)
            reply = srv.command(
                f"broadcast {opts.rate} {opts.seconds} {max_seconds}",
                "broadcast",
                max_seconds + 60,
            )
            done_file.write_text(f"{reply['issued']}\n")
            _, end = lg.marker("DRAINED", max_seconds + 120)
            res = lg.result(60)
        finally:
            lg.close()
    cpu = end.cpu - start.cpu
    delivered = res["frames_delivered"]
    lat, lag = res["latency_ms"], res["lag_ms"]
    call, call_cpu = reply["call_us"], reply.get("call_cpu_us") or {}
    undisturbed = reply.get("call_undisturbed_us") or {}
    return {
        "clients": n,
        "joined": joined,
        "join_failed": res["join"]["failed"] + res["join"]["unfinished"],
        "rate": opts.rate,
        "seconds": opts.seconds,
        "planned": reply["planned"],
        "issued": reply["issued"],
        "did_not_finish": bool(reply["did_not_finish"]) or res["end_reason"] == "timeout",
        "end_reason": res["end_reason"],
        "expected": res["expected_per_client"] * joined,
        "delivered": delivered,
        "lost": res["frames_lost"],
        "disconnected": res["disconnected"],
        "latency_p50_ms": lat["p50"],
        "latency_p99_ms": lat["p99"],
        "latency_max_ms": lat["max"],
        "lag_p99_ms": lag["p99"],
        "lag_max_ms": lag["max"],
        "lag_max_last_second_ms": last_second_max(res.get("lag_max_by_seq_ms"), opts.rate),
        "lag_max_by_seq_ms": res.get("lag_max_by_seq_ms"),
        "server_cpu_s": round(cpu, 3),
        "loadgen_cpu_pct": loadgen_pct(start, end),
        "other_load_pct": other_load_pct(start, end),
        "cpu_per_msg_us": round(cpu / delivered * 1e6, 3) if delivered else None,
        "call_p50_us": call["p50"],
        "call_p99_us": call["p99"],
        "call_max_us": call["max"],
        "call_cpu_p50_us": call_cpu.get("p50"),
        "call_cpu_p99_us": call_cpu.get("p99"),
        "calls_switched": reply.get("calls_switched"),
        "call_undisturbed_p99_us": undisturbed.get("p99"),
        "call_start_lag_p99_ms": reply["start_lag_ms"]["p99"],
        "broadcast_elapsed_s": reply["elapsed_s"],
    }


def last_second_max(by_seq: list[float] | None, rate: float) -> float | None:
    """The largest lag among the last second's broadcasts: whether lag settles or grows."""
    if not by_seq:
        return None
    return max(by_seq[-max(1, round(rate)) :])


def run_idle(srv: ServerProcess, lg_log: Path, n: int, opts: argparse.Namespace) -> dict:
    phase = join_phase_timeout(n)
    time.sleep(1.0)
    before = srv.sample()
    lg = Loadgen(
        [
            "idle",
            "--url",
            srv.url,
            "--clients",
            str(n),
            "--in-flight",
            str(opts.in_flight),
            "--phase-timeout",
            str(phase),
            "--hold-seconds",
            str(opts.hold),
        ],
        srv,
        lg_log,
    )
    try:
        ready, at_ready = lg.marker("READY", phase + 30)
        joined = int(ready[0])
        # Let the joins settle, then sample while the clients sit idle.
        settle = min(1.0, opts.hold / 3)
        time.sleep(settle)
        first = srv.sample(lg.proc.pid)
        samples = [first]
        until = at_ready.time + opts.hold - 0.2
        while time.monotonic() + 0.25 < until:
            time.sleep(0.25)
            samples.append(srv.sample(lg.proc.pid))
        last = samples[-1]
        lg.marker("DONE", opts.hold + 30)
        lg.result(30)
    finally:
        lg.close()
    rss = statistics.median(s.rss_kib for s in samples)
    idle_window = last.time - first.time
    return {
        "clients": n,
        "joined": joined,
        "did_not_finish": joined < n,
        "rss_before_mib": round(before.rss_kib / 1024, 1),
        "rss_joined_mib": round(rss / 1024, 1),
        "rss_per_conn_kib": round((rss - before.rss_kib) / joined, 2) if joined else None,
        "idle_cpu_pct": round((last.cpu - first.cpu) / idle_window * 100, 2)
        if idle_window > 0.5
        else None,
        "other_load_pct": other_load_pct(first, last),
    }


RUNNERS: dict[str, Callable[[ServerProcess, Path, int, argparse.Namespace], dict]] = {
    "join": run_join,
    "fanout": run_fanout,
    "idle": run_idle,
}


def run_undisturbed(scenario: str, kind: str, n: int, opts: argparse.Namespace, logs: Path) -> dict:
    """run_one, repeated (up to --busy-retries times) while other processes took
    more than BUSY_PCT of the machine during the measurement; keeps the quietest."""
    attempts = []
    for attempt in range(1 + opts.busy_retries):
        figures = run_one(scenario, kind, n, opts, logs)
        attempts.append(figures)
        load = figures.get("other_load_pct")
        if load is None or load <= BUSY_PCT:
            break
        again = "again" if attempt < opts.busy_retries else "kept the quietest attempt"
        print(f"    (other processes used {load:.0f}% of the machine meanwhile: {again})")
    best = min(attempts, key=lambda f: f.get("other_load_pct") or 0.0)
    best["attempts"] = len(attempts)
    return best


def connections_left(srv: ServerProcess, timeout: float) -> int | None:
    """Open connections the server still counts after every client has gone
    (polled until 0 or the timeout; anything left is a leak or a slow close)."""
    deadline = time.monotonic() + timeout
    left = None
    while time.monotonic() < deadline:
        try:
            left = int(
                srv.command("stats", "stats", max(1.0, deadline - time.monotonic()))["connections"]
            )
        except DidNotFinish:
            return left
        if left == 0:
            break
        time.sleep(0.2)
    return left


def run_one(scenario: str, kind: str, n: int, opts: argparse.Namespace, logs: Path) -> dict:
    stem = f"{scenario}-{n}-{kind}"
    print(f"  {stem} ...", end="", flush=True)
    background = wait_until_quiet(opts.max_wait_quiet)
    if background is not None and background >= 15.0:
        print(f" [machine busy: {background:.0f}% used by other processes]", end="", flush=True)
    started = time.monotonic()
    srv = None
    try:
        srv = ServerProcess(kind, logs / f"{stem}.server.log")
        figures = RUNNERS[scenario](srv, logs / f"{stem}.loadgen.log", n, opts)
        figures["connections_left"] = connections_left(srv, 15)
        figures["status"] = "did not finish" if figures.get("did_not_finish") else "ok"
        figures["background_load_before_pct"] = background
    except DidNotFinish as exc:
        figures = {"clients": n, "status": "did not finish", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one broken run must not stop the others
        figures = {"clients": n, "status": "error", "reason": f"{type(exc).__name__}: {exc}"}
    finally:
        if srv is not None:
            srv.close()
    print(
        f" {figures['status']} ({time.monotonic() - started:.1f} s)"
        + (f": {figures['reason']}" if "reason" in figures else ""),
        flush=True,
    )
    time.sleep(0.5)
    return figures


def combine(runs: list[dict]) -> dict:
    """One figure set from repeated runs: the median of every number."""
    if len(runs) == 1:
        return runs[0]
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for r in runs for k in r):
        values = [r[key] for r in runs if key in r]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            median = statistics.median(numbers)
            out[key] = median if any(isinstance(v, float) for v in numbers) else round(median)
        elif all(isinstance(v, bool) for v in values):
            out[key] = any(values)
        else:
            out[key] = values[0]
    statuses = [r.get("status") for r in runs]
    out["status"] = "ok" if all(s == "ok" for s in statuses) else "/".join(map(str, statuses))
    reasons = [r["reason"] for r in runs if "reason" in r]
    if reasons:
        out["reason"] = "; ".join(reasons)
    out["repeats"] = len(runs)
    out["runs"] = runs
    return out


# -- report ---------------------------------------------------------------------------

ROWS = {
    "join": [
        ("joins/s", "joins_per_s", "higher"),
        ("join latency p50 (ms)", "join_p50_ms", "lower"),
        ("join latency p99 (ms)", "join_p99_ms", "lower"),
        ("join latency max (ms)", "join_max_ms", "lower"),
        ("failed joins", "failed", "lower"),
        ("server CPU per join (µs)", "cpu_per_join_us", "lower"),
        ("load generator CPU (% of its core)", "loadgen_cpu_pct", "lower"),
        ("other processes' CPU (% of machine)", "other_load_pct", "lower"),
        ("connections open 15 s after clients left", "connections_left", "lower"),
    ],
    "fanout": [
        ("delivery latency p50 (ms, from call)", "latency_p50_ms", "lower"),
        ("delivery latency p99 (ms)", "latency_p99_ms", "lower"),
        ("delivery latency max (ms)", "latency_max_ms", "lower"),
        ("lag behind schedule p99 (ms)", "lag_p99_ms", "lower"),
        ("lag max, last second's broadcasts (ms)", "lag_max_last_second_ms", "lower"),
        ("broadcasts issued", "issued", "higher"),
        ("frames delivered", "delivered", "higher"),
        ("frames lost", "lost", "lower"),
        ("clients disconnected during the run", "disconnected", "lower"),
        ("server CPU per delivered msg (µs)", "cpu_per_msg_us", "lower"),
        ("load generator CPU (% of its core)", "loadgen_cpu_pct", "lower"),
        ("other processes' CPU (% of machine)", "other_load_pct", "lower"),
        ("connections open 15 s after clients left", "connections_left", "lower"),
        ("broadcast call p50 (µs, loop wall)", "call_p50_us", "lower"),
        ("broadcast call p99 (µs)", "call_p99_us", "lower"),
        ("broadcast call max (µs)", "call_max_us", "lower"),
        ("broadcast call CPU p50 (µs)", "call_cpu_p50_us", "lower"),
        ("broadcast call CPU p99 (µs)", "call_cpu_p99_us", "lower"),
        ("broadcast calls that lost the CPU", "calls_switched", "lower"),
        ("broadcast call p99, kept the CPU (µs)", "call_undisturbed_p99_us", "lower"),
    ],
    "idle": [
        ("joined", "joined", "higher"),
        ("RSS before (MiB)", "rss_before_mib", "lower"),
        ("RSS with N joined (MiB)", "rss_joined_mib", "lower"),
        ("RSS per idle connection (KiB)", "rss_per_conn_kib", "lower"),
        ("server CPU while idle (% of a core)", "idle_cpu_pct", "lower"),
        ("other processes' CPU (% of machine)", "other_load_pct", "lower"),
        ("connections open 15 s after clients left", "connections_left", "lower"),
    ],
}

NO_RATIO = {
    "calls_switched",
    "loadgen_cpu_pct",
    "other_load_pct",
    "failed",
    "lost",
    "disconnected",
    "connections_left",
}

TITLES = {
    "join": "join storm, N={n}, {in_flight} in flight",
    "fanout": "fan-out, N={n}, {rate:g} broadcasts/s for {seconds:g} s",
    "idle": "idle footprint, N={n}",
}


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)


def ratio(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return f"{a / b:.2f}×"
    return "—"


def render(results: dict, kinds: list[str], opts: argparse.Namespace) -> str:
    cols = [k for k in SERVER_KINDS if k in kinds]
    show_up = "ours" in cols and "upstream" in cols
    show_ceil = "ours" in cols and "ceiling" in cols
    header = ["figure", *cols]
    if show_up:
        header.append("ours/upstream")
    if show_ceil:
        header.append("ours/ceiling")
    lines: list[str] = []
    for scenario in SCENARIOS:
        for n_key, per_kind in results.get(scenario, {}).items():
            n = int(n_key)
            title = TITLES[scenario].format(
                n=f"{n:,}", in_flight=opts.in_flight, rate=opts.rate, seconds=opts.seconds
            )
            table = [header]
            status_row = ["status", *(per_kind.get(k, {}).get("status", "—") for k in cols)]
            table.append(status_row + [""] * (len(header) - len(status_row)))
            for label, key, _ in ROWS[scenario]:
                vals = [per_kind.get(k, {}).get(key) for k in cols]
                if all(v is None for v in vals):
                    continue
                row = [label, *(fmt(v) for v in vals)]
                ours = per_kind.get("ours", {}).get(key)
                if key in NO_RATIO:
                    ours = None  # the environment, not the server: no ratio
                if show_up:
                    row.append(ratio(ours, per_kind.get("upstream", {}).get(key)))
                if show_ceil:
                    row.append(ratio(ours, per_kind.get("ceiling", {}).get(key)))
                table.append(row)
            widths = [max(len(r[i]) for r in table) for i in range(len(header))]
            lines.append(f"\n{title}")
            for i, row in enumerate(table):
                cells = [row[0].ljust(widths[0])] + [
                    c.rjust(w) for c, w in zip(row[1:], widths[1:])
                ]
                lines.append("  " + "  ".join(cells).rstrip())
                if i == 0:
                    lines.append("  " + "  ".join("-" * w for w in widths))
            for k in cols:
                reason = per_kind.get(k, {}).get("reason")
                if reason:
                    lines.append(f"  ({k}: {reason})")
    return "\n".join(lines)


def check_targets(results: dict) -> list[tuple[str, str, str]]:
    """(target, verdict, evidence) for each target of the task."""
    out: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    fan = results.get("fanout", {})
    for n_key in sorted(fan, key=int):
        per = fan[n_key]
        ours = per.get("ours", {}).get("cpu_per_msg_us")
        ceil = per.get("ceiling", {}).get("cpu_per_msg_us")
        up = per.get("upstream", {}).get("cpu_per_msg_us")
        if ours is not None and ceil:
            out.append(
                (
                    f"fan-out CPU/msg ≤ 1.25× ceiling (N={int(n_key):,})",
                    verdict(ours <= 1.25 * ceil),
                    f"{ours / ceil:.2f}×",
                )
            )
        if ours is not None and up:
            out.append(
                (
                    f"fan-out CPU/msg ≤ 1/3 upstream (N={int(n_key):,})",
                    verdict(ours <= up / 3),
                    f"{ours / up:.2f}×",
                )
            )
    big_runs = sorted(
        (int(n_key), per["ours"])
        for n_key, per in fan.items()
        if int(n_key) >= 10000 and "ours" in per
    )
    if big_runs:
        n, o = big_runs[0]  # the smallest N ≥ 10,000, normally exactly 10,000
        lag, lost = o.get("lag_p99_ms"), o.get("lost")
        ok = None if lag is None else (lag <= 150 and lost == 0 and o.get("status") == "ok")
        out.append(
            (
                "10,000 clients at 50/s: p99 lag ≤ 150 ms, nothing lost",
                verdict(ok),
                f"N={n:,}: lag p99 {fmt(lag)} ms, lost {fmt(lost)}",
            )
        )
        call = o.get("call_p99_us")
        evidence = f"N={n:,}: p99 {fmt(call)} µs"
        if o.get("calls_switched") is not None:
            evidence += (
                f" ({fmt(o['calls_switched'])} of {fmt(o.get('issued'))} calls lost the CPU;"
                f" p99 of the others {fmt(o.get('call_undisturbed_p99_us'))} µs)"
            )
        out.append(
            (
                "broadcast call ≤ 50 µs of loop time at 10,000 (p99)",
                verdict(None if call is None else call <= 50),
                evidence,
            )
        )
    else:
        out.append(
            (
                "10,000 clients at 50/s: p99 lag ≤ 150 ms, nothing lost",
                "n/a",
                "no fan-out run of ours with N ≥ 10,000",
            )
        )
    join = results.get("join", {})
    for n_key in sorted(join, key=int):
        o = join[n_key].get("ours", {})
        if "cpu_per_join_us" in o:
            cpu, p99 = o["cpu_per_join_us"], o.get("join_p99_ms")
            out.append(
                (
                    f"join CPU ≤ 100 µs (N={int(n_key):,})",
                    verdict(None if cpu is None else cpu <= 100),
                    f"{fmt(cpu)} µs",
                )
            )
            out.append(
                (
                    f"join p99 ≤ 50 ms at 100 in flight (N={int(n_key):,})",
                    verdict(None if p99 is None else p99 <= 50),
                    f"{fmt(p99)} ms",
                )
            )
    idle = results.get("idle", {})
    for n_key in sorted(idle, key=int):
        o = idle[n_key].get("ours", {})
        if "rss_per_conn_kib" in o:
            kib = o["rss_per_conn_kib"]
            out.append(
                (
                    f"RSS ≤ 8 KiB per idle joined connection (N={int(n_key):,})",
                    verdict(None if kib is None else kib <= 8),
                    f"{fmt(kib)} KiB",
                )
            )
    big = [per["ours"] for n_key, per in fan.items() if int(n_key) >= 19000 and "ours" in per]
    if big:
        o = big[0]
        ok = o.get("status") == "ok" and o.get("joined") == o.get("clients") and o.get("lost") == 0
        out.append(
            (
                "19,000 joined clients, every broadcast delivered",
                verdict(ok),
                f"joined {fmt(o.get('joined'))}, lost {fmt(o.get('lost'))}",
            )
        )
    else:
        out.append(
            (
                "19,000 joined clients, every broadcast delivered",
                "n/a",
                "not run (bench/run --clients 19000 --scenarios fanout)",
            )
        )
    return out


def repo_relative(path: Path) -> str:
    """`path` relative to the repository if inside it; else only its name (the
    results file is committed: no paths of the machine that ran it)."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return path.name


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            mem_gib = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": nproc,
        "cpu_model": model,
        "mem_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def ours_revision() -> str | None:
    """The repository revision the 'ours' build was made from (written by bench/run)."""
    try:
        return (VENVS["ours"] / "d-back-revision").read_text().strip() or None
    except OSError:
        return None


def repo_revision() -> str | None:
    git = shutil.which("git")
    if not git:
        return None
    try:
        rev = subprocess.run(
            [git, "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                git,
                "-C",
                str(REPO),
                "status",
                "--porcelain",
                "--",
                "src",
                "python",
                "Cargo.toml",
                "pyproject.toml",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (rev + ("+dirty" if dirty else "")) or None


# -- main -----------------------------------------------------------------------------


def parse_list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise SystemExit(f"--{what}: choose from {','.join(allowed)} (got {text!r})")
    return items


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="d-back benchmark: ours vs upstream 0.0.18 vs the no-Python ceiling",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--clients",
        default=None,
        help="comma-separated client counts for every chosen scenario "
        "(default: join 5000, fan-out 5000,10000, idle 5000)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="fan-out duration in seconds (default 3; 1 with --quick)",
    )
    p.add_argument("--rate", type=float, default=50.0, help="fan-out broadcasts per second")
    p.add_argument("--only", default=",".join(SERVER_KINDS), help="servers to run")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="scenarios to run")
    p.add_argument("--in-flight", type=int, default=100, help="joins in flight at once")
    p.add_argument(
        "--hold",
        type=float,
        default=None,
        help="idle scenario: seconds to hold the clients (default 5; 2 with --quick)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every measurement this many times and report medians",
    )
    p.add_argument(
        "--join-repeat",
        type=int,
        default=5,
        help="join storms are short (about a second each) and single runs vary by "
        "±20%% on a shared machine: run each this many times and report medians",
    )
    p.add_argument("--quick", action="store_true", help="small N, for a ~1 minute smoke run")
    p.add_argument(
        "--max-wait-quiet",
        type=float,
        default=60.0,
        help="before each run, wait up to this many seconds for other processes "
        "to use < 15%% of the machine",
    )
    p.add_argument(
        "--busy-retries",
        type=int,
        default=2,
        help="repeat a run up to this many times while other processes used "
        f"more than {BUSY_PCT:g}%% of the machine during it",
    )
    p.add_argument(
        "--ours-venv",
        default=str(VENVS["ours"]),
        help="virtual environment holding the d_back build to measure as 'ours' "
        "(compare two builds by running once with each)",
    )
    p.add_argument("--no-record", action="store_true", help="do not append to results.jsonl")
    p.add_argument("--results", default=str(BENCH / "results.jsonl"), help="JSON lines file")
    opts = p.parse_args(argv)
    opts.kinds = parse_list(opts.only, SERVER_KINDS, "only")
    opts.scenario_list = parse_list(opts.scenarios, SCENARIOS, "scenarios")
    base = QUICK_CLIENTS if opts.quick else DEFAULT_CLIENTS
    if opts.clients:
        try:
            counts = [int(x) for x in opts.clients.split(",") if x.strip()]
        except ValueError:
            raise SystemExit(f"--clients: not a list of numbers: {opts.clients!r}") from None
        if not counts or min(counts) < 1:
            raise SystemExit("--clients: counts must be positive")
        opts.client_counts = {s: counts for s in SCENARIOS}
    else:
        opts.client_counts = base
    if opts.seconds is None:
        opts.seconds = 1.0 if opts.quick else 3.0
    if opts.hold is None:
        opts.hold = 2.0 if opts.quick else 5.0
    if (
        opts.rate <= 0
        or opts.seconds <= 0
        or opts.hold <= 0
        or opts.in_flight < 1
        or opts.repeat < 1
        or opts.join_repeat < 1
        or opts.busy_retries < 0
    ):
        raise SystemExit("--rate, --seconds, --hold, --in-flight and --repeat must be positive")
    return opts


def preflight(kinds: list[str]) -> None:
    missing = [str(LOADGEN)] if not LOADGEN.exists() else []
    for kind in kinds:
        exe = Path(server_argv(kind)[0])
        if not exe.exists():
            missing.append(str(exe))
    if missing:
        raise SystemExit("missing (run bench/run, which builds them): " + ", ".join(missing))


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < need:
        print(f"warning: fd limit {soft} < {need} needed for the largest N", file=sys.stderr)


def prune_logs(keep: int) -> None:
    """Upstream logs several MB per run: keep only the newest few runs' logs."""
    runs = sorted(p for p in (BENCH / ".logs").iterdir() if p.is_dir())
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    VENVS["ours"] = Path(opts.ours_venv).resolve()
    preflight(opts.kinds)
    largest = max(max(opts.client_counts[s]) for s in opts.scenario_list)
    raise_fd_limit(largest + 200)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    logs = BENCH / ".logs" / stamp.strftime("%Y%m%dT%H%M%SZ")
    logs.mkdir(parents=True, exist_ok=True)
    prune_logs(keep=5)
    info = machine()
    print(
        f"d-back benchmark — {info['nproc']} × {info['cpu_model']}, kernel {info['kernel']}, "
        f"Python {info['python']}, fd limit {info['fd_limit']}"
    )
    print(f"servers: {', '.join(opts.kinds)}; logs in {logs}")
    if "ours" in opts.kinds:
        print(f"ours: d_back built from {ours_revision() or 'an unknown revision'}")

    results: dict[str, dict[str, dict[str, dict]]] = {}
    for scenario in opts.scenario_list:
        for n in opts.client_counts[scenario]:
            print(f"{scenario}, N={n:,}")
            per_kind = results.setdefault(scenario, {}).setdefault(str(n), {})
            runs: dict[str, list[dict]] = {kind: [] for kind in opts.kinds}
            repeats = max(opts.repeat, opts.join_repeat) if scenario == "join" else opts.repeat
            for _ in range(repeats):  # interleaved, so slow drifts hit every server
                for kind in opts.kinds:
                    runs[kind].append(run_undisturbed(scenario, kind, n, opts, logs))
            for kind in opts.kinds:
                per_kind[kind] = combine(runs[kind])

    print(render(results, opts.kinds, opts))
    targets = check_targets(results) if "ours" in opts.kinds else []
    if targets:
        print("\ntargets (ours)")
        width = max(len(t[0]) for t in targets)
        for name, verdict, evidence in targets:
            print(f"  {name.ljust(width)}  {verdict:4}  {evidence}")

    record = {
        "timestamp": stamp.isoformat(timespec="seconds"),
        "ours_revision": ours_revision(),
        "repo_head": repo_revision(),
        "machine": info,
        "ours_venv": repo_relative(VENVS["ours"]),
        "options": {
            "quick": opts.quick,
            "rate": opts.rate,
            "seconds": opts.seconds,
            "in_flight": opts.in_flight,
            "hold": opts.hold,
            "servers": opts.kinds,
            "repeat": opts.repeat,
            "join_repeat": opts.join_repeat,
            "scenarios": opts.scenario_list,
            "clients": {s: opts.client_counts[s] for s in opts.scenario_list},
        },
        "results": results,
        "targets": [{"target": t, "verdict": v, "evidence": e} for t, v, e in targets],
    }
    if not opts.no_record:
        with open(opts.results, "a") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"\nappended to {opts.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
