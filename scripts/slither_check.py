"""Run slither over the Hardhat build of contracts/ and fail on any High or Medium finding that
contracts/slither-triage.json does not explain, or on a triage entry that no longer matches.

    .venv/bin/python scripts/slither_check.py [--json-out FILE] [--report FILE] [--triage FILE]

Compiles afresh with Hardhat first (`npx hardhat compile --force`: one build-info, so slither
never reads a stale source map), then runs every slither detector, leaving out node_modules
(OpenZeppelin). A finding is named by its detector and where it is, e.g. ``unused-return`` at
``SignedActions._isValidSignature(address,bytes32,bytes)``; the triage file holds such names with
the reason each finding stays. Low and informational findings not in the triage file are printed
but do not fail the check. Exit status: 0 clean, 1 unexplained or stale findings or slither
failed to run. ``--report`` checks a JSON report slither wrote before instead of running it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRIAGE_FILE = ROOT / "contracts" / "slither-triage.json"
GATED_IMPACTS = ("High", "Medium")
IMPACT_ORDER = ("High", "Medium", "Low", "Informational", "Optimization")


@dataclass(frozen=True)
class Finding:
    check: str
    impact: str
    confidence: str
    where: str
    description: str

    @property
    def key(self) -> tuple[str, str]:
        return self.check, self.where


def element_path(element: dict[str, Any]) -> str:
    """``Contract.function(types)`` (or ``Contract.function(types).variable``) of an element."""
    fields = element.get("type_specific_fields", {})
    name = str(fields.get("signature") or element["name"])
    parent = fields.get("parent")
    return f"{element_path(parent)}.{name}" if parent else name


def run_slither(json_out: Path) -> None:
    # a build-info left by an earlier compilation of other sources would be read too, and
    # report findings at lines that no longer exist: compile into an empty build-info folder
    shutil.rmtree(ROOT / "build" / "hardhat-artifacts" / "build-info", ignore_errors=True)
    subprocess.run(["npx", "hardhat", "compile", "--force", "--quiet"], cwd=ROOT, check=True)
    slither = Path(sys.executable).parent / "slither"
    command = [
        str(slither),
        ".",
        # foundry.toml sits at the root too: analyse the Hardhat build, not forge's
        "--compile-force-framework", "hardhat",
        "--hardhat-ignore-compile",
        "--hardhat-artifacts-directory", "build/hardhat-artifacts",
        "--hardhat-cache-directory", "build/hardhat-cache",
        "--filter-paths", "node_modules",
        "--json", str(json_out),
    ]  # fmt: skip
    # slither exits non-zero whenever it reports findings; its JSON says whether it ran
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if not json_out.exists():
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit("slither failed to run: it wrote no JSON report")


def read_report(path: Path) -> list[Finding]:
    report = json.loads(path.read_text())
    if not report.get("success"):
        raise SystemExit(f"slither failed to run: {report.get('error')}")
    return [
        Finding(
            check=d["check"],
            impact=d["impact"],
            confidence=d["confidence"],
            where=element_path(d["elements"][0]) if d["elements"] else "",
            description=d["description"].strip().splitlines()[0],
        )
        for d in report.get("results", {}).get("detectors", [])
    ]


def load_triage(path: Path = TRIAGE_FILE) -> dict[tuple[str, str], dict[str, str]]:
    entries = json.loads(path.read_text())["findings"]
    triage: dict[tuple[str, str], dict[str, str]] = {}
    for entry in entries:
        if not entry.get("reason", "").strip():
            raise SystemExit(f"{path}: the entry {entry} gives no reason")
        triage[(entry["check"], entry["where"])] = entry
    return triage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-out", type=Path, help="keep slither's JSON report here")
    parser.add_argument("--report", type=Path, help="check this slither JSON report; do not run")
    parser.add_argument("--triage", type=Path, default=TRIAGE_FILE, help="the triage file")
    args = parser.parse_args()
    triage = load_triage(args.triage)
    if args.report:
        findings = read_report(args.report)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = args.json_out or Path(tmp) / "slither.json"
            out.unlink(missing_ok=True)
            run_slither(out)
            findings = read_report(out)

    counts = Counter(f.impact for f in findings)
    print(
        "slither: "
        + ", ".join(f"{counts[i]} {i}" for i in IMPACT_ORDER if counts[i])
        + f" ({len(findings)} findings)"
    )
    unexplained = [f for f in findings if f.key not in triage]
    for f in findings:
        status = "triaged" if f.key in triage else "NOT TRIAGED"
        print(f"  [{f.impact}/{f.confidence}] {f.check} at {f.where}: {status}")
    stale = sorted(set(triage) - {f.key for f in findings})
    failing = [f for f in unexplained if f.impact in GATED_IMPACTS]
    for f in failing:
        print(f"error: {f.impact} finding not explained in {args.triage.name}: {f.description}")
    for check, where in stale:
        print(f"error: {args.triage.name} explains {check} at {where}; slither no longer finds it")
    if failing or stale:
        return 1
    print(f"ok: every High and Medium finding is explained in {args.triage.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
