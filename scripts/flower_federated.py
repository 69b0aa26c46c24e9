"""The federated digits scenario under Flower's deployment engine: a SuperLink and one SuperNode
per organisation as local processes, the governed app (flower_app/) started with ``flwr run``.

    .venv/bin/python scripts/flower_federated.py [--url http://127.0.0.1:8000] [--rounds 2]

Without ``--url`` it starts a throwaway local stack (anvil and the service on free ports) and stops
it at the end. Five organisations (anvil dev accounts 5 to 9, the last sending its update scaled
by -4) each run a SuperNode whose node config names its key variable and its account. The owner
(dev account 1) trains a first base, the founders approve it, the owner grants the five
SubmitUpdates. Each round is one ``flwr run`` of the app at the last approved version (Multi-Krum
f=1); after it the founders vote the aggregate in, so the next run starts from it. A table prints
per round the held-out accuracy, who the chain records as included and excluded and why. Every
Flower process is stopped by its id at the end. One round takes minutes on two cores: each
ClientApp call is a fresh process that imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safetensors.numpy import load as safetensors_load

from service.chain.accounts import dev_account
from service.client import ClientFailure, GovLedgerClient
from service.devstack import Stack
from service.flower.deployment import LocalDeployment, SuperNodeSpec
from service.ml.digits import save_safetensors
from service.ml.federated import accuracy, sample_shard, train_base

OWNER, FOUNDERS = dev_account(1), (dev_account(2), dev_account(3))
ORGS = {p: dev_account(5 + p) for p in range(5)}
POISONED = 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service (default: a throwaway local stack)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--round-timeout", type=float, default=900.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govledger-flower-") as tmp:
        stack = None if args.url else Stack(data_dir=Path(tmp) / "stack").start()
        url = args.url or (stack.url if stack else "")
        try:
            with GovLedgerClient(base_url=url, timeout=120) as client:
                return run(client, Path(tmp), rounds=args.rounds, timeout=args.round_timeout)
        except ClientFailure as exc:
            print(f"flower scenario failed: {exc}", file=sys.stderr)
            return 1
        finally:
            if stack is not None:
                stack.stop()


def run(client: GovLedgerClient, tmp: Path, *, rounds: int, timeout: float) -> int:
    name = f"digits-flower-{os.urandom(3).hex()}"
    model_id = client.register_model(OWNER, name).model.model_id
    base = tmp / "base.safetensors"
    base.write_bytes(save_safetensors(train_base(sample_shard(300, seed=1))))
    version_id = client.propose_version(
        OWNER, model_id, base, artifact_format="safetensors"
    ).version.version_id
    for voter in FOUNDERS:
        client.cast_vote(voter, version_id, "for")
    for org in ORGS.values():
        client.grant_rights(OWNER, model_id, org.address, ["submit_updates"])
    print(f"model {name} (id {model_id}), base version {version_id} approved; 5 organisations")
    deployment = LocalDeployment(
        home=tmp / "flwr",
        env={"GOVLEDGER_FLOWER_COORDINATOR_KEY": OWNER.key.hex()},
        nodes=[
            SuperNodeSpec(
                node_config={
                    "partition-id": p,
                    "govledger-key-env": f"GOVLEDGER_ORG_KEY_{p}",
                    "govledger-account": org.address,
                    "govledger-poisoned": p == POISONED,
                },
                env={f"GOVLEDGER_ORG_KEY_{p}": org.key.hex()},
            )
            for p, org in ORGS.items()
        ],
    )
    names = {org.address.lower(): f"org{p + 1}" for p, org in ORGS.items()}
    rows = []
    try:
        deployment.start()
        print(f"SuperLink on 127.0.0.1:{deployment.port}, 5 SuperNodes (org5 poisoned)")
        for n in range(1, rounds + 1):
            config = {"model-id": model_id, "base-version-id": version_id, "num-server-rounds": 1}
            run_id = deployment.run({**config, "service-url": client.base_url})
            status = deployment.wait(run_id, timeout=timeout)
            print(f"round {n}: Flower run {run_id} {status}")
            latest = client.rounds(model_id=model_id).items
            done = max(latest, key=lambda r: r.round_id)
            if status != "finished:completed" or done.aggregate_version_id is None:
                print(deployment.log(run_id), file=sys.stderr)
                return 1
            aggregation = client.aggregate_round(done.round_id)
            for voter in FOUNDERS:
                client.cast_vote(voter, done.aggregate_version_id, "for")
            version_id = done.aggregate_version_id
            with tempfile.TemporaryDirectory() as t:
                got = client.download_version(version_id, Path(t) / "a.safetensors")
                acc = accuracy(safetensors_load(got.path.read_bytes()))
            check = client.verify_round(done.round_id)
            rows.append(
                (
                    done.round_id,
                    version_id,
                    acc,
                    ", ".join(names.get(i.participant.lower(), "?") for i in aggregation.included),
                    ", ".join(
                        f"{names.get(e.participant.lower(), '?')} ({e.reason})"
                        for e in aggregation.excluded
                    ),
                    check.matches,
                )
            )
    finally:
        deployment.stop()
    print(f"\n{'round':>5}  version  held-out acc  {'included':<24}  {'excluded':<20}  verified")
    for r in rows:
        print(f"{r[0]:>5}  {r[1]:>7}  {r[2]:>12.3f}  {r[3]:<24}  {r[4] or '-':<20}  {r[5]}")
    return 0 if all(r[5] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
