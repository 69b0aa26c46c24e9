"""Wall time per Flower round: the governed strategy beside plain Flower FedAvg, on the same
local deployment, data and local training, in one run; and where the governed round's extra time
goes (coordinator steps, the nodes' fetch, training, signing and submission, the service's
requests and chain calls).

    .venv/bin/python scripts/bench_flower.py [--rounds 3] [--nodes 5]

A throwaway stack (anvil, contracts, embedded store, the service) on free loopback ports and one
local Flower deployment (a SuperLink and ``--nodes`` SuperNodes from ``.venv-flower``), both
stopped at the end. The owner's approved base is the starting weights of both engines; every node
trains the same digits shard (its ``partition-id``'s) the same way (``DigitsTrainer``, 2 epochs),
none poisoned. The app (``flower_app/``) runs both engines: ``engine="plain"`` is Flower's own
FedAvg, the weights travelling in Flower's messages; ``engine="governed"`` is
``GovernedStrategy`` (Multi-Krum f=1 here as in the demo: an on-chain round opened, updates
through the service's gate, the aggregate stored and finalized as a version). The engines take
turns, one ``flwr run`` of one round each, ``--rounds`` times (plain, governed, plain, ...), so
that the machine's load drifts over both alike; each governed run starts from the same approved
base (nobody votes in between), each plain run from the same weights. The ServerApp writes each
round's timings to a file the run config names, the nodes put theirs in their replies' metrics,
and the service's ``/metrics`` (request latency by route, chain call latency by kind) is read
before and after each governed run. A round's wall time is from the strategy's
``configure_train`` to the end of its ``aggregate_train``; the rest of each ``flwr run``
(start-up, the ServerApp process, status polling) is printed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.chain.accounts import dev_account
from service.client import GovLedgerClient
from service.devstack import Stack
from service.flower.scene import approved_base, org_deployment

OWNER, FOUNDERS = dev_account(1), (dev_account(2), dev_account(3))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--round-timeout", type=float, default=900.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="govledger-bench-flower-") as tmp:
        stack = Stack(data_dir=Path(tmp) / "stack").start()
        try:
            with GovLedgerClient(base_url=stack.url, timeout=120) as client:
                return bench(client, stack, Path(tmp), args)
        finally:
            stack.stop()


def bench(client: GovLedgerClient, stack: Stack, tmp: Path, args: argparse.Namespace) -> int:
    orgs = {p: dev_account(5 + p) for p in range(args.nodes)}
    name = f"digits-bench-{os.urandom(3).hex()}"
    granted = [org.address for org in orgs.values()]
    model_id, version_id = approved_base(client, OWNER, FOUNDERS, name, granted)
    deployment = org_deployment(tmp / "flwr", OWNER, orgs)
    common = {
        "model-id": model_id,
        "base-version-id": version_id,
        "service-url": stack.url,
        "num-server-rounds": 1,
        "min-nodes": args.nodes,
        "min-updates": args.nodes,
        "max-updates": args.nodes,
        "participants": args.nodes,
    }
    reports: dict[str, list[dict[str, Any]]] = {"plain": [], "governed": []}
    outer: dict[str, float] = {"plain": 0.0, "governed": 0.0}
    service: dict[str, float] = defaultdict(float)
    try:
        deployment.start()
        deployment.wait_for_nodes(args.nodes, timeout=120)
        print(f"stack {stack.url}; SuperLink 127.0.0.1:{deployment.port}, {args.nodes} SuperNodes")
        for n, engine in enumerate(["plain", "governed"] * args.rounds):
            report = tmp / f"{engine}-{n}.json"
            before = scrape(stack.url)
            started = time.monotonic()
            run_id = deployment.run({**common, "engine": engine, "report-file": str(report)})
            status = deployment.wait(run_id, timeout=args.round_timeout, poll=1.0)
            outer[engine] += time.monotonic() - started
            if status != "finished:completed" or not report.exists():
                print(f"{engine}: run {run_id} {status}\n{deployment.log(run_id)}", file=sys.stderr)
                return 1
            (row,) = [json.loads(line) for line in report.read_text().splitlines()]
            reports[engine].append({**row, "server_round": len(reports[engine]) + 1})
            if engine == "governed":
                for key, value in delta(before, scrape(stack.url)).items():
                    service[key] += value
            print(f"{engine}: run {run_id} {status} in {time.monotonic() - started:.1f} s")
    finally:
        deployment.stop()
    print_figures(reports, outer, service, args)
    return 0


def scrape(url: str) -> dict[str, float]:
    """The service's time sums and counts by route and chain call kind."""
    figures: dict[str, float] = {}
    text = httpx.get(url + "/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "govledger_http_request_duration_seconds_sum":
                key = f"{sample.labels['method']} {sample.labels['route']}"
            elif sample.name == "govledger_http_request_duration_seconds_count":
                key = f"{sample.labels['method']} {sample.labels['route']} #"
            elif sample.name == "govledger_chain_call_duration_seconds_sum":
                key = f"chain {sample.labels['kind']}"
            elif sample.name == "govledger_chain_call_duration_seconds_count":
                key = f"chain {sample.labels['kind']} #"
            else:
                continue
            figures[key] = sample.value
    return figures


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def print_figures(
    reports: dict[str, list[dict[str, Any]]],
    outer: dict[str, float],
    service: dict[str, float],
    args: argparse.Namespace,
) -> None:
    plain, governed = reports["plain"], reports["governed"]
    print(f"\n{'round':>5}  {'plain s':>8}  {'governed s':>10}  {'overhead s':>10}")
    for p, g in zip(plain, governed, strict=True):
        po, go = p["seconds"]["round"], g["seconds"]["round"]
        print(f"{p['server_round']:>5}  {po:>8.2f}  {go:>10.2f}  {go - po:>10.2f}")
    pm = statistics.median(r["seconds"]["round"] for r in plain)
    gm = statistics.median(r["seconds"]["round"] for r in governed)
    print(f"{'median':>5}  {pm:>8.2f}  {gm:>10.2f}  {gm - pm:>10.2f}  ({gm / pm:.2f}x)")
    startup = {e: outer[e] - sum(r["seconds"]["round"] for r in reports[e]) for e in outer}
    print(
        f"each flwr run outside its round (start-up, ServerApp process, status polling), mean: "
        f"plain {startup['plain'] / args.rounds:.1f} s, governed "
        f"{startup['governed'] / args.rounds:.1f} s"
    )

    print("\nThe governed round, step by step (mean per round, seconds):")
    coordinator: dict[str, list[float]] = defaultdict(list)
    for r in governed:
        for step, seconds in r["seconds"].items():
            coordinator[step].append(seconds)
    for step in ("open", "sign", "wait-for-nodes", "close", "read", "aggregate", "finalize",
                 "download", "round"):  # fmt: skip
        if step in coordinator:
            print(f"  coordinator {step:<16} {mean(coordinator[step]):8.3f}")
    print("  (plain FedAvg's aggregate, Flower's float mean in the ServerApp: "
          f"{mean([r['seconds'].get('aggregate', 0.0) for r in plain]):.3f})")  # fmt: skip
    for engine, rows in (("plain", plain), ("governed", governed)):
        nodes: dict[str, list[float]] = defaultdict(list)
        for r in rows:
            for node in r["nodes"]:
                for step, seconds in node.items():
                    nodes[step].append(seconds)
        steps = ", ".join(f"{s} {mean(v):.3f}" for s, v in sorted(nodes.items()))
        print(f"  {engine} node (mean over nodes and rounds): {steps}")
    print("\nThe service during the governed runs (per round: seconds, calls):")
    for key in sorted(k for k in service if not k.endswith(" #") and "/metrics" not in k):
        count = service.get(key + " #", 0) / args.rounds
        print(f"  {key:<52} {service[key] / args.rounds:8.3f}  {count:>6.1f}")


if __name__ == "__main__":
    sys.exit(main())
