"""The command line (§2): `python -m d_back`, the `d_back` script, signals, errors."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import d_back
import pytest
from helpers import HOST, READY_RE, CliProcess, free_port
from mock_data import DWORLD_KEY, MOCK_SERVERS, MOCK_USERS
from websockets.sync.client import connect as sync_connect

VERSION = d_back.__version__
DEFAULT_STATIC = str(Path(d_back.__file__).resolve().parent / "dist")
FAST_ENV = {"D_BACK_MOCK_PRESENCE_INTERVAL": "0.05", "D_BACK_MOCK_MESSAGE_INTERVAL": "0.05"}


def run_cli(*args: str, module: str = "d_back", **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        **kwargs,
    )


@pytest.fixture
def cli(tmp_path):
    """Factory for CLI subprocesses (run from an empty directory); all killed at teardown."""
    procs: list[CliProcess] = []

    def _start(*args: str, env: dict[str, str] | None = None) -> CliProcess:
        proc = CliProcess(list(args), env=env, cwd=str(tmp_path))
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        proc.kill()


def http_get(port: int, target: str) -> tuple[int, str | None, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


def stop_with_sigint(proc: CliProcess) -> int:
    """Ctrl-C; returns the exit status (0 expected), with the output in the message."""
    proc.interrupt()
    rc = proc.wait(15)
    assert rc == 0, proc.describe(f"exit status {rc} after SIGINT")
    return rc


class TestArguments:
    def test_version(self, tmp_path):
        result = run_cli("--version", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        out = result.stdout.strip()
        assert out.endswith(f" {VERSION}")
        if sys.version_info < (3, 14):
            assert out == f"__main__.py {VERSION}"

    def test_version_via_server_module(self, tmp_path):
        result = run_cli("--version", module="d_back.server", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(f" {VERSION}")

    def test_console_script(self, tmp_path):
        script = shutil.which("d_back", path=str(Path(sys.executable).parent))
        assert script, "the d_back console script is not installed next to this Python"
        result = subprocess.run(
            [script, "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"d_back {VERSION}"

    def test_help(self, tmp_path):
        result = run_cli("--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "D-Back WebSocket Server" in out
        assert "--port PORT" in out
        assert "Port to run the WebSocket server on (default: 3000)" in out
        assert "--host HOST" in out
        assert "Host to bind the WebSocket server to (default: localhost)" in out
        assert "--static-dir STATIC_DIR" in out
        assert "Directory to serve static files from (default: built-in dist directory)" in out
        assert "--version" in out
        assert "-h, --help" in out

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--port", "abc"], "invalid int value: 'abc'"),
            (["--bogus"], "unrecognized arguments: --bogus"),
            (["--port"], "expected one argument"),
        ],
    )
    def test_bad_arguments(self, tmp_path, args, message):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert "usage:" in result.stderr
        assert message in result.stderr
        assert result.stdout == ""


class TestServing:
    def test_banner_serving_and_ctrl_c(self, cli):
        port = free_port()
        proc = cli("--port", str(port), "--host", HOST)
        assert proc.wait_ready() == port
        banner = [line for line in proc.stdout_lines if line.strip()]
        assert banner[:4] == [
            f"Starting D-Back WebSocket Server v{VERSION}",
            f"Host: {HOST}",
            f"Port: {port}",
            f"Static directory: {DEFAULT_STATIC}",
        ]
        with sync_connect(f"ws://{HOST}:{port}/ws", open_timeout=5) as ws:
            frame = json.loads(ws.recv(timeout=5))
            assert frame == {"type": "server-list", "data": MOCK_SERVERS}
            ws.send(json.dumps({"type": "connect", "data": {"server": None}}))
            frame = json.loads(ws.recv(timeout=5))
            assert frame["type"] == "server-join"
            assert frame["data"]["users"] == MOCK_USERS[DWORLD_KEY]
        status, content_type, body = http_get(port, "/")
        assert (status, content_type) == (200, "text/html")
        assert b"D-Back WebSocket Server" in body
        status, _, body = http_get(port, "/api/version")
        assert json.loads(body) == {"version": VERSION}

        assert stop_with_sigint(proc) == 0
        assert proc.stdout_lines[-1] == "[INFO] Server stopped by user"
        assert not any("Traceback" in line for line in proc.stderr_lines), proc.stderr_lines

    def test_port_zero_reports_the_bound_port(self, cli):
        proc = cli("--port", "0", "--host", HOST)
        port = proc.wait_ready()
        assert port != 0
        assert "Port: 0" in proc.stdout_lines
        with sync_connect(f"ws://{HOST}:{port}/", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "server-list"
        assert stop_with_sigint(proc) == 0

    def test_no_debug_output(self, cli):
        port = free_port()
        proc = cli("--port", str(port), "--host", HOST)
        assert proc.wait_ready() == port
        with sync_connect(f"ws://{HOST}:{port}/", open_timeout=5) as ws:
            ws.recv(timeout=5)
            for frame in ("nope", json.dumps({"type": "connect", "data": {"server": "dworld"}})):
                ws.send(frame)
                ws.recv(timeout=5)
        http_get(port, "/missing")
        assert stop_with_sigint(proc) == 0
        allowed = re.compile(
            r"Starting D-Back WebSocket Server v\S+|Host: .*|Port: \d+|Static directory: .*"
            r"|Mock WebSocket server running on .*|WebSocket server (started on .*|stopped)"
            r"|\[INFO\] Server stopped by user|"
        )
        for line in proc.stdout_lines:
            assert allowed.fullmatch(line), f"unexpected stdout line: {line!r}"

    def test_mock_events_with_fast_intervals(self, cli):
        proc = cli("--port", "0", "--host", HOST, env=FAST_ENV)
        port = proc.wait_ready()
        with sync_connect(f"ws://{HOST}:{port}/", open_timeout=5) as ws:
            ws.recv(timeout=5)
            ws.send(json.dumps({"type": "connect", "data": {"server": "repos"}}))
            assert json.loads(ws.recv(timeout=5))["type"] == "server-join"
            kinds = set()
            for _ in range(10):
                frame = json.loads(ws.recv(timeout=5))
                assert frame["server"] == "987654321098765432"
                kinds.add(frame["type"])
            assert kinds == {"presence", "message"}
        assert stop_with_sigint(proc) == 0

    def test_static_dir_option(self, cli, tmp_path):
        site = tmp_path / "site"
        (site / "css").mkdir(parents=True)
        (site / "index.html").write_text("<h1>d-zone</h1>")
        (site / "css" / "main.css").write_text("body {}")
        port = free_port()
        proc = cli("--port", str(port), "--host", HOST, "--static-dir", str(site))
        assert proc.wait_ready() == port
        assert f"Static directory: {site}" in proc.stdout_lines
        assert http_get(port, "/") == (200, "text/html", b"<h1>d-zone</h1>")
        assert http_get(port, "/css/main.css") == (200, "text/css", b"body {}")
        assert stop_with_sigint(proc) == 0

    @pytest.mark.parametrize("kind", ["missing", "file"])
    def test_bad_static_dir_falls_back_to_default(self, cli, tmp_path, kind):
        path = tmp_path / "nope"
        if kind == "file":
            path.write_text("not a directory")
        port = free_port()
        proc = cli("--port", str(port), "--host", HOST, "--static-dir", str(path))
        assert proc.wait_ready() == port
        assert (
            f"Warning: Static directory '{path}' does not exist or is not a directory"
            in proc.stdout_lines
        )
        assert f"Using default static directory: {DEFAULT_STATIC}" in proc.stdout_lines
        status, _, body = http_get(port, "/")
        assert status == 200
        assert b"D-Back WebSocket Server" in body
        assert stop_with_sigint(proc) == 0

    def test_busy_port_is_one_line_and_exit_1(self, cli):
        with socket.socket() as blocker:
            blocker.bind((HOST, 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            proc = cli("--port", str(port), "--host", HOST)
            assert proc.wait(15) == 1
        stderr = [line for line in proc.stderr_lines if line.strip()]
        assert len(stderr) == 1, stderr
        assert "Traceback" not in stderr[0]
        assert str(port) in stderr[0] or "in use" in stderr[0].lower()
        assert not any(READY_RE.search(line) for line in proc.stdout_lines)

    def test_sigterm_ends_the_process(self, cli):
        proc = cli("--port", "0", "--host", HOST)
        proc.wait_ready()
        proc.proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        assert proc.proc.returncode is not None
