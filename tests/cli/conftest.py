"""Fixtures of the client and CLI tests: the session's real stack (tests/conftest.py), a client
on it, anvil's dev accounts (1-3 are the founders; quorum 2 of 3), small real safetensors files,
and a runner of the ``govledger`` command in this process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from eth_account.signers.local import LocalAccount
from safetensors.torch import save
from typer.testing import CliRunner, Result

from service.api.schemas import VersionWritten
from service.chain.accounts import dev_accounts
from service.cli.main import app
from service.client import GovLedgerClient
from tests.stack import Stack


def unique(prefix: str) -> str:
    """A model name no other test of the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def safetensors_bytes(rows: int = 64, cols: int = 64, seed: int = 0) -> bytes:
    generator = torch.Generator().manual_seed(seed)
    return save({"w": torch.randn(rows, cols, generator=generator)})


@pytest.fixture(scope="session")
def accounts() -> list[LocalAccount]:
    """anvil's dev accounts 0..7: 0 relays, 1-3 are the founding members, the rest outsiders."""
    return dev_accounts(8)


@pytest.fixture
def client(stack: Stack) -> Iterator[GovLedgerClient]:
    with GovLedgerClient(base_url=stack.url, timeout=60) as c:
        yield c


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A real safetensors file: one 64x64 float32 tensor (one 256 KiB chunk: a raw CID).

    Random per test: a restricted model referencing bytes restricts them for every model that
    references them too, so tests of open reads need bytes no other test uploads."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(safetensors_bytes(seed=uuid.uuid4().int % 2**63))
    return path


def approved_version(
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    path: Path,
    *,
    restricted: bool = False,
    prefix: str = "model",
) -> VersionWritten:
    """A model registered by founder 1 with one version approved by founders 2 and 3."""
    owner = accounts[1]
    model = client.register_model(owner, unique(prefix), restricted=restricted).model
    written = client.propose_version(owner, model.model_id, path, artifact_format="safetensors")
    for voter in accounts[2:4]:
        client.cast_vote(voter, written.version.version_id, "for")
    return written


@dataclass
class Cli:
    """Runs ``govledger`` in this process against the session's stack, with its own data dir
    (keys, sessions) so tests do not share a keystore."""

    url: str
    home: Path
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        environment: dict[str, str | None] = {
            "GOVLEDGER_SERVICE_URL": self.url,
            "GOVLEDGER_DATA_DIR": str(self.home),
            "GOVLEDGER_PRIVATE_KEY": None,
            "GOVLEDGER_KEY_NAME": None,
            "GOVLEDGER_KEY_PASSWORD": None,
            **env,
        }
        result = self.runner.invoke(app, list(args), input=input, env=environment)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a bug, not an expected error: show its traceback
        return result


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Cli:
    return Cli(url=stack.url, home=tmp_path / "home", runner=CliRunner())
