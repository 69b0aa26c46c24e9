"""A ledger to audit, made on the session's stack through the service (and, for an accelerated
build's documents, straight into its store): models with metadata, versions approved and one
whose ballot expired without an event, an alias, rights granted and revoked, a read policy
changed, a transfer pending, a finalized round (Krum, two updates excluded) and an accelerated
build version with its recipe and metrics documents. The audit reads the chain and the store
directly, never the service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from service.audit import AuditReport, audit
from service.chain.ledger import Ledger
from service.chain.types import VersionKind
from service.client import GovLedgerClient
from service.domain.build_documents import RECIPE_SCHEMA, REPORT_SCHEMA, VERSION_SCHEMA, cid_of
from service.store.embedded import EmbeddedStore
from tests import scenes
from tests.cli.conftest import unique
from tests.scenes import (  # noqa: F401 (the audit's tests import them from here)
    LARGE,
    PARTICIPANTS,
    block_number,
    chain_time,
    krum_round,
    relayed_ledger,
    rpc,
)
from tests.stack import Stack


def weights(seed: int, scale: float = 1.0) -> bytes:
    return scenes.weights(seed, scale, shape=LARGE)


def run_audit(stack: Stack, from_block: int) -> AuditReport:
    settings = stack.settings
    with EmbeddedStore(settings.store_dir) as store:
        return audit(
            rpc_url=settings.rpc_url,
            deployment_file=settings.deployment_file,
            store=store,
            from_block=from_block,
        )


@dataclass(frozen=True)
class Ledgered:
    """What the scenario made, and the audit of it right after (before any fault)."""

    start_block: int
    model_id: int
    model_name: str
    approved: int  # version id: the round's base, aliased production
    approved_bytes: bytes
    approved_metadata: bytes  # its metadata document
    expired: int  # version id whose ballot expired with one vote against
    round_id: int
    aggregate: int  # version id
    build: int  # version id of the accelerated build
    clean: AuditReport


def submit_round(
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    stack: Stack,
    tmp: Path,
    model_id: int,
    base_id: int,
) -> int:
    """A Krum round on ``base_id`` with three updates, closed at its maximum; its id."""
    return krum_round(
        client, accounts, stack, tmp, model_id, base_id, min_updates=3, max_updates=3, shape=LARGE
    )


accounts = scenes.accounts
client = scenes.client


@pytest.fixture(scope="package")
def ledger(stack: Stack) -> Ledger:
    return relayed_ledger(stack, 9)


@pytest.fixture(scope="package")
def ledgered(
    stack: Stack,
    client: GovLedgerClient,
    ledger: Ledger,
    accounts: list[LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Ledgered:
    tmp = tmp_path_factory.mktemp("audit")
    owner, voters = accounts[1], accounts[2:4]
    start = block_number(stack) + 1

    # a model with a metadata document, a version approved with its own document, aliased
    about = client.store_metadata(owner, {"description": "audited model", "run": unique("r")})
    name = unique("audit")
    model_id = client.register_model(owner, name, metadata_digest=about.digest).model.model_id
    approved_bytes = weights(1)
    (tmp / "v1.safetensors").write_bytes(approved_bytes)
    metadata_document = json.dumps({"description": "the base", "seed": 1}).encode()
    meta = client.store_metadata(owner, metadata_document)
    v1 = client.propose_version(
        owner,
        model_id,
        tmp / "v1.safetensors",
        artifact_format="safetensors",
        metadata_digest=meta.digest,
    ).version.version_id
    for voter in voters:
        client.cast_vote(voter, v1, "for")
    client.move_alias(owner, model_id, "production", v1)

    # rights granted, one granted and revoked; a second model restricted, opened, handed over
    for i in PARTICIPANTS:
        client.grant_rights(owner, model_id, accounts[i].address, ["submit_updates"])
    client.grant_rights(owner, model_id, accounts[4].address, ["read_artifacts", "maintain"])
    client.revoke_rights(owner, model_id, accounts[4].address, ["maintain"])
    other = client.register_model(owner, unique("audit-b"), restricted=True).model.model_id
    client.set_read_policy(owner, other, restricted=False)
    client.transfer_model(owner, other, accounts[4].address)  # pending, not accepted

    # a version whose ballot expires with one vote against: no event says it was rejected
    (tmp / "v2.safetensors").write_bytes(weights(2))
    v2 = client.propose_version(
        owner, model_id, tmp / "v2.safetensors", artifact_format="safetensors"
    ).version.version_id
    client.cast_vote(voters[0], v2, "against")
    rpc(stack, "evm_increaseTime", 3601)  # the stack's voting period is an hour
    rpc(stack, "evm_mine")

    # a federated round, aggregated and finalized through the service
    round_id = submit_round(client, accounts, stack, tmp, model_id, v1)
    aggregate = int(client.finalize_round(owner, round_id).version_id)

    # an accelerated build: its artifact, recipe and metrics documents, relayed proposal
    with EmbeddedStore(stack.settings.store_dir) as store:
        artifact = store.put(b"an onnx graph stands here " + unique("b").encode())
    recipe = client.store_metadata(owner, {"schema": RECIPE_SCHEMA, "build": "int8-dynamic"})
    report = client.store_metadata(owner, {"schema": REPORT_SCHEMA, "rows": []})
    document = client.store_metadata(
        owner,
        {
            "schema": VERSION_SCHEMA,
            "model_id": model_id,
            "build": "int8-dynamic",
            "artifact": {
                "cid": str(artifact.cid),
                "digest": "0x" + artifact.cid.digest.hex(),
                "size": artifact.size,
                "format": "onnx",
            },
            "parent": {
                "model_id": model_id,
                "version_id": v1,
                "artifact_digest": "0x" + cid_of(approved_bytes).digest.hex(),
            },
            "recipe": {"cid": recipe.cid, "digest": recipe.digest},
            "metrics": {"cid": report.cid, "digest": report.digest},
        },
    )
    build = ledger.propose_version(
        owner,
        model_id,
        artifact.cid.digest,
        parent_id=v1,
        kind=VersionKind.ACCELERATED,
        metadata_digest=document.digest,
    )
    return Ledgered(
        start_block=start,
        model_id=model_id,
        model_name=name,
        approved=v1,
        approved_bytes=approved_bytes,
        approved_metadata=metadata_document,
        expired=v2,
        round_id=round_id,
        aggregate=aggregate,
        build=build,
        clean=run_audit(stack, start),
    )
