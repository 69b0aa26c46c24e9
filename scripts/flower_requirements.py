"""Print the requirements of the Flower side's own virtualenv, ``.venv-flower``
(``scripts/setup.sh`` installs them there; see ``service/flower/venv.py`` for why it is a
virtualenv of its own).

- flwr with Ray (its ``simulation`` extra, for the in-process simulation the tests run), in the
  range the Flower app declares (``flower_app/pyproject.toml``);
- of the project's own dependencies (``pyproject.toml``), with the same ranges, only those the
  Flower code imports from the project: the HTTP client and its schemas, signing, CIDs, the
  digits model and its training. Not the service's web stack (fastapi, uvicorn, prometheus), the
  compiler (py-solc-x), SIWE, ONNX or torchao, nor the dev tools.

The checkout itself is not installed there (its metadata declares the service's dependencies,
which that virtualenv deliberately lacks): a ``.pth`` file puts it on the path.

    python3 scripts/flower_requirements.py > requirements.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOWER_SIDE = (
    "web3",  # service.client imports service.chain (actions, types)
    "eth-account",  # the nodes' and the coordinator's signatures
    "coincurve",  # eth-keys' fast secp256k1 backend, as in the service's venv
    "pydantic",  # the client parses the service's schemas
    "pydantic-settings",  # service.config, which service.chain.accounts reads
    "httpx",  # the client
    "requests",  # web3's HTTP transport
    "multiformats",  # CIDs
    "torch",  # local training of the digits MLP (install the pinned CPU build first)
    "safetensors",
    "numpy",
    "ml-dtypes",
    "scikit-learn",  # the digits data
)


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].strip().lower()


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges = {name_of(r): r for r in project["dependencies"]}
    missing = [n for n in FLOWER_SIDE if n not in ranges]
    if missing:
        raise SystemExit(f"pyproject.toml no longer lists {', '.join(missing)}")
    app = tomllib.loads((ROOT / "flower_app" / "pyproject.toml").read_text())["project"]
    (flwr,) = [r for r in app["dependencies"] if name_of(r) == "flwr"]
    return [flwr.replace("flwr", "flwr[simulation]", 1), *(ranges[n] for n in FLOWER_SIDE)]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{r}\n" for r in requirements()))
