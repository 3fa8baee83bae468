"""The server's own threads run below the priority of the thread that created the
server (the bot's), so a saturated machine serves the bot's loop first.

Each case runs in a fresh interpreter: the threads are started once per process,
by the first server created, with the environment of that moment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from helpers import server_threads

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's"
)


def probe(nice_env: str | None) -> tuple[int, dict[str, set[int]]]:
    """The main thread's nice value and the nice values seen per thread name."""
    threads = server_threads({"D_BACK_THREAD_NICE": nice_env})
    main = next(t["nice"] for t in threads if t["main"])
    by_name: dict[str, set[int]] = {}
    for thread in threads:
        if not thread["main"]:
            by_name.setdefault(thread["name"], set()).add(thread["nice"])
    return main, by_name


def test_server_threads_run_five_levels_below_the_bot_by_default():
    main, by_name = probe(None)
    assert by_name["d-back"] == {min(main + 5, 19)}, by_name
    assert by_name["d-back-fanout"] == {min(main + 5, 19)}, by_name


def test_the_environment_sets_how_far_below():
    main, by_name = probe("12")
    assert by_name["d-back"] == {min(main + 12, 19)}, by_name
    assert by_name["d-back-fanout"] == {min(main + 12, 19)}, by_name


def test_zero_keeps_the_server_threads_at_the_bots_priority():
    main, by_name = probe("0")
    assert by_name["d-back"] == {main}, by_name
    assert by_name["d-back-fanout"] == {main}, by_name


@pytest.mark.parametrize("raw", ["-1", "20", "low", "2.5"])
def test_a_bad_value_is_refused_when_the_server_is_created(raw):
    script = "from d_back.server import WebSocketServer\nWebSocketServer()\n"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "D_BACK_THREAD_NICE": raw},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError: environment variable D_BACK_THREAD_NICE=")
    assert "from 0 to 19" in last


def test_the_command_line_reports_a_bad_value_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "d_back", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "D_BACK_THREAD_NICE": "twenty"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: environment variable D_BACK_THREAD_NICE='twenty' must be a whole "
        "number from 0 to 19"
    ]


def test_servers_that_are_gone_leave_no_threads_behind():
    # Each server has a fan-out thread of its own; a cog reloaded many times must
    # not accumulate them.
    script = textwrap.dedent(
        """
        import gc, os, time
        from d_back.server import WebSocketServer

        def fanout_threads():
            count = 0
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/comm") as comm:
                        count += comm.read().strip() == "d-back-fanout"
                except FileNotFoundError:  # a thread that just ended
                    pass
            return count

        def settle(expected):
            # Threads name themselves when they start and vanish when they end.
            for _ in range(500):
                if fanout_threads() == expected:
                    break
                time.sleep(0.01)
            return fanout_threads()

        servers = [WebSocketServer() for _ in range(20)]
        print("ALIVE", settle(20))
        del servers
        gc.collect()
        print("GONE", settle(0))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ALIVE", "20", "GONE", "0"]
