#!/usr/bin/env bash
# Install everything the project needs from nothing: a Python virtualenv in .venv with the
# project and its dev tools (slither among them), and the pinned npm packages (solc-js, OpenZeppelin,
# anvil, Hardhat, forge).
# Idempotent: a second run only checks what is already there. Each step says what it does (on
# stderr, so a caller's stdout stays its own).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    say "creating the Python virtualenv in .venv"
    "$PYTHON" -m venv .venv
fi
say "checking pip"
.venv/bin/python -m pip install --quiet --upgrade "pip>=24,<27"
# The pinned CPU build of torch lies on this machine's disk; installing it first keeps a looser
# range from pulling a multi-GB CUDA build later (see shared/ENVIRONMENT.md).
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    say "installing torch 2.13.0 (CPU build)... (about 20 s on a fresh clone)"
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
say "installing Python packages... (about a minute on a fresh clone, seconds after)"
# setuptools warns that an editable install may be shadowed by a same-named folder: none here
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install --quiet -e ".[dev,flower]"

if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
    say "installing npm packages: solc-js, OpenZeppelin, anvil, Hardhat, forge... (about 30 s)"
    npm ci --no-audit --no-fund --loglevel=error
else
    say "npm packages are installed"
fi
chmod +x node_modules/@foundry-rs/anvil-linux-*/bin/anvil node_modules/@foundry-rs/forge-linux-*/bin/forge \
    2>/dev/null || true
say "done: .venv/bin/govledger --help lists the commands"
