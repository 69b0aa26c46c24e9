"""Static analysis: slither over the Hardhat build finds no High or Medium issue that
contracts/slither-triage.json does not explain, and the check fails when one is unexplained
or an explanation no longer matches anything (scripts/slither_check.py, real slither)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service.config import PROJECT_ROOT

CHECK = PROJECT_ROOT / "scripts" / "slither_check.py"
TRIAGE = PROJECT_ROOT / "contracts" / "slither-triage.json"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


Checked = tuple[Path, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    """slither run once over a fresh Hardhat build; its JSON report and the check's result."""
    path = tmp_path_factory.mktemp("slither") / "slither.json"
    return path, check("--json-out", str(path))


def triage_without(tmp_path: Path, predicate: Any) -> Path:
    doc = json.loads(TRIAGE.read_text())
    doc["findings"] = [f for f in doc["findings"] if not predicate(f)]
    path = tmp_path / "triage.json"
    path.write_text(json.dumps(doc))
    return path


def test_no_high_or_medium_finding_is_unexplained(report: Checked) -> None:
    _, result = report
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOT TRIAGED" not in result.stdout
    assert "ok: every High and Medium finding is explained" in result.stdout


def test_every_triage_entry_says_why() -> None:
    entries = json.loads(TRIAGE.read_text())["findings"]
    assert entries
    for entry in entries:
        assert set(entry) == {"check", "impact", "where", "reason"}, entry
        assert len(entry["reason"]) > 40, entry


def test_an_unexplained_medium_finding_fails_the_check(report: Checked, tmp_path: Path) -> None:
    path, _ = report
    triage = triage_without(tmp_path, lambda f: f["where"].startswith("SignedActions._isValid"))

    result = check("--report", str(path), "--triage", str(triage))

    assert result.returncode == 1
    assert "error: Medium finding not explained in triage.json" in result.stdout
    assert "SignedActions._isValidSignature(address,bytes32,bytes)" in result.stdout


def test_an_explanation_of_nothing_fails_the_check(report: Checked, tmp_path: Path) -> None:
    path, _ = report
    doc = json.loads(TRIAGE.read_text())
    doc["findings"].append(
        {
            "check": "reentrancy-eth",
            "impact": "High",
            "where": "ModelRegistry.castVote(uint256,uint8)",
            "reason": "an entry left behind after the finding it explained was fixed",
        }
    )
    triage = tmp_path / "triage.json"
    triage.write_text(json.dumps(doc))

    result = check("--report", str(path), "--triage", str(triage))

    assert result.returncode == 1
    assert "explains reentrancy-eth at ModelRegistry.castVote(uint256,uint8)" in result.stdout


def test_slither_is_a_bounded_dev_dependency() -> None:
    import tomllib

    dev = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["dev"]
    (spec,) = [d for d in dev if d.startswith("slither-analyzer")]
    assert ">=" in spec and "<" in spec.replace("<=", "")
