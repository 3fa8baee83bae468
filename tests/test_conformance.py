"""WebSocket protocol conformance: the Autobahn cases, run by kosoku, against an
echo server built on the same WebSocket stack as d-back (`examples/conformance_echo.rs`).

The recorded verdicts live in `tests/conformance/expected.json`; any case whose
verdict changes fails this test. Re-record after a deliberate change with
`D_BACK_RECORD_CONFORMANCE=1 scripts/test -k conformance`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

kosoku = pytest.importorskip("kosoku", reason="kosoku (the Autobahn runner) needs Python 3.10+")

REPO = Path(__file__).resolve().parents[1]
EXPECTED = Path(__file__).parent / "conformance" / "expected.json"
# Compliant verdicts; NON-STRICT (a SHOULD not followed) varies with timing.
PASSING = {"OK", "NON-STRICT", "INFORMATIONAL"}
CLEAN_CLOSE = {"OK", "INFORMATIONAL"}


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    subprocess.run(
        ["cargo", "build", "--quiet", "--example", "conformance_echo"], cwd=REPO, check=True
    )
    binary = REPO / "target" / "debug" / "examples" / "conformance_echo"
    process = subprocess.Popen([str(binary), "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on "), line
        yield int(line.split()[-1])
    finally:
        process.kill()
        process.wait()


def verdict(result: object) -> str:
    behavior = result.behavior.value  # type: ignore[attr-defined]
    close = result.behavior_close.value  # type: ignore[attr-defined]
    if behavior in PASSING and close in CLEAN_CLOSE:
        return "pass"
    return f"{behavior}/{close}"


async def test_autobahn_verdicts_match_the_recorded_ones(echo_port: int) -> None:
    try:
        results = await kosoku.run_fuzzingclient(f"ws://127.0.0.1:{echo_port}", concurrency=2)
    except kosoku.FailureError as failure:
        results = failure.results
    actual = {result.case_id: verdict(result) for result in results}
    if os.environ.get("D_BACK_RECORD_CONFORMANCE"):
        EXPECTED.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    expected = json.loads(EXPECTED.read_text())
    changed = {
        case: f"{expected.get(case)} -> {actual.get(case)}"
        for case in sorted(set(actual) | set(expected))
        if actual.get(case) != expected.get(case)
    }
    assert not changed, f"conformance verdicts changed: {changed}"
    # The sections that apply to this server (1-10: framing, pings, fragmentation,
    # UTF-8, close handling, limits) all pass; 12-13 (compression) are not offered.
    applicable = {case: v for case, v in actual.items() if int(case.split(".")[0]) <= 10}
    failing = {case: v for case, v in applicable.items() if v != "pass"}
    assert not failing, failing
