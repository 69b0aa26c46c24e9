"""Federated rounds driven by Flower (in-process ``run_simulation``, Ray workers) against the
session's real stack: the governed strategy opens every round on chain, the nodes submit through
the service's gate with their own keys, the chain's record decides what is aggregated.

The simulation runs in the Flower virtualenv (``tests/flower/simulation.py``, the cast in
``tests/flower/scene.py``); it writes the strategy's rounds as JSON, and the test reads them and
the chain from here.
"""

from __future__ import annotations

import pytest

from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.chain.types import RoundState
from service.client import GovLedgerClient
from service.flower import records
from service.flower.rounds import GovernedRound, rounds_from_json
from service.ml.aggregate import ExclusionReason
from tests.flower.conftest import Model, run_in_flower_venv
from tests.flower.scene import FAKE_CID, HONEST, NO_RIGHT, NODES, POISONED, ROUNDS
from tests.stack import Stack


@pytest.fixture(scope="module")
def ledger(stack: Stack) -> Ledger:
    return connect_ledger(stack.settings)


@pytest.fixture(scope="module")
def governed(
    stack: Stack, model: Model, tmp_path_factory: pytest.TempPathFactory
) -> list[GovernedRound]:
    """Two Flower rounds in the simulation; what each round did, as the strategy saw it."""
    tmp = tmp_path_factory.mktemp("simulation")
    out = tmp / "rounds.json"
    args = ["--url", stack.url, "--model-id", str(model.model_id)]
    args += ["--base-version-id", str(model.base_version_id), "--out", str(out)]
    done = run_in_flower_venv("tests.flower.simulation", args, home=tmp / "flwr", timeout=480)
    assert done.returncode == 0 and out.exists(), done.stdout[-20000:]
    rounds = rounds_from_json(out.read_text())
    assert [r.server_round for r in rounds] == list(range(1, ROUNDS + 1)), done.stdout[-20000:]
    return rounds


@pytest.mark.timeout(540)
def test_every_flower_round_is_an_on_chain_round_with_the_poisoned_update_excluded(
    governed: list[GovernedRound], client: GovLedgerClient, ledger: Ledger, model: Model
) -> None:
    expected_base = model.base_version_id
    for done in governed:
        assert done.cancelled is None
        chain = ledger.round(done.round_id)
        assert chain.state == RoundState.FINALIZED
        assert chain.aggregate_version_id == done.version_id
        # the base is the last approved aggregate: round 2 trains from round 1's
        assert done.base_version_id == chain.base_version_id == expected_base
        # only what the gate accepted is on chain: not the node without the right, not the liar
        submitters = {a.lower() for a in ledger.submitters(done.round_id)}
        assert submitters == {NODES[p].address.lower() for p in (*HONEST, POISONED)}
        # the chain says why the poisoned update is not in the aggregate
        assert ledger.exclusions(done.round_id) == {
            NODES[POISONED].address: ExclusionReason.NOT_SELECTED
        }
        assert {u.participant.lower() for u in ledger.included_updates(done.round_id)} == {
            NODES[p].address.lower() for p in HONEST
        }
        assert [e.participant for e in done.excluded] == [NODES[POISONED].address]
        # the aggregate is a version for the members' vote (who approved it), its parent the base
        assert done.version_id is not None
        version = client.get_version(done.version_id)
        assert (version.kind, version.parent_id) == ("aggregate", expected_base)
        assert version.state == "approved"
        # anyone re-running the aggregation from the chain and the stored updates gets its bytes
        check = client.verify_round(done.round_id)
        assert check.matches, check
        assert check.aggregate_cid == done.aggregate_cid
        expected_base = done.version_id


@pytest.mark.timeout(540)
def test_the_strategy_reads_replies_as_claims_and_reports_refusals(
    governed: list[GovernedRound], ledger: Ledger
) -> None:
    for done in governed:
        # (the liar claims honest node 0's address: its report is looked at below)
        by_account = {
            r.participant.lower(): r
            for r in done.reports
            if r.participant and r.update_cid != FAKE_CID
        }
        for p in (*HONEST, POISONED):
            report = by_account[NODES[p].address.lower()]
            assert (report.status, report.on_chain) == (records.RECORDED, True)
            update = ledger.update_of(done.round_id, NODES[p].address)
            assert update is not None
            assert report.transaction.startswith("0x") and len(report.transaction) == 66
        # the node without the right was refused by the gate and said so; nothing recorded
        refused = by_account[NODES[NO_RIGHT].address.lower()]
        assert refused.status == records.REFUSED
        assert refused.contract_error == "RoundsNotContributor", refused
        assert ledger.update_of(done.round_id, NODES[NO_RIGHT].address) is None
        # the liar's claim is not backed by the chain and changed nothing
        lies = [r for r in done.reports if r.update_cid == FAKE_CID]
        assert len(lies) == 1 and lies[0].on_chain is False
        assert len(done.reports) == len(NODES)
        assert len(done.recorded) == len(HONEST) + 1


@pytest.mark.timeout(540)
def test_each_round_says_where_its_time_went(governed: list[GovernedRound]) -> None:
    """What scripts/bench_flower.py reads (the figures themselves belong to the benchmark)."""
    steps = {"open", "sign", "wait-for-nodes", "close", "read", "aggregate", "finalize"}
    for done in governed:
        assert set(done.seconds) == steps | {"download", "round"}
        assert all(s >= 0 for s in done.seconds.values())
        for report in done.reports:
            if report.on_chain:  # a node that took part: each of its steps, as it reports them
                assert set(report.seconds) == {"fetch", "train", "submit", "sign", "total"}
            elif report.status == records.REFUSED:  # the gate refused it: no submit finished
                assert "submit" not in report.seconds
