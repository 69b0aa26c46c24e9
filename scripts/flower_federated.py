"""The federated digits scenario under Flower's deployment engine, then ``govledger audit`` over
the ledger it leaves: a SuperLink and one SuperNode per organisation as local processes (from
``.venv-flower``), the governed app (``flower_app/``) started with ``flwr run``.

    bash scripts/flower_demo.sh            # set up, govledger up, then this
    .venv/bin/python scripts/flower_federated.py [--rounds 2] [--throwaway]

Against the local stack the ``GOVLEDGER_*`` settings name (``govledger up``), or with
``--throwaway`` a stack of its own on free ports, stopped at the end. Five organisations (anvil
dev accounts 5 to 9, the last sending its update scaled by -4) each run a SuperNode whose node
config names its key variable and its account; the Flower processes run from
``<data_dir>/flower`` (``govledger flower status`` shows them meanwhile) and are stopped by their
ids at the end. The owner (dev account 1) trains a first base, the founders approve it, the owner
grants the five SubmitUpdates. Each round is one ``flwr run`` of the app at the last approved
version (Multi-Krum f=1); its status must be ``finished:completed`` (``flwr run`` itself exits 0
even when the ServerApp crashes); after it the founders vote the aggregate in, so the next run
starts from it. The table per round comes from the chain's RoundFinalized events: held-out
accuracy, who was included and excluded and why, whether the aggregation re-run gives the same
bytes. Exits 0 only if every round finished, the poisoned organisation was excluded in each, and
the audit passed. One round takes minutes on two cores: each ClientApp call is a fresh process
that imports torch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from safetensors.numpy import load as safetensors_load

from service.chain.accounts import dev_account
from service.client import ClientFailure, GovLedgerClient
from service.config import PROJECT_ROOT, Settings
from service.devstack import Stack
from service.flower.deployment import DeploymentError, LocalDeployment
from service.flower.scene import approved_base, org_deployment
from service.ml.federated import accuracy

OWNER, FOUNDERS = dev_account(1), (dev_account(2), dev_account(3))
ORGS = {p: dev_account(5 + p) for p in range(5)}
POISONED = 4
NAMES = {org.address.lower(): f"org{p + 1}" for p, org in ORGS.items()}


@dataclass(frozen=True)
class Row:
    round_id: int
    version_id: int
    seconds: float
    accuracy: float
    included: list[str]
    excluded: list[str]
    verified: bool
    gas_updates: int  # the updates' transactions (several updates may share one)
    gas_finalize: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--round-timeout", type=float, default=900.0)
    parser.add_argument(
        "--throwaway", action="store_true", help="a stack of its own on free ports, stopped after"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govledger-flower-") as tmp:
        stack = Stack(data_dir=Path(tmp) / "stack").start() if args.throwaway else None
        env = {**os.environ, **(stack.env if stack else {})}
        settings = stack.settings if stack else Settings()
        try:
            with GovLedgerClient(base_url=settings.service_url, timeout=120) as client:
                rows = run(
                    client,
                    settings.data_dir / "flower",
                    settings.rpc_url,
                    rounds=args.rounds,
                    args=args,
                )
            if rows is None:
                return 1
            print_table(rows)
            poisoned = NAMES[ORGS[POISONED].address.lower()]
            if not all(r.verified and any(poisoned in e for e in r.excluded) for r in rows):
                print(f"\nflower scenario failed: {poisoned} not excluded, or a round not verified")
                return 1
            print(f"\n{poisoned}'s poisoned update was excluded in every round, on chain")
            return audit(env)
        except (ClientFailure, DeploymentError) as exc:
            print(f"flower scenario failed: {exc}", file=sys.stderr)
            return 1
        finally:
            if stack is not None:
                stack.stop()


def run(
    client: GovLedgerClient, home: Path, rpc_url: str, *, rounds: int, args: argparse.Namespace
) -> list[Row] | None:
    if LocalDeployment.recorded(home) is not None:
        raise DeploymentError(f"Flower processes already run from {home}: govledger flower down")
    name = f"digits-flower-{os.urandom(3).hex()}"
    granted = [org.address for org in ORGS.values()]
    model_id, version_id = approved_base(client, OWNER, FOUNDERS, name, granted)
    print(f"model {name} (id {model_id}), base version {version_id} approved; 5 organisations")
    deployment = org_deployment(home, OWNER, ORGS, poisoned=POISONED)
    rows = []
    try:
        deployment.start()
        pids = ", ".join(f"{p.role} {p.pid}" for p in deployment.processes)
        print(f"SuperLink on 127.0.0.1:{deployment.port}, 5 SuperNodes (org5 poisoned): {pids}")
        deployment.wait_for_nodes(len(ORGS), timeout=120)
        for n in range(1, rounds + 1):
            config = {"model-id": model_id, "base-version-id": version_id, "num-server-rounds": 1}
            started = time.monotonic()
            run_id = deployment.run({**config, "service-url": client.base_url})
            status = deployment.wait(run_id, timeout=args.round_timeout)
            seconds = time.monotonic() - started
            print(f"round {n}: Flower run {run_id} {status} in {seconds:.0f} s", flush=True)
            done = max(client.rounds(model_id=model_id).items, key=lambda r: r.round_id)
            if status != "finished:completed" or done.aggregate_version_id is None:
                print(deployment.log(run_id), file=sys.stderr)
                return None
            version_id = done.aggregate_version_id
            for voter in FOUNDERS:
                client.cast_vote(voter, version_id, "for")
            rows.append(row(client, rpc_url, model_id, done.round_id, version_id, seconds))
    finally:
        deployment.stop()
    return rows


def row(
    client: GovLedgerClient, rpc_url: str, model_id: int, round_id: int, version_id: int, s: float
) -> Row:
    """The round as the chain's RoundFinalized event records it, the aggregate's accuracy on the
    held-out digits, and the aggregation re-run here."""
    entries = [
        e
        for e in client.timeline_entries(model_id, kinds=["round_finalized", "update_submitted"])
        if e.round_id == round_id
    ]
    (event,) = [e for e in entries if e.kind == "round_finalized"]
    details = event.details
    # gas from the receipts: the service's relayer may carry several updates in one transaction
    updates = {e.transaction_hash for e in entries if e.kind == "update_submitted"}
    gas_updates = sum(gas_used(rpc_url, h) for h in updates if h)
    gas_finalize = gas_used(rpc_url, event.transaction_hash) if event.transaction_hash else 0
    with tempfile.TemporaryDirectory() as t:
        got = client.download_version(version_id, Path(t) / "a.safetensors")
        acc = accuracy(safetensors_load(got.path.read_bytes()))
    check = client.verify_round(round_id)
    included = [NAMES.get(str(p).lower(), str(p)) for p in details["included"]]
    excluded = [
        f"{NAMES.get(str(x['participant']).lower(), '?')} ({x['reason']})"
        for x in details["excluded"]
    ]
    return Row(
        round_id, version_id, s, acc, included, excluded, check.matches, gas_updates, gas_finalize
    )


def gas_used(rpc_url: str, tx_hash: str) -> int:
    """The gas a transaction used, from its receipt (one JSON-RPC call to the chain)."""
    answer = httpx.post(
        rpc_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getTransactionReceipt",
            "params": [tx_hash],
        },
        timeout=30,
    ).json()
    return int(answer["result"]["gasUsed"], 16)


def print_table(rows: list[Row]) -> None:
    print(
        f"\n{'round':>5}  version  {'wall s':>6}  held-out acc  {'included':<24}  "
        f"{'excluded (on chain)':<20}  verified  {'gas updates':>11}  {'gas finalize':>12}"
    )
    for r in rows:
        print(
            f"{r.round_id:>5}  {r.version_id:>7}  {r.seconds:>6.0f}  {r.accuracy:>12.3f}  "
            f"{', '.join(r.included):<24}  {', '.join(r.excluded) or '-':<20}  "
            f"{r.verified!s:<8}  {r.gas_updates:>11}  {r.gas_finalize:>12}"
        )


def audit(env: dict[str, str]) -> int:
    """``govledger audit`` over the whole ledger of this stack, as an auditor runs it."""
    print("\ngovledger audit:", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "audit"], cwd=PROJECT_ROOT, env=env
    )
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
