"""Fixtures of the Flower tests. They run in the service's virtualenv, like every other test;
whatever imports Flower runs in the Flower side's own virtualenv (``.venv-flower``) as a
subprocess: the simulation (``tests/flower/simulation.py``) and the deployment's processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.client import GovLedgerClient
from service.config import PROJECT_ROOT
from service.flower.scene import approved_base
from service.flower.venv import flower_program
from tests.cli.conftest import unique
from tests.flower.scene import FOUNDERS, HONEST, NODES, OWNER, POISONED
from tests.stack import Stack


@dataclass
class Model:
    model_id: int
    base_version_id: int


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[GovLedgerClient]:
    with GovLedgerClient(base_url=stack.url, timeout=120) as c:
        yield c


def approved_model(client: GovLedgerClient, tmp: Path, name: str, granted: list[str]) -> Model:
    """A model with the owner's first base approved by the founders, SubmitUpdates granted to
    ``granted``."""
    model_id, version_id = approved_base(client, OWNER, FOUNDERS, unique(name), granted)
    return Model(model_id=model_id, base_version_id=version_id)


@pytest.fixture(scope="module")
def model(client: GovLedgerClient, tmp_path_factory: pytest.TempPathFactory) -> Model:
    """Every node of the scene but NO_RIGHT's and the liar's holds SubmitUpdates."""
    granted = [NODES[p].address for p in (*HONEST, POISONED)]
    return approved_model(client, tmp_path_factory.mktemp("base"), "flower", granted)


def run_in_flower_venv(
    module: str, args: list[str], *, home: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` in the Flower virtualenv, ``FLWR_HOME`` a directory of the
    test's; on timeout the whole process group (Ray's processes with it) is stopped by its id."""
    env = {**os.environ, "FLWR_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT)}
    command = [str(flower_program("python")), "-m", module, *args]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, Ray's processes in it
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        pytest.fail(f"{module} did not finish within {timeout:.0f} s:\n{out[-20000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever of the group outlived it
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, out, "")
