"""Benchmark federated updates through the REST service: accepted updates/s with 1, 8 and 32
concurrent participants, beside the chain's raw transactions/s measured in the same run.

    .venv/bin/python scripts/bench_rounds.py [--seconds 10] [--clients 1,8,32]

A throwaway stack (anvil, contracts, embedded store, uvicorn) is started on free loopback ports
in a temporary directory and stopped at the end. Every loop is bounded in time and count.

- raw chain: each client sends plain ``setModelMetadata`` transactions from its own account
  straight to anvil (sign locally, send, wait for the receipt), as in bench_service.py.
- accepted updates: each client is a participant holding SubmitUpdates; op ``i`` submits an
  update (a 64x64 + 64 float32 delta, 16 KiB) to round ``i`` (rounds opened beforehand, one
  update per participant per round), signed locally (nonce tracked locally, no prepare call):
  the whole gate — the simulation of the signed action on chain before the body, the journal,
  the streamed validation against the base, the store, the relay and the receipt.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from eth_account import Account
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_service import MAX_OPS, Result, fund, report, run_clients

from service.chain.accounts import dev_account, dev_accounts
from service.chain.actions import Action, action_spec, sign_action
from service.chain.setup import connect_ledger
from service.chain.types import NORM_SCALE, Rights, Support
from service.devstack import Stack
from service.ml.aggregate import params_digest, rule_from
from service.ml.tensors import canonical_safetensors
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid

SHAPES = {"weight": (64, 64), "bias": (64,)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(data_dir=Path(tmp)).start()
        try:
            results = bench(stack, client_counts, args.seconds)
        finally:
            stack.stop()
    report(
        [
            Result(
                r.name.replace("accepted updates", "signed writes"),
                r.clients,
                r.ops,
                r.seconds,
                r.latencies,
            )
            for r in results
        ],
        args.seconds,
    )
    print("('signed writes' here are accepted federated updates, through the whole gate)")


def bench(stack: Stack, client_counts: list[int], seconds: float) -> list[Result]:
    settings = stack.settings
    ledger = connect_ledger(settings, relayer=dev_account(8))
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    owner, member2, _member3 = dev_accounts(4)[1:]
    max_clients = max(client_counts)
    rng = np.random.default_rng(0)
    base = canonical_safetensors(
        {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    )
    base_cid, _ = compute_cid(iter_chunks(base))
    model_id = ledger.register_model(owner, "bench-rounds")
    store_bytes(stack, base)
    version = ledger.propose_version(owner, model_id, base_cid.digest)
    for voter in (owner, member2):
        ledger.cast_vote(voter, version, Support.FOR)
    participants = [Account.create() for _ in range(max_clients)]
    for p in participants:
        ledger.grant_rights(owner, model_id, p.address, Rights.SUBMIT_UPDATES)
    raw_writers = [Account.create() for _ in range(max_clients)]
    raw_models = []
    for i, writer in enumerate(raw_writers):
        m = ledger.register_model(owner, f"bench-raw-{i}")
        ledger.transfer_model_ownership(owner, m, writer.address)
        ledger.accept_model_ownership(writer, m)
        raw_models.append(m)
        fund(w3, dev_account(9), writer.address)
    rule = rule_from("fedavg", {})
    # participant 0 takes part in every phase, one update per round: more rounds than it can use
    rounds_needed = min(MAX_OPS, int(seconds * 40 * len(client_counts)) + 10)
    store_bytes(stack, _params_document(rule))
    deadline = int(time.time()) + 24 * 3600
    rounds = [
        ledger.open_round(
            owner,
            model_id,
            version,
            rule="fedavg",
            min_updates=1,
            max_updates=max_clients,
            submission_deadline=deadline,
            max_norm=1000 * NORM_SCALE,
            params_digest=params_digest(rule),
        )
        for _ in range(rounds_needed)
    ]
    registry = ledger.registry
    chain_id = ledger.deployment.chain_id
    spec = action_spec("SubmitUpdate")
    domain = ledger.domain("FederatedRounds")
    base_digest = base_cid.digest

    cursor = [0] * max_clients  # each participant's next round, across phases
    results: list[Result] = []
    for clients in client_counts:

        def raw_op(c: int) -> Callable[[int], None]:
            account, m = raw_writers[c], raw_models[c]
            rpc = Web3(Web3.HTTPProvider(settings.rpc_url))
            nonce = [rpc.eth.get_transaction_count(account.address)]

            def op(i: int) -> None:
                tx = registry.functions.setModelMetadata(m, rng_bytes()).build_transaction(
                    {"from": account.address, "nonce": nonce[0], "gas": 100_000,
                     "chainId": chain_id, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
                )  # fmt: skip
                signed = account.sign_transaction(tx)
                receipt = rpc.eth.wait_for_transaction_receipt(
                    rpc.eth.send_raw_transaction(signed.raw_transaction), poll_latency=0.005
                )
                assert receipt["status"] == 1
                nonce[0] += 1

            return op

        results.append(run_clients("raw chain tx", clients, seconds, raw_op))

        def update_op(c: int) -> Callable[[int], None]:
            participant = participants[c]
            http = httpx.Client(base_url=stack.url, timeout=120)
            nonce = [ledger.nonce_of("FederatedRounds", participant.address)]
            gen = np.random.default_rng(1000 + c)

            def op(i: int) -> None:
                round_id = rounds[cursor[c]]
                cursor[c] += 1
                data = canonical_safetensors(
                    {k: (gen.standard_normal(s) * 0.01).astype(np.float32)
                     for k, s in SHAPES.items()}
                )  # fmt: skip
                cid, _ = compute_cid(iter_chunks(data))
                action = Action(
                    spec=spec,
                    args={"roundId": round_id, "baseDigest": base_digest,
                          "updateDigest": cid.digest, "sampleCount": 100},
                    actor=participant.address, nonce=nonce[0],
                    deadline=int(time.time()) + 3600, domain=domain,
                )  # fmt: skip
                signature = "0x" + sign_action(action, participant.key).signature.hex()
                r = http.post(
                    f"/v1/rounds/{round_id}/updates",
                    params={"update_cid": str(cid), "sample_count": 100,
                            "actor": participant.address, "nonce": nonce[0],
                            "deadline": action.deadline, "signature": signature},
                    content=data,
                    headers={"content-type": "application/octet-stream"},
                )  # fmt: skip
                if r.status_code != 201:
                    raise RuntimeError(f"update refused: {r.status_code} {r.text}")
                nonce[0] += 1

            return op

        results.append(run_clients("accepted updates (REST)", clients, seconds, update_op))
    return results


def _params_document(rule: object) -> bytes:
    from service.ml.aggregate import params_document

    return params_document(rule)  # type: ignore[arg-type]


def store_bytes(stack: Stack, data: bytes) -> None:
    """Put content straight into the stack's embedded store (setup only: the benchmark measures
    the service, not this)."""
    from service.store.embedded import EmbeddedStore

    EmbeddedStore(stack.settings.store_dir).put(data, pin=True)


_counter = [0]


def rng_bytes() -> bytes:
    _counter[0] += 1
    return _counter[0].to_bytes(32, "big")


if __name__ == "__main__":
    main()
