"""Stopping and restarting the local anvil loses nothing that was committed before the stop."""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from service.chain.accounts import dev_accounts
from service.chain.compile import Build
from service.chain.deploy import Deployment, deploy, verify_deployment
from service.chain.ledger import Ledger
from service.chain.node import LocalChain
from service.chain.types import ChangeKind, Rights, State, Support

from .conftest import free_port


def _snapshot(ledger: Ledger, model_id: int, version_ids: list[int], accounts) -> dict:
    return {
        "members": ledger.members(),
        "quorum": ledger.quorum_bps(),
        "model": ledger.model(model_id),
        "versions": [ledger.version(v) for v in version_ids],
        "votes": [[ledger.vote_of(v, a.address) for a in accounts] for v in version_ids],
        "alias": ledger.alias_of(model_id, "production"),
        "rights": [ledger.rights_of(model_id, a.address) for a in accounts],
        "proposal": ledger.proposal(1),
        "nonces": [ledger.nonce_of("ModelRegistry", a.address) for a in accounts],
        "events": [(e.name, e.block_number, e.log_index, e.args) for e in ledger.events()],
    }


def test_clean_restart_keeps_every_record_and_event(tmp_path: Path, build: Build) -> None:
    accounts = dev_accounts(6)
    relayer, a, b, c, newcomer, reader = accounts
    node = LocalChain(chain_dir=tmp_path / "chain", port=free_port())
    node.start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        deployment = deploy(
            w3=w3, deployer=relayer, build=build, founders=[a.address, b.address, c.address],
            quorum_bps=5001, voting_period_s=3600,
        )  # fmt: skip
        deployment.save(tmp_path / "deployment.json")
        ledger = Ledger(w3=w3, deployment=deployment, build=build, relayer=relayer)
        model_id = ledger.register_model(a, "restart-model", restricted=True)
        v1 = ledger.propose_version(a, model_id, b"\x01" * 32)
        ledger.cast_vote(b, v1, Support.FOR)
        ledger.cast_vote(c, v1, Support.FOR)
        v2 = ledger.propose_version(a, model_id, b"\x02" * 32, parent_id=v1)
        ledger.cast_vote(b, v2, Support.AGAINST)
        ledger.move_alias(a, model_id, "production", v1)
        ledger.grant_rights(a, model_id, reader.address, Rights.READ_ARTIFACTS)
        proposal = ledger.propose_change(a, ChangeKind.ADD_MEMBER, account=newcomer.address)
        ledger.vote_on_change(b, proposal, Support.FOR)
        ledger.vote_on_change(c, proposal, Support.FOR)
        before = _snapshot(ledger, model_id, [v1, v2], accounts)
        block_before = w3.eth.block_number
    finally:
        assert node.stop()

    assert node.info() is None
    node.start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        assert w3.eth.block_number == block_before
        deployment = Deployment.load(tmp_path / "deployment.json")
        verify_deployment(w3=w3, deployment=deployment, build=build)
        ledger = Ledger(w3=w3, deployment=deployment, build=build, relayer=relayer)
        after = _snapshot(ledger, model_id, [v1, v2], accounts)
        assert after == before
        assert newcomer.address in after["members"]
        assert after["versions"][0].state is State.APPROVED
        assert after["rights"][5] == Rights.READ_ARTIFACTS
        assert {name for name, *_ in after["events"]} >= {
            "MemberAdded", "ModelRegistered", "VersionProposed", "VoteCast",
            "VersionStateChanged", "AliasMoved", "RightsGranted", "ChangeProposed",
        }  # fmt: skip
        # the chain goes on where it stopped: nonces continue, new actions land
        ledger.cast_vote(c, v2, Support.AGAINST)
        assert ledger.version(v2).state is State.REJECTED
    finally:
        node.stop()
