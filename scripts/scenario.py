"""The scripted end-to-end scenario against a running local stack (`govledger up` first).

    .venv/bin/python scripts/scenario.py [--url http://127.0.0.1:8000]

A real small PyTorch model (an MLP on scikit-learn's digits) is trained, registered by its
owner, uploaded and proposed, voted on by three members, approved, aliased to `production`,
downloaded and verified against the chain. Then the service builds accelerated versions of it
(ONNX Runtime fp32 and int8, measured side by side with PyTorch), the owner signs the proposal of
two of them, the members approve them, `fast` points at the int8 one, and both predict through
the service (scripts/accelerate_steps.py). Every step is printed. The scenario can run again on
the same stack: it reuses the model and the fourth member and proposes a new version, trained
with another seed (the ledger refuses the same bytes twice as versions of one model).

Accounts are anvil's public dev accounts (local chain only): 1 is the model's owner and a
founding member, 2 and 3 are founding members, 4 joins by the members' vote first (so that a
version needs three votes: the quorum is a majority, 3 of 4).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelerate_steps import accelerate_approved_version

from service.chain.accounts import dev_account
from service.chain.setup import connect_ledger
from service.client import ClientFailure, GovLedgerClient
from service.config import get_settings
from service.ml.digits import evaluate, load_safetensors, save_safetensors, train_digits_mlp
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid

MODEL_NAME = "digits-mlp"


def step(n: int, title: str) -> None:
    print(f"\n[{n}] {title}")


def say(text: str) -> None:
    print(f"    {text}")


def main() -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=settings.service_url)
    parser.add_argument(
        "--no-compare-torch",
        action="store_true",
        help="measure the builds against eager PyTorch only (skips about a minute of "
        "torch.compile and torchao compilation)",
    )
    parser.add_argument(
        "--no-builds", action="store_true", help="stop after the download (no accelerated builds)"
    )
    args = parser.parse_args()
    client = GovLedgerClient(base_url=args.url, timeout=120)
    try:
        run(client, compare_torch=not args.no_compare_torch, builds=not args.no_builds)
    except ClientFailure as exc:
        print(f"\nscenario failed: {exc}", file=sys.stderr)
        return 1
    return 0


def run(client: GovLedgerClient, *, compare_torch: bool = True, builds: bool = True) -> None:
    owner, member2, member3, newcomer = (dev_account(i) for i in (1, 2, 3, 4))

    step(1, "The stack")
    ready = client.ready()
    info = client.info()
    say(
        f"service {client.base_url}: ready={ready.ready} (chain {ready.chain}, store {ready.store})"
    )
    say(
        f"chain id {info.chain_id}; Consortium {info.contracts['Consortium'].address}; "
        f"ModelRegistry {info.contracts['ModelRegistry'].address}"
    )
    say(f"relayer {info.relayer} pays the gas; it can act for nobody: every write is signed")

    step(2, "The consortium")
    members = [m.address for m in client.members()]
    say(f"members: {', '.join(members)}")
    if newcomer.address not in members:
        written = client.propose_change(owner, "add_member", account=newcomer.address)
        proposal = written.proposal.proposal_id
        say(f"member {owner.address} proposes adding {newcomer.address} (proposal {proposal})")
        for voter in (owner, member2):
            state = client.vote_on_change(voter, proposal, "for").proposal.state
            say(f"member {voter.address} votes for -> proposal {state}")
    consortium = client.consortium()
    say(
        f"{len(consortium.members)} members; quorum {consortium.quorum_bps / 100:.2f}% "
        f"-> a version needs {consortium.required_votes} For votes"
    )

    step(3, "Train a real model")
    started = time.perf_counter()
    try:  # a run after the first trains with the next seed: new weights, a new version
        seed = client.list_versions(client.get_model_by_name(MODEL_NAME).model_id).total
    except ClientFailure:
        seed = 0
    model, metrics = train_digits_mlp(seed=seed)
    weights = save_safetensors(model)
    cid, size = compute_cid(iter_chunks([weights]))
    say(
        f"MLP on sklearn digits: test accuracy {metrics.test_accuracy:.4f} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    say(f"safetensors: {size} bytes, CID {cid} (computed locally)")

    step(4, "Register the model (owner)")
    model_doc = {"name": MODEL_NAME, "task": "digit classification (8x8 images)",
                 "framework": "pytorch", "architecture": "mlp 64-128-64-10"}  # fmt: skip
    model_meta = client.store_metadata(owner, model_doc)  # signed: members only
    try:
        model_id = client.get_model_by_name(MODEL_NAME).model_id
        say(f"model {MODEL_NAME!r} exists already: id {model_id}")
    except ClientFailure:
        written = client.register_model(owner, MODEL_NAME, metadata_digest=model_meta.digest)
        model_id = written.model.model_id
        say(f"registered {MODEL_NAME!r} as model {model_id}, owner {written.model.owner}")
        say(f"metadata {model_meta.cid}; tx {written.transaction.transaction_hash}")

    step(5, "Upload and propose a version (one signed call)")
    version_doc = {
        "description": f"MLP 64-128-64-10 on sklearn digits, seed {metrics.seed}",
        "tags": {"data": "sklearn-digits", "seed": str(metrics.seed)},
        "model": MODEL_NAME,
        "artifact": {"cid": str(cid), "size": size, "format": "safetensors"},
        "metrics": {
            "test_accuracy": metrics.test_accuracy,
            "train_accuracy": metrics.train_accuracy,
        },
        "training": {"seed": metrics.seed, "epochs": metrics.epochs, "data": "sklearn load_digits"},
    }
    version_meta = client.store_metadata(owner, version_doc)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digits-mlp.safetensors"
        path.write_bytes(weights)
        written_v = client.propose_version(
            owner,
            model_id,
            path,
            artifact_format="safetensors",
            metadata_digest=version_meta.digest,
        )
    version = written_v.version
    label = f"{MODEL_NAME}@{version.number}"
    say(f"{label} (version id {version.version_id}): artifact {version.artifact_cid}")
    say(
        f"on chain: artifact digest {version.artifact_digest}, state {version.state}, "
        f"needs {version.ballot.required} of {version.ballot.eligible} members"
    )

    step(6, "Three members vote")
    for voter in (owner, member2, member3):
        vote = client.cast_vote(voter, version.version_id, "for")
        say(
            f"{voter.address} votes {vote.vote.support} at block {vote.vote.block_number} "
            f"-> {label} {vote.state}"
        )

    step(7, "Alias production")
    client.move_alias(owner, model_id, "production", version.version_id)
    for move in client.alias_history(model_id, "production"):
        was = f"@{move.previous_version_number}" if move.previous_version_number else "unset"
        say(
            f"block {move.block_number}: production -> {MODEL_NAME}@{move.version_number} "
            f"(was {was}) by {move.by}"
        )

    step(8, "Download and verify against the chain")
    with tempfile.TemporaryDirectory() as tmp:
        production = client.get_alias(model_id, "production").version_id
        if production is None:
            raise SystemExit("the production alias is not set after step 7")
        download = client.download_version(production, Path(tmp) / "model.safetensors")
        data = download.path.read_bytes()
        say(f"downloaded {download.size} bytes; CID recomputed locally: {download.cid}")
        # an auditor's check, straight from the chain, not from the service
        record = connect_ledger(get_settings()).version(production)
        recomputed, _ = compute_cid(iter_chunks([data]))
        if recomputed.digest != record.artifact_digest:
            raise SystemExit("the downloaded bytes are not what the chain records")
        say(
            f"chain's version {production}: digest 0x{record.artifact_digest.hex()} "
            f"== digest of the downloaded bytes; state {record.state.name.lower()}"
        )
        restored = load_safetensors(data)
        say(
            f"loaded without unpickling; test accuracy {evaluate(restored):.4f} "
            f"(trained: {metrics.test_accuracy:.4f})"
        )
        meta = client.get_version(production).metadata_digest
        say(f"version metadata digest {meta}: " + json.dumps(version_doc["metrics"]))

    if not builds:
        print(
            "\nscenario complete: registered, proposed, approved by vote, aliased, downloaded "
            "and verified against the chain"
        )
        return
    step(9, "Accelerated builds: measured, proposed, approved, aliased fast, predicting")
    accelerate_approved_version(
        client,
        owner=owner,
        voters=(owner, member2, member3),
        model_id=model_id,
        version_id=version.version_id,
        weights=weights,
        compare_torch=compare_torch,
        say=say,
    )
    print(
        "\nscenario complete: registered, proposed, approved by vote, aliased, downloaded and "
        "verified against the chain; accelerated builds measured, proposed, approved and serving"
    )


if __name__ == "__main__":
    sys.exit(main())
