"""The connections are served by one fewer worker thread than the machine has
cores (at least one), or as many as `D_BACK_WORKER_THREADS` says.

Each case runs in a fresh interpreter: the runtime is started once per process,
by the first server created, with the environment of that moment.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import server_threads

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the threads from /proc"
)


def workers(value: str | None) -> int:
    # Nothing in the probe uses tokio's blocking pool (an IP address to bind,
    # no files served), so every `d-back` thread is a worker.
    threads = server_threads({"D_BACK_WORKER_THREADS": value})
    return sum(thread["name"] == "d-back" for thread in threads)


def test_one_core_is_left_to_the_bot_by_default():
    cores = len(os.sched_getaffinity(0))
    assert workers(None) == max(cores - 1, 1)


@pytest.mark.parametrize("count", [1, 3])
def test_the_environment_sets_the_number(count):
    assert workers(str(count)) == count


@pytest.mark.parametrize("raw", ["0", "-2", "1025", "two"])
def test_a_bad_value_is_refused_in_one_line_by_the_command_line(raw):
    result = subprocess.run(
        [sys.executable, "-m", "d_back", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "D_BACK_WORKER_THREADS": raw},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: environment variable D_BACK_WORKER_THREADS='{raw}' must be a whole "
        "number from 1 to 1024"
    ]
