"""``scripts/bench_flower.py`` for one round of each engine: plain Flower FedAvg (the app's
``engine = "plain"``, weights in Flower's messages) and the governed strategy run on the same
deployment and both finish; the script prints the rows and where the governed round's time went.
The figures themselves belong to the benchmark (``docs/performance.md``), not to this test."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from service.config import PROJECT_ROOT


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_benchmark_runs_both_engines_and_says_where_the_time_goes() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/bench_flower.py", "--rounds", "1"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=850,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-20000:]
    assert re.search(r"^plain: run \d+ finished:completed", out, re.M), out
    assert re.search(r"^governed: run \d+ finished:completed", out, re.M), out
    assert re.search(r"^\s+1\s+[\d.]+\s+[\d.]+\s+-?[\d.]+$", out, re.M), out
    for step in ("open", "wait-for-nodes", "close", "aggregate", "finalize", "download"):
        assert re.search(rf"coordinator {step}\s+[\d.]+", out), step
    assert re.search(r"governed node .*fetch [\d.]+, sign [\d.]+, submit [\d.]+", out), out
    assert re.search(r"POST /v1/rounds/\{round_id\}/updates\s+[\d.]+\s+5\.0", out), out
    assert re.search(r"chain transaction\s+[\d.]+", out), out
