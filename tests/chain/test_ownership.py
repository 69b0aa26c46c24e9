"""Two-step model ownership on a real anvil: the owner names a pending owner, who accepts.
Every success asserts its events and the state read back; every revert asserts the custom error
with its arguments and that nothing changed (no block mined, reads unchanged).

Tests parametrized over ``direct`` run both the ``...BySig`` and the plain function."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from service.chain.ledger import Ledger
from service.chain.reverts import (
    RegistryAlreadyOwner,
    RegistryNoPendingTransfer,
    RegistryNotMaintainer,
    RegistryNotModelOwner,
    RegistryNotPendingOwner,
    RegistryUnknownModel,
)
from service.chain.types import Rights
from tests.chain.helpers import ZERO_ADDRESS, digest, emitted, reverts

both_paths = pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])


@pytest.fixture
def model_id(ledger: Ledger, owner: LocalAccount) -> int:
    return ledger.register_model(owner, "handed-over")


@pytest.fixture
def heir(members: list[LocalAccount]) -> LocalAccount:
    return members[1]


def ownership(ledger: Ledger, model_id: int, *accounts: LocalAccount) -> tuple[Any, ...]:
    """What a transfer or an acceptance changes: owner, pending owner, rights, nonces."""
    model = ledger.model(model_id)
    return (
        model.owner,
        model.pending_owner,
        ledger.pending_owner_of(model_id),
        [ledger.rights_of(model_id, a.address) for a in accounts],
        [ledger.nonce_of("ModelRegistry", a.address) for a in accounts],
    )


def started(model_id: int, owner: str, new_owner: str) -> tuple[str, dict[str, Any]]:
    return (
        "ModelOwnershipTransferStarted",
        {"modelId": model_id, "previousOwner": owner, "newOwner": new_owner},
    )


def transferred(model_id: int, previous: str, new_owner: str) -> tuple[str, dict[str, Any]]:
    return (
        "ModelOwnershipTransferred",
        {"modelId": model_id, "previousOwner": previous, "newOwner": new_owner},
    )


# ---------------------------------------------------------------- the two steps


@both_paths
def test_transfer_only_names_a_pending_owner(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, model_id: int, direct: bool
):
    receipt = ledger.transfer_model_ownership(owner, model_id, heir.address, direct=direct)

    assert emitted(receipt) == [started(model_id, owner.address, heir.address)]
    model = ledger.model(model_id)
    assert (model.owner, model.pending_owner) == (owner.address, heir.address)
    assert ledger.pending_owner_of(model_id) == heir.address
    # nothing moved yet: the owner keeps every right, the pending owner has none
    assert ledger.rights_of(model_id, owner.address) == Rights.ALL
    assert ledger.rights_of(model_id, heir.address) == Rights.NONE
    with reverts(ledger, RegistryNotModelOwner, {"modelId": model_id, "account": heir.address}):
        ledger.set_model_metadata(heir, model_id, digest("x"))
    ledger.set_model_metadata(owner, model_id, digest("still the owner's"))


@both_paths
def test_the_pending_owner_accepts(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, model_id: int, direct: bool
):
    ledger.transfer_model_ownership(owner, model_id, heir.address)
    nonce = ledger.nonce_of("ModelRegistry", heir.address)

    receipt = ledger.accept_model_ownership(heir, model_id, direct=direct)

    assert emitted(receipt) == [transferred(model_id, owner.address, heir.address)]
    model = ledger.model(model_id)
    assert (model.owner, model.pending_owner) == (heir.address, None)
    assert ledger.pending_owner_of(model_id) is None
    assert ledger.nonce_of("ModelRegistry", heir.address) == nonce + (0 if direct else 1)
    assert ledger.rights_of(model_id, heir.address) == Rights.ALL
    assert ledger.rights_of(model_id, owner.address) == Rights.NONE
    # the previous owner lost its powers, the new owner has them
    with reverts(ledger, RegistryNotModelOwner, {"modelId": model_id, "account": owner.address}):
        ledger.set_model_metadata(owner, model_id, digest("x"))
    with reverts(ledger, RegistryNotMaintainer, {"modelId": model_id, "account": owner.address}):
        ledger.propose_version(owner, model_id, digest("artifact"))
    ledger.set_model_metadata(heir, model_id, digest("the heir's"))
    # the transfer is spent: accepting again finds nothing pending
    with reverts(
        ledger,
        RegistryNotPendingOwner,
        {"modelId": model_id, "account": heir.address, "pendingOwner": ZERO_ADDRESS},
    ):
        ledger.accept_model_ownership(heir, model_id)


def test_a_non_member_may_receive_a_model_by_signature(
    ledger: Ledger, owner: LocalAccount, outsider: LocalAccount, model_id: int
):
    """The pending owner need not be a member, nor pay gas: it signs, the relayer sends."""
    ledger.transfer_model_ownership(owner, model_id, outsider.address)
    balance = ledger.w3.eth.get_balance(outsider.address)

    receipt = ledger.accept_model_ownership(outsider, model_id)

    assert emitted(receipt) == [transferred(model_id, owner.address, outsider.address)]
    assert ledger.model(model_id).owner == outsider.address
    assert ledger.w3.eth.get_balance(outsider.address) == balance


def test_the_events_tell_the_ownership_history(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, outsider: LocalAccount, model_id: int
):
    ledger.transfer_model_ownership(owner, model_id, outsider.address)
    ledger.transfer_model_ownership(owner, model_id, ZERO_ADDRESS)
    ledger.transfer_model_ownership(owner, model_id, heir.address)
    ledger.accept_model_ownership(heir, model_id)

    history = [
        (e.name, e.args)
        for e in ledger.events(contract="ModelRegistry")
        if e.name.startswith("ModelOwnership")
    ]
    assert history == [
        started(model_id, owner.address, outsider.address),
        started(model_id, owner.address, ZERO_ADDRESS),
        started(model_id, owner.address, heir.address),
        transferred(model_id, owner.address, heir.address),
    ]


# ---------------------------------------------------------------- replacing and cancelling


@both_paths
def test_a_new_transfer_replaces_the_pending_one(
    ledger: Ledger,
    owner: LocalAccount,
    heir: LocalAccount,
    outsider: LocalAccount,
    model_id: int,
    direct: bool,
):
    ledger.transfer_model_ownership(owner, model_id, heir.address)
    receipt = ledger.transfer_model_ownership(owner, model_id, outsider.address, direct=direct)

    assert emitted(receipt) == [started(model_id, owner.address, outsider.address)]
    assert ledger.pending_owner_of(model_id) == outsider.address
    with reverts(
        ledger,
        RegistryNotPendingOwner,
        {"modelId": model_id, "account": heir.address, "pendingOwner": outsider.address},
        unchanged=lambda: ownership(ledger, model_id, owner, heir, outsider),
    ):
        ledger.accept_model_ownership(heir, model_id)
    ledger.accept_model_ownership(outsider, model_id)
    assert ledger.model(model_id).owner == outsider.address


@both_paths
def test_transfer_to_the_zero_address_cancels(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, model_id: int, direct: bool
):
    ledger.transfer_model_ownership(owner, model_id, heir.address)

    receipt = ledger.transfer_model_ownership(owner, model_id, ZERO_ADDRESS, direct=direct)

    assert emitted(receipt) == [started(model_id, owner.address, ZERO_ADDRESS)]
    assert ledger.pending_owner_of(model_id) is None
    assert ledger.model(model_id).pending_owner is None
    with reverts(
        ledger,
        RegistryNotPendingOwner,
        {"modelId": model_id, "account": heir.address, "pendingOwner": ZERO_ADDRESS},
        unchanged=lambda: ownership(ledger, model_id, owner, heir),
    ):
        ledger.accept_model_ownership(heir, model_id, direct=direct)
    assert ledger.model(model_id).owner == owner.address


def test_cancel_with_nothing_pending(ledger: Ledger, owner: LocalAccount, model_id: int):
    with reverts(
        ledger,
        RegistryNoPendingTransfer,
        {"modelId": model_id},
        unchanged=lambda: ownership(ledger, model_id, owner),
    ):
        ledger.transfer_model_ownership(owner, model_id, ZERO_ADDRESS)


# ---------------------------------------------------------------- refusals


@both_paths
def test_transfer_needs_the_owner(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, model_id: int, direct: bool
):
    with reverts(
        ledger,
        RegistryNotModelOwner,
        {"modelId": model_id, "account": heir.address},
        unchanged=lambda: ownership(ledger, model_id, owner, heir),
    ):
        ledger.transfer_model_ownership(heir, model_id, heir.address, direct=direct)


def test_the_pending_owner_cannot_pass_the_model_on_before_accepting(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, outsider: LocalAccount, model_id: int
):
    ledger.transfer_model_ownership(owner, model_id, heir.address)
    with reverts(
        ledger,
        RegistryNotModelOwner,
        {"modelId": model_id, "account": heir.address},
        unchanged=lambda: ownership(ledger, model_id, owner, heir, outsider),
    ):
        ledger.transfer_model_ownership(heir, model_id, outsider.address)


def test_transfer_to_the_owner_itself(ledger: Ledger, owner: LocalAccount, model_id: int):
    with reverts(
        ledger,
        RegistryAlreadyOwner,
        {"modelId": model_id, "account": owner.address},
        unchanged=lambda: ownership(ledger, model_id, owner),
    ):
        ledger.transfer_model_ownership(owner, model_id, owner.address)


@both_paths
def test_accept_with_nothing_pending(
    ledger: Ledger, owner: LocalAccount, heir: LocalAccount, model_id: int, direct: bool
):
    for account in (heir, owner):
        with reverts(
            ledger,
            RegistryNotPendingOwner,
            {"modelId": model_id, "account": account.address, "pendingOwner": ZERO_ADDRESS},
            unchanged=lambda: ownership(ledger, model_id, owner, heir),
        ):
            ledger.accept_model_ownership(account, model_id, direct=direct)


@both_paths
def test_accept_by_another_account(
    ledger: Ledger,
    owner: LocalAccount,
    heir: LocalAccount,
    outsider: LocalAccount,
    model_id: int,
    direct: bool,
):
    ledger.transfer_model_ownership(owner, model_id, heir.address)
    for account in (outsider, owner):
        with reverts(
            ledger,
            RegistryNotPendingOwner,
            {"modelId": model_id, "account": account.address, "pendingOwner": heir.address},
            unchanged=lambda: ownership(ledger, model_id, owner, heir, outsider),
        ):
            ledger.accept_model_ownership(account, model_id, direct=direct)


def test_unknown_model(ledger: Ledger, owner: LocalAccount, heir: LocalAccount):
    with reverts(ledger, RegistryUnknownModel, {"modelId": 9}):
        ledger.transfer_model_ownership(owner, 9, heir.address)
    with reverts(ledger, RegistryUnknownModel, {"modelId": 9}):
        ledger.accept_model_ownership(heir, 9)
    with reverts(ledger, RegistryUnknownModel, {"modelId": 9}):
        ledger.pending_owner_of(9)
