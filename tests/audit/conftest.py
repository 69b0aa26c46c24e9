"""A ledger to audit, made on the session's stack through the service (and, for an accelerated
build's documents, straight into its store): models with metadata, versions approved and one
whose ballot expired without an event, an alias, rights granted and revoked, a read policy
changed, a transfer pending, a finalized round (Krum, two updates excluded) and an accelerated
build version with its recipe and metrics documents. The audit reads the chain and the store
directly, never the service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from safetensors.numpy import save as save_numpy

from service.audit import AuditReport, audit
from service.chain.accounts import dev_account, dev_accounts
from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.chain.types import VersionKind
from service.client import GovLedgerClient
from service.domain.build_documents import RECIPE_SCHEMA, REPORT_SCHEMA, VERSION_SCHEMA, cid_of
from service.ml.safetensors_format import with_sorted_metadata
from service.store.embedded import EmbeddedStore
from tests.cli.conftest import unique
from tests.stack import Stack

PARTICIPANTS = (5, 6, 7)  # dev accounts outside the consortium
SHAPE = (300, 300)  # float32: 360 KB, two 256 KiB chunks (a dag-pb root and raw leaves)


def weights(seed: int, scale: float = 1.0) -> bytes:
    rng = np.random.default_rng(seed)
    arrays = {
        "weight": (rng.standard_normal(SHAPE) * scale).astype(np.float32),
        "bias": (rng.standard_normal(SHAPE[-1:]) * scale).astype(np.float32),
    }
    return with_sorted_metadata(save_numpy(arrays))


def rpc(stack: Stack, method: str, *params: Any) -> Any:
    answer = httpx.post(
        stack.settings.rpc_url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        timeout=30,
    ).json()
    assert "error" not in answer, answer
    return answer["result"]


def block_number(stack: Stack) -> int:
    return int(rpc(stack, "eth_blockNumber"), 16)


def chain_time(stack: Stack) -> int:
    return int(rpc(stack, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)


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
    tmp_path: Path,
    model_id: int,
    base_id: int,
) -> int:
    """A Krum round on ``base_id`` with three updates, closed at its maximum; its id."""
    owner = accounts[1]
    opened = client.open_round(
        owner,
        model_id,
        base_version_id=base_id,
        rule="krum",
        params={"f": 0},
        min_updates=3,
        max_updates=3,
        submission_deadline=chain_time(stack) + 3600,
        max_norm=1000.0,
    )
    round_id = int(opened.round.round_id)
    for n, i in enumerate(PARTICIPANTS):
        path = tmp_path / f"update-{round_id}-{i}.safetensors"
        path.write_bytes(weights(100 + 10 * round_id + n, scale=0.01))
        client.submit_update(accounts[i], round_id, path, sample_count=10 + n)
    return round_id


@pytest.fixture(scope="package")
def accounts() -> list[LocalAccount]:
    return dev_accounts(10)


@pytest.fixture(scope="package")
def client(stack: Stack) -> Iterator[GovLedgerClient]:
    with GovLedgerClient(base_url=stack.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="package")
def ledger(stack: Stack) -> Ledger:
    """The chain adapter with a relayer of its own (dev account 9), so that its relayed
    actions never race the service's relayer for nonces."""
    return connect_ledger(stack.settings, relayer=dev_account(9))


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
