#!/usr/bin/env bash
# Set everything up from nothing, start the local stack (`govledger up`) and run the federated
# digits scenario under Flower's deployment engine (scripts/flower_federated.py): a SuperLink and
# five SuperNodes (one poisoned) from .venv-flower, one `flwr run` per round, the per-round table
# from the chain's events, then `govledger audit` over the ledger. The Flower processes are
# stopped at the end; the stack keeps running (`.venv/bin/govledger down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/govledger up
exec .venv/bin/python scripts/flower_federated.py "$@"
