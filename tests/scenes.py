"""What the package-scoped scenes (tests/audit, tests/explorer, tests/docs/test_auditing.py)
make their ledgers from: small safetensors weights, plain JSON-RPC reads of the chain, a Krum
round submitted through the service, and the fixtures they share. A conftest imports the
fixtures by name (``from tests.scenes import accounts, client``) to give them its package's
scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from safetensors.numpy import save as save_numpy

from service.chain.accounts import dev_account, dev_accounts
from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.client import GovLedgerClient
from service.ml.safetensors_format import with_sorted_metadata
from tests.stack import Stack

PARTICIPANTS = (5, 6, 7)  # dev accounts outside the consortium
LARGE = (300, 300)  # float32: 360 KB, two 256 KiB chunks (a dag-pb root and raw leaves)


def weights(seed: int, scale: float = 1.0, shape: tuple[int, int] = (16, 8)) -> bytes:
    """Canonical safetensors bytes of a ``weight`` of ``shape`` and a ``bias``, float32."""
    rng = np.random.default_rng(seed)
    arrays = {
        "weight": (rng.standard_normal(shape) * scale).astype(np.float32),
        "bias": (rng.standard_normal(shape[-1:]) * scale).astype(np.float32),
    }
    return with_sorted_metadata(save_numpy(arrays))


def rpc(stack: Stack, method: str, *params: Any) -> Any:
    answer = httpx.post(
        stack.settings.rpc_url,
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        timeout=30,
    ).json()
    assert "error" not in answer, answer
    return answer["result"]


def block_number(stack: Stack) -> int:
    return int(rpc(stack, "eth_blockNumber"), 16)


def chain_time(stack: Stack) -> int:
    return int(rpc(stack, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def krum_round(
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    stack: Stack,
    tmp: Path,
    model_id: int,
    base_id: int,
    *,
    participants: tuple[int, ...] = PARTICIPANTS,
    min_updates: int,
    max_updates: int,
    shape: tuple[int, int] = (16, 8),
) -> int:
    """A Krum round (f = 0) on ``base_id`` opened by ``accounts[1]`` for an hour of chain time,
    with one small update from each of ``participants``; its id."""
    opened = client.open_round(
        accounts[1],
        model_id,
        base_version_id=base_id,
        rule="krum",
        params={"f": 0},
        min_updates=min_updates,
        max_updates=max_updates,
        submission_deadline=chain_time(stack) + 3600,
        max_norm=1000.0,
    )
    round_id = int(opened.round.round_id)
    for n, i in enumerate(participants):
        path = tmp / f"update-{round_id}-{i}.safetensors"
        path.write_bytes(weights(100 + 10 * round_id + n, scale=0.01, shape=shape))
        client.submit_update(accounts[i], round_id, path, sample_count=10 + n)
    return round_id


def relayed_ledger(stack: Stack, relayer: int) -> Ledger:
    """The chain adapter with a relayer of its own (dev account ``relayer``), so that its
    relayed actions never race the service's relayer, or another scene's, for nonces."""
    return connect_ledger(stack.settings, relayer=dev_account(relayer))


@pytest.fixture(scope="package")
def accounts() -> list[LocalAccount]:
    return dev_accounts(10)


@pytest.fixture(scope="package")
def client(stack: Stack) -> Iterator[GovLedgerClient]:
    with GovLedgerClient(base_url=stack.url, timeout=120) as c:
        yield c
