"""The ServerApp: governed rounds of the digits model (see ``[tool.flwr.app.config]``)."""

from __future__ import annotations

import os

from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid, ServerApp

from service.chain.accounts import account_from_key
from service.client import GovLedgerClient
from service.flower.identity import as_int
from service.flower.strategy import GovernedStrategy, RoundTerms

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
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
    nodes = as_int(config["min-nodes"])
    with GovLedgerClient(base_url=str(config["service-url"]), timeout=120) as client:
        strategy = GovernedStrategy(
            client=client,
            coordinator=account_from_key(key),
            model_id=as_int(config["model-id"]),
            base_version_id=as_int(config["base-version-id"]),
            terms=terms,
            min_train_nodes=nodes,
            min_available_nodes=nodes,
        )
        strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(),
            num_rounds=as_int(config["num-server-rounds"]),
            timeout=float(str(config["round-timeout"])),
        )
