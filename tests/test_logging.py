"""Diagnostics go to Python `logging` under `d_back`, not to stdout (§7 #4).

Each test runs a small program in a fresh interpreter, so the logging configuration
it installs is the first one the native core ever sees.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, logging, sys
    {logging_setup}
    from websockets.asyncio.client import connect
    from d_back.server import WebSocketServer

    async def main():
        server = WebSocketServer(0, "127.0.0.1")
        task = asyncio.create_task(server.start())
        while server.server is None or not server.server.sockets:
            assert not task.done()
            await asyncio.sleep(0.01)
        port = server.server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{{port}}/ws") as ws:
            await ws.recv()
            for frame in ["not json", b"\\xff", json.dumps({{"type": "bogus"}}),
                          json.dumps({{"type": "connect", "data": {{"server": "nope"}}}}),
                          json.dumps({{"type": "connect", "data": {{"server": "dworld"}}}})]:
                await ws.send(frame)
                await ws.recv()
        for target in ("/", "/missing", "/../secret"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            request = f"GET {{target}} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"
            writer.write(request.encode())
            await reader.read()
            writer.close()
        await server.broadcast_message("nobody", "u", "m", "c")
        await server.stop()
        await task

    asyncio.run(main())
    """
)

ALLOWED_STDOUT = [
    re.compile(r"WebSocket server started on ws://127\.0\.0\.1:\d+"),
    re.compile(r"WebSocket server stopped"),
]


def run_program(logging_setup: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(logging_setup=logging_setup)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def assert_quiet_stdout(stdout: str) -> None:
    lines = stdout.splitlines()
    assert any(ALLOWED_STDOUT[0].fullmatch(line) for line in lines), stdout
    assert "WebSocket server stopped" in lines, stdout
    for line in lines:
        assert any(p.fullmatch(line) for p in ALLOWED_STDOUT), f"unexpected stdout line: {line!r}"


def test_activity_prints_nothing_but_start_and_stop(tmp_path):
    result = run_program("", tmp_path)
    assert result.returncode == 0, result.stderr
    assert_quiet_stdout(result.stdout)
    assert "Traceback" not in result.stderr


def test_records_go_to_the_d_back_logger(tmp_path):
    setup = (
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, "
        "format='LOG|%(name)s|%(levelname)s|%(message)s')"
    )
    result = run_program(setup, tmp_path)
    assert result.returncode == 0, result.stderr
    assert_quiet_stdout(result.stdout)
    records = [line.split("|", 3) for line in result.stderr.splitlines() if line.startswith("LOG|")]
    ours = [r for r in records if r[1] == "d_back" or r[1].startswith("d_back.")]
    assert ours, f"no record under the d_back logger; stderr:\n{result.stderr}"


def test_silencing_the_d_back_logger_silences_the_server(tmp_path):
    setup = (
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, "
        "format='LOG|%(name)s|%(levelname)s|%(message)s')\n"
        "logging.getLogger('d_back').setLevel(logging.CRITICAL)"
    )
    result = run_program(setup, tmp_path)
    assert result.returncode == 0, result.stderr
    records = [line.split("|", 3) for line in result.stderr.splitlines() if line.startswith("LOG|")]
    ours = [r for r in records if r[1] == "d_back" or r[1].startswith("d_back.")]
    assert ours == []
