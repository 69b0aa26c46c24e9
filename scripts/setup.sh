#!/usr/bin/env bash
# Install everything the project needs from nothing: a Python virtualenv in .venv with the
# project and its dev tools (slither and Playwright among them); the Flower side's own virtualenv
# in .venv-flower (flwr, Ray and the client's dependencies: flwr pins the service's web stack
# lower, so it never enters .venv); the pinned npm packages (solc-js, OpenZeppelin, anvil, Hardhat,
# forge); and Debian's chromium (for the explorer's browser tests).
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
PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install --quiet -e ".[dev]"

# The Flower side (service/flower's strategy and participant, flower_app/) runs in a virtualenv of
# its own: flwr pins fastapi, starlette, uvicorn, typer, protobuf and packaging below the
# service's (service/flower/venv.py). It gets the checkout on its path (a .pth file) and only the
# packages scripts/flower_requirements.py lists, in the project's ranges.
if [ ! -x .venv-flower/bin/python ]; then
    say "creating the Flower side's virtualenv in .venv-flower"
    "$PYTHON" -m venv .venv-flower
fi
.venv-flower/bin/python -m pip install --quiet --upgrade "pip>=24,<27"
if ! .venv-flower/bin/python -c "import torch" >/dev/null 2>&1; then
    say "installing torch 2.13.0 (CPU build) in .venv-flower... (about 20 s on a fresh clone)"
    .venv-flower/bin/python -m pip install --quiet "torch==2.13.0"
fi
say "installing flwr, Ray and the client's packages in .venv-flower... (about 30 s on a fresh clone)"
.venv/bin/python scripts/flower_requirements.py >.venv-flower/requirements.txt
.venv-flower/bin/python -m pip install --quiet -r .venv-flower/requirements.txt
.venv-flower/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
    | { read -r site; printf '%s\n' "$PWD" >"$site/govledger-checkout.pth"; }

if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
    say "installing npm packages: solc-js, OpenZeppelin, anvil, Hardhat, forge... (about 30 s)"
    npm ci --no-audit --no-fund --loglevel=error
else
    say "npm packages are installed"
fi
# Debian's Chromium, which the explorer's browser tests drive with Playwright (never a browser
# build of Playwright's own: nothing but the package registries is reachable)
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing Debian's chromium for the explorer's browser tests... (about a minute)"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
    else
        say "chromium is missing: 'sudo apt-get install chromium' (tests/explorer need it)"
    fi
else
    say "chromium is installed"
fi
chmod +x node_modules/@foundry-rs/anvil-linux-*/bin/anvil node_modules/@foundry-rs/forge-linux-*/bin/forge \
    2>/dev/null || true
say "done: .venv/bin/govledger --help lists the commands"
