"""The governed Flower app (``flower_app/``) under Flower's deployment engine against the
session's stack: a SuperLink and five SuperNodes as processes on free loopback ports, a temporary
``FLWR_HOME``, ``flwr run`` of the app, every process stopped by its id afterwards. Asserted on
the run's status as the SuperLink reports it and on the chain's record, not on ``flwr run``'s exit
code (it exits 0 when the ServerApp crashes). One round (each ClientApp is a fresh process that
imports torch: minutes on a busy 2-core machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.chain.accounts import dev_account
from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.chain.types import RoundState
from service.client import GovLedgerClient
from service.flower.deployment import LocalDeployment, SuperNodeSpec
from service.ml.aggregate import ExclusionReason
from service.ml.digits import save_safetensors
from service.ml.federated import sample_shard, train_base
from tests.cli.conftest import unique
from tests.stack import Stack

OWNER, FOUNDERS = dev_account(1), (dev_account(2), dev_account(3))
NODES = {p: dev_account(20 + p) for p in range(5)}  # partition -> account; 4 is poisoned
POISONED = 4


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_app_runs_a_governed_round_on_the_deployment_engine(
    stack: Stack, tmp_path: Path
) -> None:
    ledger: Ledger = connect_ledger(stack.settings)
    with GovLedgerClient(base_url=stack.url, timeout=120) as client:
        model_id = client.register_model(OWNER, unique("flower-deploy")).model.model_id
        base = tmp_path / "base.safetensors"
        base.write_bytes(save_safetensors(train_base(sample_shard(300, seed=1))))
        version_id = client.propose_version(
            OWNER, model_id, base, artifact_format="safetensors"
        ).version.version_id
        for voter in FOUNDERS:
            client.cast_vote(voter, version_id, "for")
        for account in NODES.values():
            client.grant_rights(OWNER, model_id, account.address, ["submit_updates"])

        deployment = LocalDeployment(
            home=tmp_path / "flwr",
            env={"GOVLEDGER_FLOWER_COORDINATOR_KEY": OWNER.key.hex()},
            nodes=[
                SuperNodeSpec(
                    node_config={
                        "partition-id": p,
                        "govledger-key-env": f"GOVLEDGER_NODE_KEY_{p}",
                        "govledger-account": account.address,
                        "govledger-poisoned": p == POISONED,
                    },
                    env={f"GOVLEDGER_NODE_KEY_{p}": account.key.hex()},
                )
                for p, account in NODES.items()
            ],
        )
        try:
            deployment.start()
            run_id = deployment.run(
                {
                    "model-id": model_id,
                    "base-version-id": version_id,
                    "service-url": stack.url,
                    "num-server-rounds": 1,
                }
            )
            status = deployment.wait(run_id, timeout=780)
            log = deployment.log(run_id)
        finally:
            deployment.stop()
        assert status == "finished:completed", log
        rounds = client.rounds(model_id=model_id).items
        assert len(rounds) == 1, log
        (round_,) = rounds
        chain = ledger.round(round_.round_id)
        assert chain.state == RoundState.FINALIZED
        assert {a.lower() for a in ledger.submitters(round_.round_id)} == {
            a.address.lower() for a in NODES.values()
        }
        assert ledger.exclusions(round_.round_id) == {
            NODES[POISONED].address: ExclusionReason.NOT_SELECTED
        }
        assert chain.aggregate_version_id is not None
        aggregate = client.get_version(chain.aggregate_version_id)
        assert (aggregate.kind, aggregate.parent_id) == ("aggregate", version_id)
        assert client.verify_round(round_.round_id).matches
