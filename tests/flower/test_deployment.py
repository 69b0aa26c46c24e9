"""The Flower scenario (``scripts/flower_federated.py``, what ``scripts/flower_demo.sh`` runs) on
Flower's deployment engine against a stack of its own: a SuperLink and five SuperNodes as
processes from ``.venv-flower`` on free loopback ports, ``FLWR_HOME`` under the stack's data dir,
``flwr run`` of the governed app, every process stopped by its id afterwards, then
``govledger audit``. The script asserts on the run's status as the SuperLink reports it, not on
``flwr run``'s exit code (0 when the ServerApp crashes); this test reads the chain and audits the
ledger again itself. One round (each ClientApp is a fresh process that imports torch: minutes on
a busy 2-core machine)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.chain.accounts import dev_account
from service.chain.setup import connect_ledger
from service.chain.types import RoundState
from service.client import GovLedgerClient
from service.config import PROJECT_ROOT
from service.ml.aggregate import ExclusionReason
from tests.stack import Stack

ORGS = [dev_account(5 + p) for p in range(5)]  # the script's organisations; the last poisoned


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own: the audit covers the whole ledger, which other tests tamper with."""
    stack = Stack(data_dir=tmp_path / "stack").start()
    yield stack
    stack.stop()


def govledger(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.env}
    return subprocess.run(
        [sys.executable, "-m", "service.cli.main", *args],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_flower_scenario_runs_on_the_deployment_engine_and_the_audit_passes(
    own_stack: Stack,
) -> None:
    env = {**os.environ, **own_stack.env}
    done = subprocess.run(
        [sys.executable, "scripts/flower_federated.py", "--rounds", "1"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1100,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-20000:]
    assert re.search(r"round 1: Flower run \d+ finished:completed", out), out
    assert "org5's poisoned update was excluded in every round, on chain" in out
    model = re.search(r"model (\S+) \(id (\d+)\), base version (\d+) approved", out)
    assert model is not None, out
    model_id, base_id = int(model.group(2)), int(model.group(3))
    # the Flower processes are gone
    assert not (own_stack.data_dir / "flower" / "flower.json").exists()
    assert govledger(own_stack, "flower", "status").returncode == 6

    # the chain's record, read here
    ledger = connect_ledger(own_stack.settings)
    with GovLedgerClient(base_url=own_stack.url, timeout=120) as client:
        (round_,) = client.rounds(model_id=model_id).items
        chain = ledger.round(round_.round_id)
        assert chain.state == RoundState.FINALIZED
        assert {a.lower() for a in ledger.submitters(round_.round_id)} == {
            a.address.lower() for a in ORGS
        }
        assert ledger.exclusions(round_.round_id) == {ORGS[4].address: ExclusionReason.NOT_SELECTED}
        assert chain.aggregate_version_id is not None
        aggregate = client.get_version(chain.aggregate_version_id)
        assert (aggregate.kind, aggregate.parent_id, aggregate.state) == (
            "aggregate",
            base_id,
            "approved",
        )
        row = re.search(
            rf"^\s*{round_.round_id}\s+{aggregate.version_id}\s.*\sTrue\s+(\d+)\s+(\d+)$", out, re.M
        )
        assert row is not None and "org5 (not_selected)" in row.group(0), out
        # the gas columns are the receipts' (updates may share a transaction: counted once)
        of_round = [
            e
            for e in ledger.events(contract="FederatedRounds", with_timestamps=False)
            if e.args.get("roundId") == round_.round_id
        ]
        submitted = {e.transaction_hash for e in of_round if e.name == "UpdateSubmitted"}
        (finalized,) = [e.transaction_hash for e in of_round if e.name == "RoundFinalized"]

        def gas(tx: str) -> int:
            return int(ledger.w3.eth.get_transaction_receipt(tx)["gasUsed"])  # type: ignore[arg-type]

        assert int(row.group(1)) == sum(gas(h) for h in submitted) > 0
        assert int(row.group(2)) == gas(finalized) > 0

    # the audit passes, run again here, and checked the round
    audited = govledger(own_stack, "--json", "audit")
    assert audited.returncode == 0, audited.stdout[-5000:] + audited.stderr
    report = json.loads(audited.stdout)
    assert report["ok"] is True
    rounds = [f for f in report["findings"] if f["check"] == "rounds"]
    assert any(f"round {round_.round_id}" in f["record"] and f["ok"] for f in rounds), rounds
