"""The start of every Flower scenario here (the demo, its benchmark, the tests): a model whose
first base, trained on a shard of the digits, is approved by the founders, with SubmitUpdates
granted to the organisations' accounts. Needs no Flower: it is a client of the service."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from eth_account.signers.local import LocalAccount

from service.client import GovLedgerClient
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
