"""Static typing: the example cog passes `mypy --strict`, and the native core's stub
(`d_back/_native.pyi`) matches the installed extension (`mypy.stubtest`).

Both run as subprocesses against the installed package, with mypy's cache in a
temporary directory so that nothing is written to the work tree.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "dworld_cog.py"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is part of the `test` extra)",
)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit status {proc.returncode}: {' '.join(proc.args)}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def test_example_cog_passes_mypy_strict(tmp_path):
    proc = run(["mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), str(EXAMPLE)], REPO)
    assert proc.returncode == 0, describe(proc)


def test_native_stub_matches_the_extension(tmp_path):
    # From an empty directory: the module comes from the installed package.
    proc = run(["mypy.stubtest", "d_back._native"], tmp_path)
    assert proc.returncode == 0, describe(proc)
