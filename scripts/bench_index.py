"""Benchmark the event index: list and timeline latency through the REST API with the index and
without it (the old path, one chain call per model), the index's catch-up speed beside the
chain's own eth_getLogs throughput, on a throwaway local chain seeded with many models.

    .venv/bin/python scripts/bench_index.py [--models 10000] [--versions 50000] [--votes 2000]

A throwaway stack (anvil, contracts, embedded store, uvicorn) is started on free loopback ports
in a temporary directory and stopped at the end. Seeding uses the contracts' plain functions from
anvil's three founder accounts (``service/devseed.py``: raw transactions sent in JSON-RPC
batches, ``--per-block`` to a block), not the service. Every loop is bounded in count.

- catch-up: a fresh index file synced from the deploy block in this process (``Indexer.sync``,
  pages of 5,000 blocks: one eth_getLogs each, decoded and written in one SQLite transaction),
  and the service's own follower from its start until ``GET /v1/models`` says it is current;
- eth_getLogs: the same pages of the three contracts' logs fetched raw (JSON-RPC, no decoding)
  and through web3 (its log formatting), nothing written: the chain's side of the catch-up;
- latency (p50 and p95 over ``--requests`` requests): ``GET /v1/models`` (first page of 100), a
  name search, an owner filter at an offset, and one model's timeline (first page of 100
  entries), its versions' list and one version by its number (``name@2``), with the index;
  then with the service restarted with ``GOVLEDGER_INDEX_ENABLED=false`` (``--old-requests``
  each), the same without the name and owner filters: without the index every list reads
  every model whatever its filter.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.chain.accounts import dev_account
from service.chain.deploy import Deployment
from service.devseed import Call, Seeder, random_digest
from service.devstack import Stack
from service.index.opening import standalone_indexer

FOUNDERS = [dev_account(i) for i in (1, 2, 3)]
UNAVAILABLE: list[str] = []
OLD_PATH = (
    "GET /v1/models (first 100)",
    "GET /v1/models/{id}/timeline (first 100)",
    "GET /v1/models/{id}/versions",
    "GET /v1/versions/by-ref/{name}@2",
)


def seed(stack: Stack, *, models: int, versions: int, votes: int, per_block: int) -> dict[str, Any]:
    deployment = Deployment.load(stack.settings.deployment_file)
    seeder = Seeder(rpc_url=stack.settings.rpc_url, deployment=deployment, per_block=per_block)
    registry = seeder.contracts["ModelRegistry"]
    started = time.perf_counter()
    try:
        calls = [
            Call(
                sender=FOUNDERS[i % 3],
                contract="ModelRegistry",
                function="registerModel",
                args=[f"bench-{i:05d}", random_digest(), i % 7 == 0],
            )
            for i in range(models)
        ]
        for i in range(0, len(calls), 2_000):
            seeder.send(calls[i : i + 2_000])
            print(f"  models {min(i + 2_000, models)}/{models}", file=sys.stderr)
        owners = {
            int(e["args"]["modelId"]): e["args"]["owner"]
            for e in registry.events.ModelRegistered.get_logs(from_block=deployment.deploy_block)
        }
        by_address = {a.address: a for a in FOUNDERS}
        ids = sorted(owners)
        calls = [
            Call(
                sender=by_address[owners[ids[i % len(ids)]]],
                contract="ModelRegistry",
                function="proposeVersion",
                args=[ids[i % len(ids)], 0, 0, random_digest(), bytes(32)],
            )
            for i in range(versions)
        ]
        for i in range(0, len(calls), 2_000):
            seeder.send(calls[i : i + 2_000])
            print(f"  versions {min(i + 2_000, versions)}/{versions}", file=sys.stderr)
        count = int(registry.functions.versionCount().call())
        # votes: on the latest versions (ballots still open), by the two founders who did not
        # propose them, so the busiest model's timeline holds votes too
        calls = []
        for version_id in range(count, max(0, count - votes // 2), -1):
            proposer = by_address[owners[ids[(version_id - 1) % len(ids)]]]
            calls += [
                Call(sender=f, contract="ModelRegistry", function="castVote", args=[version_id, 0])
                for f in FOUNDERS
                if f.address != proposer.address
            ]
        for i in range(0, len(calls), 2_000):
            seeder.send(calls[i : i + 2_000])
        seconds = time.perf_counter() - started
        return {
            "models": len(ids),
            "versions": count,
            "votes": len(calls),
            "blocks": int(seeder.rpc("eth_blockNumber"), 16),
            "seconds": seconds,
        }
    finally:
        seeder.close()


def get_logs_throughput(stack: Stack) -> dict[str, float]:
    """The three contracts' logs from the deploy block, pages of 5,000 blocks: raw JSON-RPC and
    through web3 (what the indexer calls), nothing decoded or written."""
    indexer = standalone_indexer(stack.settings, file=Path(tempfile.mktemp(suffix=".sqlite")))
    latest = int(indexer.w3.eth.block_number)
    addresses = [c.address for c in indexer.reader.contracts.values()]
    page = indexer.reader.page_blocks
    out: dict[str, float] = {}
    with httpx.Client(timeout=300) as http:
        started = time.perf_counter()
        n = 0
        for start in range(indexer.deploy_block, latest + 1, page):
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "eth_getLogs",
                "params": [
                    {
                        "address": addresses,
                        "fromBlock": hex(start),
                        "toBlock": hex(min(start + page - 1, latest)),
                    }
                ],
            }
            n += len(http.post(stack.settings.rpc_url, json=body).json()["result"])
        out["raw_logs"] = n
        out["raw_s"] = time.perf_counter() - started
    started = time.perf_counter()
    n = 0
    for start in range(indexer.deploy_block, latest + 1, page):
        n += len(
            indexer.w3.eth.get_logs(
                {"address": addresses, "fromBlock": start, "toBlock": min(start + page - 1, latest)}
            )
        )
    out["web3_logs"] = n
    out["web3_s"] = time.perf_counter() - started
    return out


def catch_up(stack: Stack) -> dict[str, float]:
    path = Path(tempfile.mkdtemp()) / "index.sqlite"
    indexer = standalone_indexer(stack.settings, file=path)
    started = time.perf_counter()
    result = indexer.sync()
    seconds = time.perf_counter() - started
    return {
        "events": result.events,
        "pages": result.pages,
        "seconds": seconds,
        "mib": path.stat().st_size / 2**20,
    }


def timed(call: Callable[[], httpx.Response], n: int) -> tuple[float, float]:
    latencies = []
    for _ in range(n):
        t = time.perf_counter()
        r = call()
        latencies.append(time.perf_counter() - t)
        if r.status_code == 503:  # the chain did not answer in time: counted, not measured
            UNAVAILABLE.append(r.text)
            latencies.pop()
            continue
        r.raise_for_status()
    if not latencies:
        return float("nan"), float("nan")
    latencies.sort()
    return statistics.median(latencies) * 1000, latencies[int(0.95 * (len(latencies) - 1))] * 1000


def latencies(
    stack: Stack, *, requests: int, busiest: int, only: set[str] | None = None
) -> dict[str, tuple[float, float]]:
    owner = FOUNDERS[1].address
    with httpx.Client(base_url=stack.url, timeout=600) as http:
        name = http.get(f"/v1/models/{busiest}").raise_for_status().json()["name"]
        queries: dict[str, Callable[[], httpx.Response]] = {
            "GET /v1/models (first 100)": lambda: http.get("/v1/models"),
            "GET /v1/models?name=bench-0999": lambda: http.get(
                "/v1/models", params={"name": "bench-0999"}
            ),
            "GET /v1/models?owner=…&offset=1000": lambda: http.get(
                "/v1/models", params={"owner": owner, "offset": 1000}
            ),
            "GET /v1/models/{id}/timeline (first 100)": lambda: http.get(
                f"/v1/models/{busiest}/timeline"
            ),
            "GET /v1/models/{id}/versions": lambda: http.get(f"/v1/models/{busiest}/versions"),
            "GET /v1/versions/by-ref/{name}@2": lambda: http.get(f"/v1/versions/by-ref/{name}@2"),
        }
        if only is not None:
            queries = {name: call for name, call in queries.items() if name in only}
        return {name: timed(call, requests) for name, call in queries.items()}


def wait_current(stack: Stack, timeout: float = 3600) -> float:
    """Seconds until the service's own index reaches the latest block, read from ``/ready``
    (a model list before then would read every model from the chain)."""
    started = time.perf_counter()
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        while time.perf_counter() - started < timeout:
            try:
                index = http.get("/ready").json().get("index", "")
            except httpx.TransportError:  # the service is busy starting: asked again
                index = ""
            if index.startswith("ok:") and index.endswith(" 0 behind the latest"):
                return time.perf_counter() - started
            time.sleep(0.2)
    raise RuntimeError("the service's index did not catch up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=50_000)
    parser.add_argument("--votes", type=int, default=2_000, help="votes cast (on late versions)")
    parser.add_argument("--per-block", type=int, default=60, help="transactions per block")
    parser.add_argument("--requests", type=int, default=30, help="per query with the index")
    parser.add_argument("--old-requests", type=int, default=1, help="per query without it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        stack = Stack(data_dir=Path(tmp))
        stack.data_dir.mkdir(parents=True, exist_ok=True)
        stack.start_chain()
        try:
            print("seeding ...", file=sys.stderr)
            seeded = seed(
                stack,
                models=args.models,
                versions=args.versions,
                votes=args.votes,
                per_block=args.per_block,
            )
            sent = seeded["models"] + seeded["versions"] + seeded["votes"]
            print(
                f"seeded {seeded['models']} models, {seeded['versions']} versions, "
                f"{seeded['votes']} votes in {seeded['blocks']} blocks, "
                f"{seeded['seconds']:.0f} s ({sent / seeded['seconds']:.0f} tx/s)"
            )
            logs = get_logs_throughput(stack)
            index = catch_up(stack)
            print("\ncatch-up from the deploy block (pages of 5,000 blocks)")
            print(f"{'what':<46} {'events':>8} {'s':>7} {'events/s':>9}")
            for name, n, s in (
                ("eth_getLogs, raw JSON-RPC (no decoding)", logs["raw_logs"], logs["raw_s"]),
                ("eth_getLogs through web3 (formatted)", logs["web3_logs"], logs["web3_s"]),
                ("index sync (getLogs, decode, SQLite)", index["events"], index["seconds"]),
            ):
                print(f"{name:<46} {n:>8.0f} {s:>7.2f} {n / s:>9.0f}")
            print(f"index file: {index['mib']:.1f} MiB")

            stack.start_service()
            follower_s = wait_current(stack)
            print(f"service follower from start to current: {follower_s:.1f} s")
            busiest = seeded["models"]  # the last model: votes on its latest versions
            with_index = latencies(stack, requests=args.requests, busiest=busiest)
            stack.stop_service()
            stack.extra_env["GOVLEDGER_INDEX_ENABLED"] = "false"
            stack.start_service()
            # without the index every list reads every model, whatever its filter: one list
            # query and the timeline are measured (the others cost the same as the first)
            without = latencies(
                stack, requests=args.old_requests, busiest=busiest, only=set(OLD_PATH)
            )
            stack.stop_service()
            print(
                f"\nlatency through the REST API, ms (p50 / p95; {args.requests} requests with the "
                f"index, {args.old_requests} without)"
            )
            print(f"{'request':<42} {'index p50':>10} {'p95':>8} {'chain p50':>10} {'p95':>8}")
            for name, (p50, p95) in with_index.items():
                o50, o95 = without.get(name, (float("nan"), float("nan")))
                print(f"{name:<42} {p50:>10.1f} {p95:>8.1f} {o50:>10.1f} {o95:>8.1f}")
            if UNAVAILABLE:
                print(f"{len(UNAVAILABLE)} answers were 503, left out; first: {UNAVAILABLE[0]}")
        finally:
            log = stack.data_dir / "service.log"
            if log.exists():
                shutil.copy(log, Path(tempfile.gettempdir()) / "bench-index-service.log")
            stack.stop()


if __name__ == "__main__":
    main()
