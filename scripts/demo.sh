#!/usr/bin/env bash
# Set everything up from nothing, start the local stack (anvil with persisted state, contracts
# deployed once, embedded content store, the REST service on 127.0.0.1) and run the federated
# scenario (scripts/federated.py): five organisations, three rounds, one poisoned participant
# excluded by the robust rule, each aggregate approved by the members, then faster builds of the
# last one. The stack keeps running afterwards: `.venv/bin/govledger down` stops it. The
# single-version scenario is `.venv/bin/python scripts/scenario.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/govledger up
exec .venv/bin/python scripts/federated.py "$@"
