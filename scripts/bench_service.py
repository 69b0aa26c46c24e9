"""Benchmark the REST service against the local stack: reads/s and signed writes/s with p50 and
p99 latency, beside the chain's raw transactions/s measured in the same run.

    .venv/bin/python scripts/bench_service.py [--seconds 10] [--clients 1,4]

A throwaway stack (anvil, contracts, embedded store, uvicorn) is started on free loopback ports
in a temporary directory and stopped at the end. Every loop is bounded in time and count.

- raw chain: each client is an account sending ``setModelMetadata`` on its own model straight
  to anvil (sign locally, ``eth_sendRawTransaction``, wait for the receipt: two round trips).
- signed writes: the same call as a signed ``SetModelMetadata`` action through
  ``PUT /v1/models/{id}/metadata``; the service checks the signature, simulates the call
  (``eth_estimateGas``), relays it, waits for the receipt and answers with the model.
- reads: ``GET /v1/models/{id}`` and ``GET /v1/versions/{id}`` (chain reads behind each).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_account import Account
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.chain.accounts import dev_account, dev_accounts
from service.chain.actions import Action, action_spec, sign_action
from service.chain.setup import connect_ledger
from service.devstack import Stack

MAX_OPS = 20_000  # per client and phase, whatever the time


@dataclass
class Result:
    name: str
    clients: int
    ops: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_clients(
    name: str, clients: int, seconds: float, make_op: Callable[[int], Callable[[int], None]]
) -> Result:
    """Run ``clients`` threads, each calling its op in a loop for ``seconds`` (bounded)."""
    ops = [make_op(c) for c in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(c: int) -> None:
        start_gate.wait()
        i = 0
        while time.perf_counter() < stop_at[0] and i < MAX_OPS:
            t = time.perf_counter()
            ops[c](i)
            latencies[c].append(time.perf_counter() - t)
            i += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    begin = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    flat = [x for per in latencies for x in per]
    return Result(name=name, clients=clients, ops=len(flat), seconds=elapsed, latencies=flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument("--clients", default="1,4", help="concurrent clients, comma-separated")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    max_clients = max(client_counts)

    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(data_dir=Path(tmp)).start()
        try:
            results = bench(stack, client_counts, max_clients, args.seconds)
        finally:
            stack.stop()
    report(results, args.seconds)


def bench(stack: Stack, client_counts: list[int], max_clients: int, seconds: float) -> list[Result]:
    settings = stack.settings
    # the service relays from dev account 0; this process sets up from accounts 8 and 9 so that
    # the two never race for a nonce
    ledger = connect_ledger(settings, relayer=dev_account(8))
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    founders = dev_accounts(4)[1:]
    # one writer account per client: founders register the models and hand them over (the
    # writer accepts by signature; the relayer pays)
    writers = [Account.create() for _ in range(2 * max_clients)]
    models: list[int] = []
    for i, writer in enumerate(writers):
        founder = founders[i % len(founders)]
        model_id = ledger.register_model(founder, f"bench-{i}")
        ledger.transfer_model_ownership(founder, model_id, writer.address)
        ledger.accept_model_ownership(writer, model_id)
        models.append(model_id)
        fund(w3, dev_account(9), writer.address)
    read_model = ledger.register_model(founders[0], "bench-read")
    version_id = ledger.propose_version(founders[0], read_model, b"\x42" * 32)
    raw_writers, service_writers = writers[:max_clients], writers[max_clients:]
    raw_models, service_models = models[:max_clients], models[max_clients:]
    registry = ledger.registry
    chain_id = ledger.deployment.chain_id

    results: list[Result] = []
    for clients in client_counts:
        # ---- raw chain: plain setModelMetadata from each writer's own account
        def raw_op(c: int) -> Callable[[int], None]:
            account, model_id = raw_writers[c], raw_models[c]
            rpc = Web3(Web3.HTTPProvider(settings.rpc_url))
            nonce = [rpc.eth.get_transaction_count(account.address)]
            fees = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}

            def op(i: int) -> None:
                tx = registry.functions.setModelMetadata(
                    model_id, os.urandom(32)
                ).build_transaction(
                    {
                        "from": account.address,
                        "nonce": nonce[0],
                        "gas": 100_000,
                        "chainId": chain_id,
                        **fees,
                    }
                )
                signed = account.sign_transaction(tx)
                receipt = rpc.eth.wait_for_transaction_receipt(
                    rpc.eth.send_raw_transaction(signed.raw_transaction), poll_latency=0.005
                )
                assert receipt["status"] == 1
                nonce[0] += 1

            return op

        results.append(run_clients("raw chain tx", clients, seconds, raw_op))

        # ---- signed writes through the service
        def write_op(c: int) -> Callable[[int], None]:
            account, model_id = service_writers[c], service_models[c]
            http = httpx.Client(base_url=stack.url, timeout=60)
            nonce = [ledger.nonce_of("ModelRegistry", account.address)]
            spec = action_spec("SetModelMetadata")
            domain = ledger.domain("ModelRegistry")

            def op(i: int) -> None:
                digest = os.urandom(32)
                action = Action(
                    spec=spec, args={"modelId": model_id, "metadataDigest": digest},
                    actor=account.address, nonce=nonce[0], deadline=int(time.time()) + 3600,
                    domain=domain,
                )  # fmt: skip
                signed = sign_action(action, account.key)
                r = http.put(
                    f"/v1/models/{model_id}/metadata",
                    json={
                        "metadata_digest": "0x" + digest.hex(),
                        "actor": account.address,
                        "nonce": nonce[0],
                        "deadline": action.deadline,
                        "signature": "0x" + signed.signature.hex(),
                    },
                )
                if r.status_code != 200:
                    raise RuntimeError(f"write failed: {r.status_code} {r.text}")
                nonce[0] += 1

            return op

        results.append(run_clients("signed writes (REST)", clients, seconds, write_op))

        # ---- reads
        def read_op(c: int) -> Callable[[int], None]:
            http = httpx.Client(base_url=stack.url, timeout=60)
            paths = [f"/v1/models/{read_model}", f"/v1/versions/{version_id}"]

            def op(i: int) -> None:
                r = http.get(paths[i % 2])
                if r.status_code != 200:
                    raise RuntimeError(f"read failed: {r.status_code} {r.text}")

            return op

        results.append(run_clients("reads (REST)", clients, seconds, read_op))
    return results


def fund(w3: Web3, funder: object, to: str) -> None:
    tx = {
        "to": to, "value": 10**20, "gas": 21_000, "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(funder.address),  # type: ignore[attr-defined]
        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9,
    }  # fmt: skip
    signed = funder.sign_transaction(tx)  # type: ignore[attr-defined]
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))


def report(results: list[Result], seconds: float) -> None:
    print(
        f"\n{'phase':24} {'clients':>7} {'ops':>6} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'vs raw':>7}"
    )
    raw = {r.clients: r.rate for r in results if r.name == "raw chain tx"}
    for r in results:
        ratio = f"{r.rate / raw[r.clients]:.2f}" if r.name.startswith("signed") else ""
        print(
            f"{r.name:24} {r.clients:>7} {r.ops:>6} {r.rate:>8.1f} {r.pct(0.5):>8.1f} "
            f"{r.pct(0.99):>8.1f} {ratio:>7}"
        )
    print(
        f"\n{seconds:.0f} s per phase; 'vs raw' = signed writes/s / raw chain tx/s "
        "at the same concurrency"
    )


if __name__ == "__main__":
    main()
