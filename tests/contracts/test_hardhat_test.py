"""``npx hardhat test`` (what hardhat.config.js and foundry.toml tell a contributor to run) runs
forge's tests and fails when they fail: hardhat.config.js replaces Hardhat's test task with a
call to ``forge test``, and nothing else runs that replacement.

Two cheap unit tests are picked with ``--grep`` (passed to forge as ``--match-test``), so this
costs a Hardhat start and, after tests/contracts/test_forge.py, no compilation; the fuzz and
invariant campaigns themselves are test_forge.py's."""

from __future__ import annotations

import re
import subprocess

from service.config import PROJECT_ROOT

PICKED = ("test_AnEmptyBatchIsRefused", "test_TheBaseIsAnApprovedVersionOfTheModel")


def test_npx_hardhat_test_runs_the_forge_tests_it_is_asked_for() -> None:
    result = subprocess.run(
        # forge matches the pattern against a test's signature: ``name()``
        ["npx", "hardhat", "test", "--grep", f"^({'|'.join(PICKED)})\\("],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a first run compiles the contracts with solc-js
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert sorted(re.findall(r"\[PASS\] (\w+)\(\)", out)) == sorted(PICKED), out
    summary = re.search(r"(\d+) tests passed, (\d+) failed, (\d+) skipped", out)
    assert summary is not None, out
    assert summary.groups() == (str(len(PICKED)), "0", "0"), out
