"""Assertions and chain-time helpers shared by the contract tests (no fixtures here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_utils import keccak
from web3 import Web3

from service.chain.ledger import ActionReceipt, Ledger
from service.chain.reverts import ContractRevert
from service.chain.types import ChangeKind, Support

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO32 = bytes(32)


def digest(label: str) -> bytes:
    """A distinct, non-zero bytes32 per label (stands in for an artifact or metadata digest)."""
    return keccak(text=label)


def emitted(receipt: ActionReceipt) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the transaction as (name, arguments), in log order."""
    return [(e.name, e.args) for e in receipt.events]


def block_time(w3: Web3, block: int | str = "latest") -> int:
    return int(w3.eth.get_block(block)["timestamp"])


def mine_at(w3: Web3, timestamp: int) -> None:
    """Mine an empty block at exactly ``timestamp`` (later than the latest block's)."""
    w3.provider.make_request("evm_mine", [timestamp])  # type: ignore[arg-type]
    assert block_time(w3) == timestamp


def set_next_block_time(w3: Web3, timestamp: int) -> None:
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]


@contextmanager
def reverts(
    ledger: Ledger,
    error: type[ContractRevert],
    arguments: dict[str, Any],
    *,
    unchanged: Callable[[], Any] | None = None,
) -> Iterator[pytest.ExceptionInfo[ContractRevert]]:
    """Expect the custom error ``error`` with exactly ``arguments``, and no change on chain: no
    block mined, and ``unchanged()`` (any reads) the same afterwards as before."""
    before = (ledger.block_number(), unchanged() if unchanged else None)
    with pytest.raises(error) as info:
        yield info
    assert type(info.value) is error
    assert info.value.error == error.__name__
    assert info.value.arguments == arguments
    assert (ledger.block_number(), unchanged() if unchanged else None) == before


def pass_change(
    ledger: Ledger,
    voters: list[Any],
    kind: ChangeKind,
    *,
    account: str = ZERO_ADDRESS,
    value: int = 0,
) -> ActionReceipt:
    """Propose a membership change as ``voters[0]`` and vote For with ``voters`` in order until
    it is approved; returns the deciding vote's receipt."""
    proposal_id = ledger.propose_change(voters[0], kind, account=account, value=value)
    for voter in voters:
        receipt = ledger.act(
            voter, "VoteOnChange", {"proposalId": proposal_id, "support": int(Support.FOR)}
        )
        if any(e.name == "ChangeStatusChanged" for e in receipt.events):
            return receipt
    raise AssertionError(f"proposal {proposal_id} was not approved by {len(voters)} votes")
