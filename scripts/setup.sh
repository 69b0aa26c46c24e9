#!/usr/bin/env bash
# Install everything the project needs from nothing: a Python virtualenv in .venv with the
# project and its dev tools (slither among them), and the pinned npm packages (solc-js, OpenZeppelin,
# anvil, Hardhat, forge).
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade "pip>=24,<27"
# The pinned CPU build of torch lies on this machine's disk; installing it first keeps a looser
# range from pulling a multi-GB CUDA build later (see shared/ENVIRONMENT.md).
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[dev]"

if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
fi
chmod +x node_modules/@foundry-rs/anvil-linux-*/bin/anvil node_modules/@foundry-rs/forge-linux-*/bin/forge \
    2>/dev/null || true
