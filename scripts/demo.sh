#!/usr/bin/env bash
# Set everything up from nothing, start the local stack (anvil with persisted state, contracts
# deployed once, embedded content store, the REST service on 127.0.0.1) and run the scripted
# scenario. The stack keeps running afterwards: `.venv/bin/govledger down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/govledger up
exec .venv/bin/python scripts/scenario.py "$@"
