"""The federated scenario against a running local stack (`govledger up` first): the README's
main job.

    .venv/bin/python scripts/federated.py [--url http://127.0.0.1:8000] [--rounds 3]

Five organisations train the digits classifier together without pooling their data. Each holds
its own key and its own shard of the training data: four are label-skewed (each sees five of the
ten digits), the fifth a random sample. The model's owner trains a first base on 300 samples of
its own, the members approve it,
and the owner grants the five the SubmitUpdates right. Then, round after round: the owner opens
a round at the latest approved version with a robust rule (Multi-Krum, f=1); each participant
fetches the base (verified against the chain), trains on its shard, and submits its update
through the service's gate — one of them sends a poisoned update (its honest one scaled by -4);
the round closes at its maximum; the service aggregates; the owner signs the aggregate into an
Aggregate version; the members vote it in; anyone re-runs the aggregation and gets the same
bytes. A table prints per round the held-out accuracy, who was included and excluded, the gas,
and the version. Then the last aggregate gets faster builds (ONNX Runtime fp32 and int8,
measured side by side with PyTorch), approved by the members, the int8 one aliased ``fast``, and
both predict through the service (scripts/accelerate_steps.py; ``--no-builds`` skips this).

Accounts are anvil's public dev accounts (local chain only): 1 owns the model and, with 2 and
3, is a founding member; 5 to 9 are the participants, 9 the poisoned one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetensors.numpy import load as safetensors_load

from service.chain.accounts import dev_account
from service.client import ClientFailure, GovLedgerClient
from service.config import get_settings
from service.ml.digits import save_safetensors
from service.ml.federated import (
    accuracy,
    l2_norm,
    label_skewed_shards,
    local_update,
    poisoned,
    sample_shard,
    train_base,
    update_bytes,
)

PARTICIPANTS = [dev_account(i) for i in (5, 6, 7, 8, 9)]
POISONED = PARTICIPANTS[-1]
RULE, PARAMS = "multi-krum", {"f": 1, "m": 4}


def step(n: int, title: str) -> None:
    print(f"\n[{n}] {title}", flush=True)


def say(text: str) -> None:
    print(f"    {text}", flush=True)


@dataclass
class RoundRow:
    round_id: int
    version_id: int
    accuracy: float
    included: list[str]
    excluded: list[str]
    gas_updates: int
    gas_finalize: int


def main() -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=settings.service_url)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--no-builds", action="store_true", help="skip the accelerated builds of the last aggregate"
    )
    parser.add_argument(
        "--no-compare-torch",
        action="store_true",
        help="measure the ONNX Runtime builds only (skips compiling the PyTorch comparisons)",
    )
    args = parser.parse_args()
    client = GovLedgerClient(base_url=args.url, timeout=120)
    try:
        rows, model_id = run(client, rounds=args.rounds)
        print_table(rows)
        if not chain_agrees(client, model_id, rows, number=4 + len(rows)):
            print("\nfederated scenario failed: the chain's events differ from the table")
            return 1
        poisoned_org = short(POISONED.address)
        if not all(any(poisoned_org in e for e in r.excluded) for r in rows):
            print(f"\nfederated scenario failed: {poisoned_org}'s update was not always excluded")
            return 1
        print(f"\nfederated scenario complete: {poisoned_org}'s poisoned updates were excluded "
              "in every round, and the chain's events record it")  # fmt: skip
        if not args.no_builds:
            build(
                client,
                model_id,
                rows[-1].version_id,
                number=5 + len(rows),
                compare_torch=not args.no_compare_torch,
            )
    except ClientFailure as exc:
        print(f"\nfederated scenario failed: {exc}", file=sys.stderr)
        return 1
    return 0


def chain_agrees(
    client: GovLedgerClient, model_id: int, rows: list[RoundRow], *, number: int
) -> bool:
    """Read each round's outcome back from the chain's events (the model's timeline, decoded
    from the contracts' logs) and compare it with the table."""
    step(number, "What the chain's events record for each round")
    finalized = {
        e.round_id: e
        for e in client.timeline_entries(model_id, kinds=["round_finalized"])
        if e.round_id is not None
    }
    agree = True
    for r in rows:
        event = finalized.get(r.round_id)
        if event is None:
            say(f"round {r.round_id}: no RoundFinalized event")
            agree = False
            continue
        excluded = [f"{short(x['participant'])} ({x['reason']})" for x in event.details["excluded"]]
        same = sorted(excluded) == sorted(r.excluded) and event.version_id == r.version_id
        agree = agree and same
        verdict = "as in the table" if same else "DIFFERS from the table"
        say(
            f"round {r.round_id}: RoundFinalized in block {event.block} (tx "
            f"{(event.transaction_hash or '')[:12]}…): aggregate version {event.version_id}, "
            f"{event.details['included_count']} included, excluded "
            f"{', '.join(excluded) or '-'}: {verdict}"
        )
    return agree


def build(
    client: GovLedgerClient, model_id: int, version_id: int, *, number: int, compare_torch: bool
) -> None:
    """Accelerated builds of the last approved aggregate: measured side by side, the int8 one
    approved and aliased ``fast``, both predicting (scripts/accelerate_steps.py)."""
    from accelerate_steps import accelerate_approved_version

    step(number, f"Faster builds of version {version_id}, the last approved aggregate")
    with tempfile.TemporaryDirectory() as tmp:
        weights = client.download_version(version_id, Path(tmp) / "w.safetensors").path.read_bytes()
    accelerate_approved_version(
        client,
        owner=dev_account(1),
        voters=[dev_account(i) for i in (1, 2, 3)],
        model_id=model_id,
        version_id=version_id,
        weights=weights,
        compare_torch=compare_torch,
        say=say,
    )


def short(address: str) -> str:
    names = {str(p.address): f"org{i + 1}" for i, p in enumerate(PARTICIPANTS)}
    return names.get(address, address[:10])


def vote_in(client: GovLedgerClient, version_id: int) -> str:
    state = "proposed"
    for voter in (dev_account(i) for i in (1, 2, 3, 4)):
        if state != "proposed":
            break
        try:
            state = client.cast_vote(voter, version_id, "for").state
        except ClientFailure as exc:  # dev account 4 is a member only if scenario.py ran first
            if "not a" not in str(exc) and "NotMember" not in str(exc):
                raise
            continue
        say(f"{voter.address} votes for -> version {version_id} {state}")
    return state


def run(client: GovLedgerClient, *, rounds: int) -> tuple[list[RoundRow], int]:
    owner = dev_account(1)
    run_id = os.urandom(3).hex()

    step(1, "The stack")
    ready = client.ready()
    info = client.info()
    say(f"service {client.base_url}: ready={ready.ready}; chain id {info.chain_id}")
    say(f"FederatedRounds {info.contracts['FederatedRounds'].address}; relayer {info.relayer}")

    step(2, "The owner's first base, approved by the members")
    owner_data = sample_shard(300, seed=1)
    model = train_base(owner_data)
    base_bytes = save_safetensors(model)
    first_accuracy = accuracy({k: v.detach().numpy() for k, v in model.state_dict().items()})
    name = f"digits-fl-{run_id}"
    registered = client.register_model(owner, name)
    model_id = registered.model.model_id
    say(f"model {name} (id {model_id}) registered by {owner.address}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.safetensors"
        path.write_bytes(base_bytes)
        written = client.propose_version(owner, model_id, path, artifact_format="safetensors")
    version_id = written.version.version_id
    say(
        f"version {version_id}: trained on the owner's own {len(owner_data)} samples, held-out "
        f"accuracy {first_accuracy:.3f}"
    )
    vote_in(client, version_id)

    step(3, "Five organisations, each with its own key and its own data")
    # the honest four hold label-skewed shards (five digits each) that together cover the
    # training data; the fifth holds a random sample of its own
    shards = [*label_skewed_shards(4, classes_each=5), sample_shard(270, seed=1, skip=300)]
    for participant, shard in zip(PARTICIPANTS, shards, strict=True):
        client.grant_rights(owner, model_id, participant.address, ["submit_updates"])
        say(
            f"{short(participant.address)} {participant.address}: {len(shard)} samples of digits "
            f"{list(shard.classes)}; SubmitUpdates granted"
            + ("  <- will send a poisoned update" if participant is POISONED else "")
        )

    rows = []
    for n in range(1, rounds + 1):
        step(3 + n, f"Round {n} at version {version_id}")
        opened = client.open_round(
            owner,
            model_id,
            base_version_id=version_id,
            rule=RULE,
            params=PARAMS,
            min_updates=len(PARTICIPANTS) - 1,
            max_updates=len(PARTICIPANTS),
            submission_deadline=(client.info().chain_time or int(time.time())) + 3600,
            max_norm=50.0,
        )
        round_id = opened.round.round_id
        say(f"round {round_id} open: rule {RULE} {PARAMS}, {len(PARTICIPANTS)} updates at most")
        gas_updates = 0
        for i, (participant, shard) in enumerate(zip(PARTICIPANTS, shards, strict=True)):
            with tempfile.TemporaryDirectory() as tmp:
                fetched = client.fetch_base(round_id, Path(tmp) / "base.safetensors")
                base = safetensors_load(fetched.path.read_bytes())
                update = local_update(base, shard, seed=100 * n + i)
                if participant is POISONED:
                    update = poisoned(update)
                path = Path(tmp) / "update.safetensors"
                path.write_bytes(update_bytes(update, round_id=round_id))
                written_update = client.submit_update(
                    participant, round_id, path, sample_count=len(shard)
                )
            gas_updates += written_update.transaction.gas_used
            say(
                f"{short(participant.address)} submits an update of norm {l2_norm(update):.2f} "
                f"(base {fetched.cid[:16]}… verified): {written_update.transaction.gas_used} gas; "
                f"round {written_update.round.state}"
            )
        aggregation = client.aggregate_round(round_id)
        for e in aggregation.excluded:
            say(f"the rule excludes {short(e.participant)}: {e.reason} ({e.detail})")
        finalized = client.finalize_round(owner, round_id)
        version_id = finalized.version_id
        say(
            f"aggregate {aggregation.aggregate_cid[:20]}… finalized by the owner as version "
            f"{version_id} ({finalized.transaction.gas_used} gas); the members vote"
        )
        if vote_in(client, version_id) != "approved":
            raise ClientFailure(f"the members did not approve version {version_id}")
        check = client.verify_round(round_id)
        say(f"re-run here from the stored updates: {check.aggregate_cid[:20]}… "
            + ("the same bytes" if check.matches else "DIFFERENT"))  # fmt: skip
        if not check.matches:
            raise ClientFailure(f"round {round_id}'s aggregate could not be reproduced")
        with tempfile.TemporaryDirectory() as tmp:
            got = client.download_version(version_id, Path(tmp) / "agg.safetensors")
            acc = accuracy(safetensors_load(got.path.read_bytes()))
        say(f"held-out accuracy of version {version_id}: {acc:.3f}")
        rows.append(
            RoundRow(
                round_id=round_id,
                version_id=version_id,
                accuracy=acc,
                included=[short(u.participant) for u in aggregation.included],
                excluded=[f"{short(e.participant)} ({e.reason})" for e in aggregation.excluded],
                gas_updates=gas_updates,
                gas_finalize=finalized.transaction.gas_used,
            )
        )
    return rows, model_id


def print_table(rows: list[RoundRow]) -> None:
    print("\nround  version  held-out acc  included                  excluded                  "
          "gas (updates / finalize)")  # fmt: skip
    for r in rows:
        print(
            f"{r.round_id:>5}  {r.version_id:>7}  {r.accuracy:>12.3f}  "
            f"{', '.join(r.included):<24}  {', '.join(r.excluded) or '-':<24}  "
            f"{r.gas_updates} / {r.gas_finalize}"
        )


if __name__ == "__main__":
    sys.exit(main())
