"""The start of every Flower scenario here (the demo, its benchmark, the tests): a model whose
first base, trained on a shard of the digits, is approved by the founders, with SubmitUpdates
granted to the organisations' accounts; and the local deployment of one SuperNode per
organisation. Needs no Flower: it is a client of the service, and the deployment only starts
Flower's programs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from eth_account.signers.local import LocalAccount

from service.client import GovLedgerClient
from service.flower.deployment import LocalDeployment, SuperNodeSpec
from service.ml.digits import save_safetensors
from service.ml.federated import sample_shard, train_base


def approved_base(
    client: GovLedgerClient,
    owner: LocalAccount,
    voters: Iterable[LocalAccount],
    name: str,
    granted: Iterable[str],
) -> tuple[int, int]:
    """Register ``name``, propose a base trained on 300 digits (seed 1), have ``voters`` vote
    for it and grant SubmitUpdates to each of ``granted``: (model id, base version id)."""
    model_id = client.register_model(owner, name).model.model_id
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.safetensors"
        path.write_bytes(save_safetensors(train_base(sample_shard(300, seed=1))))
        version_id = client.propose_version(
            owner, model_id, path, artifact_format="safetensors"
        ).version.version_id
    for voter in voters:
        client.cast_vote(voter, version_id, "for")
    for account in granted:
        client.grant_rights(owner, model_id, account, ["submit_updates"])
    return model_id, version_id


def org_deployment(
    home: Path,
    coordinator: LocalAccount,
    orgs: Mapping[int, LocalAccount],
    *,
    poisoned: int | None = None,
) -> LocalDeployment:
    """A local deployment (not started) whose ServerApp signs as ``coordinator`` and with one
    SuperNode per organisation: partition ``p`` trained by ``orgs[p]``, whose key reaches only
    its own SuperNode's environment; partition ``poisoned``, if any, sends a poisoned update."""
    return LocalDeployment(
        home=home,
        env={"GOVLEDGER_FLOWER_COORDINATOR_KEY": coordinator.key.hex()},
        nodes=[
            SuperNodeSpec(
                node_config={
                    "partition-id": p,
                    "govledger-key-env": f"GOVLEDGER_ORG_KEY_{p}",
                    "govledger-account": org.address,
                    "govledger-poisoned": p == poisoned,
                },
                env={f"GOVLEDGER_ORG_KEY_{p}": org.key.hex()},
            )
            for p, org in orgs.items()
        ],
    )
