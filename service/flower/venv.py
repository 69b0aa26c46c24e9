"""Where the Flower side runs: its own virtualenv, ``.venv-flower`` in the checkout
(``scripts/setup.sh`` creates it). flwr pins fastapi, starlette, uvicorn, typer, protobuf and
packaging below what the service installs, so flwr never enters the service's ``.venv``: the
SuperLink, the SuperNodes, the ServerApp and ClientApp processes and the simulation run with this
virtualenv's interpreter, which finds the checkout's ``service`` package through a ``.pth`` file
and holds only the packages the Flower code imports (``scripts/flower_requirements.py``).
"""

from __future__ import annotations

from pathlib import Path

from service.config import PROJECT_ROOT

FLOWER_VENV = PROJECT_ROOT / ".venv-flower"


class FlowerEnvironmentMissing(RuntimeError):
    """The Flower side's virtualenv, or a program in it, is not there."""


def flower_program(name: str) -> Path:
    """A program of the Flower virtualenv (``python``, ``flwr``, ``flower-superlink`` ...)."""
    path = FLOWER_VENV / "bin" / name
    if not path.exists():
        raise FlowerEnvironmentMissing(
            f"{path} does not exist: run bash scripts/setup.sh, which creates the Flower side's "
            f"virtualenv in {FLOWER_VENV}"
        )
    return path
