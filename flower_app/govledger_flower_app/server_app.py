"""The ServerApp: governed rounds of the digits model (see ``[tool.flwr.app.config]``).

``engine = "plain"`` runs Flower's own FedAvg from the base version's weights instead, with the
weights in the messages and nothing on the ledger: the baseline of ``scripts/bench_flower.py``.
``report-file``, when set, gets one JSON line per round: its number, the coordinator's step
timings (``seconds``) and each node's (``nodes``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from flwr.app import Array, ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp
from safetensors.numpy import load as safetensors_load

from govledger_flower_app.plain import TimedFedAvg
from service.chain.accounts import account_from_key
from service.client import GovLedgerClient
from service.flower.identity import as_int
from service.flower.rounds import GovernedRound
from service.flower.strategy import GovernedStrategy, RoundTerms

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    report = Path(str(config["report-file"])) if config.get("report-file") else None
    nodes = as_int(config["min-nodes"])
    rounds = as_int(config["num-server-rounds"])
    timeout = float(str(config["round-timeout"]))
    with GovLedgerClient(base_url=str(config["service-url"]), timeout=120) as client:
        if str(config.get("engine", "governed")) == "plain":
            plain = TimedFedAvg(report_file=report, nodes=nodes)
            weights = base_weights(client, as_int(config["base-version-id"]))
            plain.start(grid=grid, initial_arrays=weights, num_rounds=rounds, timeout=timeout)
            return
        key_env = str(config["coordinator-key-env"])
        key = os.environ.get(key_env)
        if not key:
            raise SystemExit(f"set {key_env} to the coordinator's key (model owner or maintainer)")
        terms = RoundTerms(
            rule=str(config["rule"]),
            params={"f": as_int(config["krum-f"]), "m": as_int(config["krum-m"])},
            min_updates=as_int(config["min-updates"]),
            max_updates=as_int(config["max-updates"]),
            max_norm=float(str(config["max-norm"])),
        )

        def write(done: GovernedRound) -> None:
            if report is not None:
                row = {
                    "server_round": done.server_round,
                    "round_id": done.round_id,
                    "seconds": dict(done.seconds),
                    "nodes": [dict(r.seconds) for r in done.reports],
                }
                with report.open("a") as out:
                    out.write(json.dumps(row) + "\n")

        strategy = GovernedStrategy(
            client=client,
            coordinator=account_from_key(key),
            model_id=as_int(config["model-id"]),
            base_version_id=as_int(config["base-version-id"]),
            terms=terms,
            on_finalized=write,
            min_train_nodes=nodes,
            min_available_nodes=nodes,
        )
        strategy.start(grid=grid, initial_arrays=ArrayRecord(), num_rounds=rounds, timeout=timeout)


def base_weights(client: GovLedgerClient, version_id: int) -> ArrayRecord:
    """A version's weights, downloaded and verified against the chain."""
    with tempfile.TemporaryDirectory(prefix="govledger-flower-") as tmp:
        got = client.download_version(version_id, Path(tmp) / "base.safetensors")
        tensors = safetensors_load(got.path.read_bytes())
    return ArrayRecord(
        array_dict={k: Array.from_numpy_ndarray(tensors[k]) for k in sorted(tensors)}
    )
