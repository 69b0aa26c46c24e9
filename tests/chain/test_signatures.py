"""Signed actions on a real anvil: a relayer submits ``...BySig`` with the actor's EIP-712
signature and the contract acts as the actor; it cannot forge, replay, re-date or move an action
to another chain or contract.

Each rejection is tested twice: through ``Ledger.relay(verify=True)``, whose local check raises
before anything is sent, and with ``verify=False``, so that the contract itself rejects it. After
each, nothing changed: no block, same nonces, same state; and the honest action with the same
nonce still goes through. The Python EIP-712 types are also checked against the Solidity sources,
the ABI and the contracts' ERC-5267 domains."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from service.chain.actions import (
    ACTIONS,
    DOMAIN_NAMES,
    STATEMENTS,
    Action,
    Domain,
    SignedAction,
    recover_signer,
    sign_action,
)
from service.chain.compile import source_files
from service.chain.ledger import Ledger
from service.chain.reverts import (
    ContractRevert,
    InvalidAccountNonce,
    SignedActionExpired,
    SignedActionInvalidSignature,
)
from service.chain.types import (
    NORM_SCALE,
    ChangeKind,
    Rights,
    Support,
    VersionKind,
    alias_to_bytes32,
    rule_to_bytes32,
)
from service.config import PROJECT_ROOT
from service.errors import InvalidInput, SignatureRejected
from tests.chain.conftest import increase_time
from tests.chain.helpers import (
    ZERO32,
    ZERO_ADDRESS,
    block_time,
    digest,
    emitted,
    pass_change,
    reverts,
    set_next_block_time,
)

CONTRACTS_DIR = PROJECT_ROOT / "contracts"

check = pytest.mark.parametrize("verify", [True, False], ids=["local-check", "on-chain"])


# ---------------------------------------------------------------- helpers


def register(
    ledger: Ledger,
    actor: LocalAccount,
    name: str = "signed-model",
    *,
    nonce: int | None = None,
    deadline: int | None = None,
) -> Action:
    """A RegisterModel action for ``actor``: its next nonce and a deadline an hour ahead."""
    return ledger.prepare(
        "RegisterModel",
        actor.address,
        {"name": name, "metadataDigest": digest("meta"), "restricted": False},
        nonce=nonce,
        deadline=deadline,
    )


def unchanged_by(ledger: Ledger, *accounts: LocalAccount) -> Callable[[], Any]:
    """Reads that any accepted action would change: nonces on both contracts and the state."""

    def read() -> Any:
        return (
            [
                ledger.nonce_of(c, a.address)
                for c in ("Consortium", "ModelRegistry")
                for a in accounts
            ],
            ledger.model_count(),
            ledger.members(),
            ledger.w3.eth.get_transaction_count(ledger.relayer.account.address),
        )

    return read


def assert_rejected(
    ledger: Ledger,
    signed: SignedAction,
    error: type[ContractRevert],
    arguments: dict[str, Any],
    *,
    verify: bool,
    accounts: tuple[LocalAccount, ...],
) -> None:
    with reverts(ledger, error, arguments, unchanged=unchanged_by(ledger, *accounts)) as info:
        ledger.relay(signed, verify=verify)
    assert isinstance(info.value, SignatureRejected)


def assert_honest_action_still_works(ledger: Ledger, actor: LocalAccount, name: str) -> None:
    """The rejected attempt consumed nothing: the actor's next nonce still signs a valid action."""
    receipt = ledger.relay(sign_action(register(ledger, actor, name), actor.key))
    assert receipt.event("ModelRegistered").args["owner"] == actor.address
    assert ledger.model_id_by_name(name) is not None


@pytest.fixture
def alice(members: list[LocalAccount]) -> LocalAccount:
    return members[0]


@pytest.fixture
def bob(members: list[LocalAccount]) -> LocalAccount:
    return members[1]


# ---------------------------------------------------------------- the relayer acts for the signer


def test_relayed_action_acts_as_the_signer(ledger: Ledger, alice: LocalAccount):
    relayer = ledger.relayer.account.address
    alice_balance = ledger.w3.eth.get_balance(alice.address)
    assert ledger.nonce_of("ModelRegistry", alice.address) == 0

    signed = sign_action(register(ledger, alice), alice.key)
    receipt = ledger.relay(signed)

    assert ledger.w3.eth.get_transaction(receipt.transaction_hash)["from"] == relayer
    assert emitted(receipt) == [
        (
            "ModelRegistered",
            {
                "modelId": 1,
                "owner": alice.address,
                "name": "signed-model",
                "metadataDigest": digest("meta"),
                "restricted": False,
            },
        )
    ]
    assert ledger.model(1).owner == alice.address
    assert ledger.rights_of(1, relayer) == Rights.NONE
    # alice's nonce moved on this contract only; the relayer paid the gas
    assert ledger.nonce_of("ModelRegistry", alice.address) == 1
    assert ledger.nonce_of("Consortium", alice.address) == 0
    assert ledger.nonce_of("ModelRegistry", relayer) == 0
    assert ledger.w3.eth.get_balance(alice.address) == alice_balance


def test_any_account_may_relay(ledger: Ledger, alice: LocalAccount, accounts: list[LocalAccount]):
    """The signature, not the sender, authorises: a stranger's transaction carries it too."""
    stranger = accounts[9]
    signed = sign_action(register(ledger, alice), alice.key)
    fn = ledger.registry.functions.registerModelBySig(*signed.by_sig_args())

    tx_hash = fn.transact({"from": stranger.address})  # anvil's unlocked dev account
    assert ledger.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1

    assert ledger.model(1).owner == alice.address
    assert ledger.nonce_of("ModelRegistry", alice.address) == 1


def test_direct_calls_do_not_use_nonces(ledger: Ledger, alice: LocalAccount):
    ledger.register_model(alice, "direct", direct=True)

    assert ledger.nonce_of("ModelRegistry", alice.address) == 0
    assert ledger.model(1).owner == alice.address


def test_nonces_count_per_account_and_contract(
    ledger: Ledger, alice: LocalAccount, bob: LocalAccount
):
    model_id = ledger.register_model(alice, "one")
    ledger.set_model_metadata(alice, model_id, digest("x"))
    ledger.propose_change(bob, ChangeKind.SET_QUORUM, value=6000)

    assert ledger.nonce_of("ModelRegistry", alice.address) == 2
    assert ledger.nonce_of("Consortium", alice.address) == 0
    assert ledger.nonce_of("ModelRegistry", bob.address) == 0
    assert ledger.nonce_of("Consortium", bob.address) == 1


@pytest.fixture
def scene(
    ledger: Ledger, members: list[LocalAccount], accounts: list[LocalAccount]
) -> dict[str, Any]:
    """State on which every action can run: a model with an approved and an open version, a model
    being handed to the third member, and an open membership proposal."""
    owner = members[0]
    model_id = ledger.register_model(owner, "scene")
    approved = ledger.propose_version(owner, model_id, digest("approved"))
    ledger.cast_vote(members[0], approved, Support.FOR)
    ledger.cast_vote(members[1], approved, Support.FOR)
    open_version = ledger.propose_version(owner, model_id, digest("open"))
    ledger.grant_rights(owner, model_id, accounts[6].address, Rights.ALL)
    proposal = ledger.propose_change(owner, ChangeKind.ADD_MEMBER, account=accounts[4].address)
    handed_over = ledger.register_model(owner, "handed-over")
    ledger.transfer_model_ownership(owner, handed_over, members[2].address)
    round_deadline = ledger.chain_time() + 86_400
    open_round, closed_round = (
        ledger.open_round(
            owner, model_id, approved, rule="fedavg", min_updates=1, max_updates=4,
            submission_deadline=round_deadline, max_norm=NORM_SCALE,
        )
        for _ in range(2)
    )  # fmt: skip
    ledger.submit_update(
        owner,
        closed_round,
        base_digest=digest("approved"),
        update_digest=digest("u"),
        sample_count=5,
    )
    ledger.close_round(owner, closed_round)
    return {
        "round_deadline": round_deadline,
        "open_round": open_round,
        "closed_round": closed_round,
        "owner": owner.address,
        "model": model_id,
        "handed_over": handed_over,
        "approved": approved,
        "open_version": open_version,
        "proposal": proposal,
        "holder": accounts[6].address,
        "newcomer": accounts[4].address,
    }


# action: (actor index in members, args from the scene, event, event argument naming the actor)
SIGNED_CASES: dict[str, tuple[int, Callable[[dict[str, Any]], dict[str, Any]], str, str]] = {
    "ProposeChange": (
        1,
        lambda s: {"kind": int(ChangeKind.SET_QUORUM), "account": ZERO_ADDRESS, "value": 7000},
        "ChangeProposed",
        "proposer",
    ),
    "VoteOnChange": (
        2,
        lambda s: {"proposalId": s["proposal"], "support": int(Support.AGAINST)},
        "ChangeVoteCast",
        "voter",
    ),
    "Resign": (2, lambda s: {}, "MemberRemoved", "account"),
    "RegisterModel": (
        1,
        lambda s: {"name": "by-sig", "metadataDigest": digest("m"), "restricted": True},
        "ModelRegistered",
        "owner",
    ),
    "SetModelMetadata": (
        0,
        lambda s: {"modelId": s["model"], "metadataDigest": digest("new")},
        "ModelMetadataChanged",
        "by",
    ),
    "TransferModelOwnership": (
        0,
        lambda s: {"modelId": s["model"], "newOwner": s["holder"]},
        "ModelOwnershipTransferStarted",
        "previousOwner",
    ),
    "AcceptModelOwnership": (
        2,
        lambda s: {"modelId": s["handed_over"]},
        "ModelOwnershipTransferred",
        "newOwner",
    ),
    "SetReadPolicy": (
        0,
        lambda s: {"modelId": s["model"], "restricted": True},
        "ReadPolicyChanged",
        "by",
    ),
    "GrantRights": (
        0,
        lambda s: {"modelId": s["model"], "account": s["newcomer"], "rights": 3},
        "RightsGranted",
        "by",
    ),
    "RevokeRights": (
        0,
        lambda s: {"modelId": s["model"], "account": s["holder"], "rights": 4},
        "RightsRevoked",
        "by",
    ),
    "ProposeVersion": (
        0,
        lambda s: {
            "modelId": s["model"],
            "parentId": s["approved"],
            "kind": int(VersionKind.ACCELERATED),
            "artifactDigest": digest("accelerated"),
            "metadataDigest": digest("recipe"),
        },
        "VersionProposed",
        "proposer",
    ),
    "CastVote": (
        2,
        lambda s: {"versionId": s["open_version"], "support": int(Support.ABSTAIN)},
        "VoteCast",
        "voter",
    ),
    "MoveAlias": (
        0,
        lambda s: {
            "modelId": s["model"],
            "aliasName": alias_to_bytes32("production"),
            "versionId": s["approved"],
        },
        "AliasMoved",
        "by",
    ),
    "OpenRound": (
        0,
        lambda s: {
            "modelId": s["model"],
            "baseVersionId": s["approved"],
            "rule": rule_to_bytes32("krum"),
            "paramsDigest": digest("krum-params"),
            "minUpdates": 2,
            "maxUpdates": 8,
            "submissionDeadline": s["round_deadline"],
            "maxNorm": 3 * NORM_SCALE,
        },
        "RoundOpened",
        "by",
    ),
    "SubmitUpdate": (
        0,
        lambda s: {
            "roundId": s["open_round"],
            "baseDigest": digest("approved"),
            "updateDigest": digest("update"),
            "sampleCount": 42,
        },
        "UpdateSubmitted",
        "participant",
    ),
    "CloseRound": (0, lambda s: {"roundId": s["open_round"]}, "RoundClosed", "by"),
    "FinalizeRound": (
        0,
        lambda s: {
            "roundId": s["closed_round"],
            "included": [s["owner"]],
            "excluded": [],
            "reasons": [],
            "aggregateDigest": digest("aggregate"),
            "metadataDigest": ZERO32,
        },
        "RoundFinalized",
        "by",
    ),
    "CancelRound": (0, lambda s: {"roundId": s["open_round"]}, "RoundCancelled", "by"),
}


def test_signed_cases_cover_every_action():
    assert set(SIGNED_CASES) == set(ACTIONS)


@pytest.mark.parametrize("name", sorted(SIGNED_CASES))
def test_every_action_signed_in_python_runs_on_chain_as_its_signer(
    ledger: Ledger, members: list[LocalAccount], scene: dict[str, Any], name: str
):
    actor_index, make_args, event, actor_field = SIGNED_CASES[name]
    actor = members[actor_index]
    contract = ACTIONS[name].contract
    nonce = ledger.nonce_of(contract, actor.address)

    signed = sign_action(ledger.prepare(name, actor.address, make_args(scene)), actor.key)
    receipt = ledger.relay(signed, verify=False)

    assert receipt.event(event).args[actor_field] == actor.address
    assert ledger.nonce_of(contract, actor.address) == nonce + 1


# ---------------------------------------------------------------- forged signatures


BAD_SIGNATURES = {
    "random-65-bytes": keccak(text="r") + keccak(text="s") + b"\x05",
    "random-r-s-valid-v": keccak(text="r") + keccak(text="s") + b"\x1b",
    "zero-65-bytes": bytes(65),
    "64-bytes": keccak(text="r") + keccak(text="s"),
    "empty": b"",
}


@check
@pytest.mark.parametrize("signature", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
def test_bad_signature(ledger: Ledger, alice: LocalAccount, signature: bytes, verify: bool):
    signed = SignedAction(action=register(ledger, alice), signature=signature)

    assert_rejected(
        ledger,
        signed,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice,),
    )
    assert_honest_action_still_works(ledger, alice, "honest")


@check
def test_signature_of_different_arguments(ledger: Ledger, alice: LocalAccount, verify: bool):
    genuine = sign_action(register(ledger, alice, "what-alice-signed"), alice.key)
    tampered = SignedAction(
        action=register(ledger, alice, "what-the-relayer-sends"), signature=genuine.signature
    )

    assert_rejected(
        ledger,
        tampered,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice,),
    )
    assert ledger.model_id_by_name("what-the-relayer-sends") is None
    ledger.relay(genuine)  # the genuine one is still good
    assert ledger.model_id_by_name("what-alice-signed") == 1


@check
def test_signature_of_another_account(
    ledger: Ledger, alice: LocalAccount, bob: LocalAccount, verify: bool
):
    """Bob signs an action whose actor is Alice."""
    signed = sign_action(register(ledger, alice), bob.key)

    assert_rejected(
        ledger,
        signed,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice, bob),
    )
    assert_honest_action_still_works(ledger, alice, "honest")


@check
def test_relayer_cannot_swap_the_actor(
    ledger: Ledger, alice: LocalAccount, bob: LocalAccount, verify: bool
):
    """Alice's signature presented as Bob's action (same nonce, same arguments)."""
    genuine = sign_action(register(ledger, alice), alice.key)
    swapped = SignedAction(
        action=dataclasses.replace(genuine.action, actor=bob.address), signature=genuine.signature
    )

    assert_rejected(
        ledger,
        swapped,
        SignedActionInvalidSignature,
        {"actor": bob.address},
        verify=verify,
        accounts=(alice, bob),
    )


# ---------------------------------------------------------------- nonces


@check
def test_replayed_action(ledger: Ledger, alice: LocalAccount, verify: bool):
    signed = sign_action(register(ledger, alice), alice.key)
    ledger.relay(signed)
    assert ledger.nonce_of("ModelRegistry", alice.address) == 1

    assert_rejected(
        ledger,
        signed,
        InvalidAccountNonce,
        {"account": alice.address, "currentNonce": 1},
        verify=verify,
        accounts=(alice,),
    )
    assert ledger.model_count() == 1


@check
def test_replay_after_the_action_failed_is_still_refused(
    ledger: Ledger, alice: LocalAccount, bob: LocalAccount, verify: bool
):
    """A nonce is spent by a successful action only; a later replay of it is refused."""
    first = sign_action(register(ledger, alice, "taken"), alice.key)
    ledger.relay(first)
    second = sign_action(register(ledger, alice, "next"), alice.key)
    assert second.action.nonce == 1
    ledger.relay(second)

    assert_rejected(
        ledger,
        second,
        InvalidAccountNonce,
        {"account": alice.address, "currentNonce": 2},
        verify=verify,
        accounts=(alice,),
    )


@check
@pytest.mark.parametrize("offset", [1, 5])
def test_nonce_from_the_future(ledger: Ledger, alice: LocalAccount, verify: bool, offset: int):
    signed = sign_action(register(ledger, alice, nonce=offset), alice.key)

    assert_rejected(
        ledger,
        signed,
        InvalidAccountNonce,
        {"account": alice.address, "currentNonce": 0},
        verify=verify,
        accounts=(alice,),
    )
    assert_honest_action_still_works(ledger, alice, "honest")


def test_nonces_of_the_two_contracts_are_separate(ledger: Ledger, alice: LocalAccount):
    """Nonce 0 used on the registry is still free on the consortium, and vice versa."""
    ledger.relay(sign_action(register(ledger, alice), alice.key))
    action = ledger.prepare(
        "ProposeChange",
        alice.address,
        {"kind": int(ChangeKind.SET_QUORUM), "account": ZERO_ADDRESS, "value": 6000},
    )

    assert action.nonce == 0
    ledger.relay(sign_action(action, alice.key))
    assert ledger.proposal(1).proposer == alice.address
    assert ledger.nonce_of("Consortium", alice.address) == 1
    assert ledger.nonce_of("ModelRegistry", alice.address) == 1


# ---------------------------------------------------------------- deadlines


def expiry_time(ledger: Ledger, *, verify: bool) -> int:
    """The chain time an expiry names, pinned: the next block's timestamp is set to latest + 1,
    which is both what the local check compares with (the earliest time the next block can
    carry; tests move the chain clock ahead of this host's first) and the time of the pending
    block the contract's dry run runs in."""
    latest = block_time(ledger.w3)
    set_next_block_time(ledger.w3, latest + 1)
    return latest + 1


@check
def test_expired_deadline(ledger: Ledger, alice: LocalAccount, verify: bool):
    increase_time(ledger.w3, 600)
    deadline = block_time(ledger.w3) - 1
    signed = sign_action(register(ledger, alice, deadline=deadline), alice.key)

    assert_rejected(
        ledger,
        signed,
        SignedActionExpired,
        {"deadline": deadline, "timestamp": expiry_time(ledger, verify=verify)},
        verify=verify,
        accounts=(alice,),
    )
    assert_honest_action_still_works(ledger, alice, "honest")


@check
def test_deadline_passes_while_waiting(ledger: Ledger, alice: LocalAccount, verify: bool):
    deadline = block_time(ledger.w3) + 60
    signed = sign_action(register(ledger, alice, deadline=deadline), alice.key)
    increase_time(ledger.w3, 600)

    assert_rejected(
        ledger,
        signed,
        SignedActionExpired,
        {"deadline": deadline, "timestamp": expiry_time(ledger, verify=verify)},
        verify=verify,
        accounts=(alice,),
    )


def test_deadline_is_inclusive(ledger: Ledger, alice: LocalAccount):
    deadline = block_time(ledger.w3) + 30
    signed = sign_action(register(ledger, alice, deadline=deadline), alice.key)
    ledger.w3.provider.make_request("evm_setNextBlockTimestamp", [deadline])  # type: ignore[arg-type]

    receipt = ledger.relay(signed, verify=False)

    assert block_time(ledger.w3, receipt.block_number) == deadline


@check
def test_relayer_cannot_re_date_an_action(ledger: Ledger, alice: LocalAccount, verify: bool):
    now = block_time(ledger.w3)
    genuine = sign_action(register(ledger, alice, deadline=now + 60), alice.key)
    re_dated = SignedAction(
        action=dataclasses.replace(genuine.action, deadline=now + 10_000),
        signature=genuine.signature,
    )

    assert_rejected(
        ledger,
        re_dated,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice,),
    )


# ---------------------------------------------------------------- other chains and contracts


def other_domain(ledger: Ledger, **changes: Any) -> Domain:
    return dataclasses.replace(ledger.domain("ModelRegistry"), **changes)


@check
@pytest.mark.parametrize(
    "domain_change",
    [
        {"chain_id": 1},
        {"chain_id": 31338},
        {"name": DOMAIN_NAMES["Consortium"]},
        {"name": "GovLedger"},
        {"version": "2"},
    ],
    ids=["mainnet", "chain-31338", "consortium-name", "other-name", "version-2"],
)
def test_other_domain(
    ledger: Ledger, alice: LocalAccount, verify: bool, domain_change: dict[str, Any]
):
    action = dataclasses.replace(
        register(ledger, alice), domain=other_domain(ledger, **domain_change)
    )
    signed = sign_action(action, alice.key)

    assert_rejected(
        ledger,
        signed,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice,),
    )
    assert_honest_action_still_works(ledger, alice, "honest")


@check
def test_other_verifying_contract(ledger: Ledger, alice: LocalAccount, verify: bool):
    """A registry action signed for the Consortium's address (its domain otherwise right)."""
    consortium = ledger.deployment.consortium
    action = dataclasses.replace(
        register(ledger, alice), domain=other_domain(ledger, verifying_contract=consortium)
    )
    signed = sign_action(action, alice.key)

    assert_rejected(
        ledger,
        signed,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice,),
    )


@check
def test_action_of_one_contract_relayed_to_the_other(
    ledger: Ledger, alice: LocalAccount, verify: bool
):
    """Resign signed for the Consortium: submitted as if it were for the registry's domain it
    fails, since the signer signed the Consortium's domain."""
    action = ledger.prepare("Resign", alice.address, {})
    signed = sign_action(
        dataclasses.replace(action, domain=ledger.domain("ModelRegistry")), alice.key
    )

    assert_rejected(
        ledger,
        signed,
        SignedActionInvalidSignature,
        {"actor": alice.address},
        verify=verify,
        accounts=(alice,),
    )
    assert ledger.is_member(alice.address)


# ---------------------------------------------------------------- the contract's order of checks


def test_contract_checks_deadline_then_nonce_then_signature(
    ledger: Ledger, alice: LocalAccount, bob: LocalAccount
):
    now = block_time(ledger.w3)
    expired_forged = sign_action(register(ledger, alice, nonce=7, deadline=now - 1), bob.key)
    with reverts(ledger, SignedActionExpired, {"deadline": now - 1, "timestamp": now}):
        ledger.relay(expired_forged, verify=False)

    forged_bad_nonce = sign_action(register(ledger, alice, nonce=7), bob.key)
    with reverts(ledger, InvalidAccountNonce, {"account": alice.address, "currentNonce": 0}):
        ledger.relay(forged_bad_nonce, verify=False)


def test_mined_forgery_reverts_on_chain_and_changes_nothing(
    ledger: Ledger, alice: LocalAccount, bob: LocalAccount, accounts: list[LocalAccount]
):
    """Sent with a fixed gas limit (no estimate to stop it), the forged action is mined and
    reverted by the contract itself."""
    rogue = accounts[9]
    forged = sign_action(register(ledger, alice), bob.key)
    fn = ledger.registry.functions.registerModelBySig(*forged.by_sig_args())
    before = unchanged_by(ledger, alice, bob)()

    tx_hash = fn.transact({"from": rogue.address, "gas": 500_000})
    receipt = ledger.w3.eth.wait_for_transaction_receipt(tx_hash)

    assert receipt["status"] == 0
    assert receipt["logs"] == []
    assert unchanged_by(ledger, alice, bob)() == before
    with pytest.raises(SignedActionInvalidSignature) as info:
        ledger.relayer.call(fn)  # the same call, dry-run, for its reason
    assert info.value.arguments == {"actor": alice.address}


# ---------------------------------------------------------------- the EIP-712 types


def solidity_typehash_strings() -> dict[str, str]:
    """Every ``keccak256("...")`` string in the contracts' sources (adjacent literals joined),
    by the struct name it starts with."""
    found: dict[str, str] = {}
    for path in source_files(CONTRACTS_DIR):
        source = path.read_text()
        for literals in re.findall(r'keccak256\(\s*((?:"[^"]*"\s*)+)\)', source):
            text = "".join(re.findall(r'"([^"]*)"', literals))
            name = text.split("(", 1)[0]
            assert name not in found, f"{name} is hashed twice"
            found[name] = text
    return found


def test_python_type_strings_equal_the_solidity_typehash_strings():
    solidity = solidity_typehash_strings()

    assert set(solidity) == set(ACTIONS)
    for name, spec in ACTIONS.items():
        assert spec.type_string == solidity[name], name


def test_off_chain_statements_are_accepted_by_no_contract(ledger: Ledger):
    """A StoreMetadata signature must never pass for an on-chain action: no contract hashes the
    statement's type, names it, or has a function of that name."""
    assert STATEMENTS["StoreMetadata"].type_string == (
        "StoreMetadata(bytes32 digest,address actor,uint256 deadline)"
    )
    solidity = solidity_typehash_strings()
    sources = "".join(p.read_text() for p in CONTRACTS_DIR.rglob("*.sol"))
    for name, spec in STATEMENTS.items():
        assert name not in ACTIONS and name not in solidity
        assert name not in sources and spec.type_string not in sources
        for contract in ledger.contracts.values():
            names = {item.get("name", "").lower() for item in contract.abi}
            assert name.lower() not in names and name.lower() + "bysig" not in names


def test_type_strings_are_well_formed():
    for spec in ACTIONS.values():
        field = r"\w+(\[\])? \w+"  # arrays (address[], uint8[]) too
        assert re.fullmatch(rf"[A-Z]\w*\(({field}(,{field})*)?\)", spec.type_string), (
            spec.type_string
        )
        assert spec.type_string.endswith(",address actor,uint256 nonce,uint256 deadline)") or (
            spec.type_string == "Resign(address actor,uint256 nonce,uint256 deadline)"
        )


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_action_specs_match_the_abi(ledger: Ledger, name: str):
    spec = ACTIONS[name]
    abi = ledger.contracts[spec.contract].abi

    def inputs(function: str) -> list[tuple[str, str]]:
        (item,) = [i for i in abi if i.get("type") == "function" and i["name"] == function]
        return [(i["name"], i["type"]) for i in item["inputs"]]

    fields = list(spec.fields)
    if spec.struct_argument:  # one struct argument whose components are the signed fields
        (item,) = [i for i in abi if i.get("type") == "function" and i["name"] == spec.function]
        (terms,) = item["inputs"]
        assert [(c["name"], c["type"]) for c in terms["components"]] == fields
        fields = [(spec.struct_argument, "tuple")]
    assert inputs(spec.function) == fields
    assert inputs(spec.by_sig_function) == [
        *fields,
        ("actor", "address"),
        ("nonce", "uint256"),
        ("deadline", "uint256"),
        ("signature", "bytes"),
    ]


@pytest.mark.parametrize("contract", ["Consortium", "ModelRegistry", "FederatedRounds"])
def test_contracts_report_their_eip712_domain(ledger: Ledger, contract: str):
    address = ledger.deployment.address_of(contract)
    reported = ledger.contracts[contract].functions.eip712Domain().call()

    assert reported == [
        b"\x0f",  # name, version, chainId, verifyingContract
        DOMAIN_NAMES[contract],  # type: ignore[index]
        "1",
        ledger.deployment.chain_id,
        address,
        ZERO32,
        [],
    ]
    assert ledger.w3.eth.chain_id == ledger.deployment.chain_id
    assert ledger.domain(contract).as_eip712() == {  # type: ignore[arg-type]
        "name": reported[1],
        "version": reported[2],
        "chainId": reported[3],
        "verifyingContract": reported[4],
    }


def test_sign_and_recover_round_trip(ledger: Ledger, alice: LocalAccount, bob: LocalAccount):
    action = register(ledger, alice)
    signed = sign_action(action, alice.key)

    assert recover_signer(action, signed.signature) == alice.address
    assert recover_signer(action, sign_action(action, bob.key).signature) == bob.address
    assert recover_signer(dataclasses.replace(action, nonce=1), signed.signature) != alice.address
    with pytest.raises(InvalidInput):
        recover_signer(action, signed.signature[:64])


def test_verify_accepts_a_good_signature_without_sending(ledger: Ledger, alice: LocalAccount):
    block = ledger.block_number()
    ledger.verify(sign_action(register(ledger, alice), alice.key))

    assert ledger.block_number() == block
    assert ledger.version_count() == 0
    assert ledger.model_count() == 0
    assert ledger.nonce_of("ModelRegistry", alice.address) == 0


# ---------------------------------------------------------------- contract accounts (ERC-1271)


@pytest.mark.parametrize("verify", [True, False], ids=["local-check", "on-chain"])
def test_a_contract_account_member_signs_through_erc1271(
    ledger: Ledger, build, accounts, members, verify: bool
) -> None:
    """A multisig-style member: the wallet contract is the actor, its owner key signs, the
    wallet vouches for the signature (ERC-1271), both locally and in the contract."""
    from service.chain.actions import sign_action
    from service.chain.transactor import Transactor

    key_holder = accounts[7]
    mock = build["ERC1271WalletMock"]
    deployer = Transactor(w3=ledger.w3, account=accounts[8], decoder=ledger.decoder)
    factory = ledger.w3.eth.contract(abi=mock.abi, bytecode=mock.bytecode)
    wallet = deployer.transact(factory.constructor(key_holder.address))["contractAddress"]
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=wallet)

    action = ledger.prepare(
        "RegisterModel",
        wallet,
        {"name": "multisig-model", "metadataDigest": bytes(32), "restricted": False},
    )
    receipt = ledger.relay(sign_action(action, key_holder.key), verify=verify)

    assert receipt.event("ModelRegistered").args["owner"] == wallet
    assert ledger.nonce_of("ModelRegistry", wallet) == 1

    # a signature by any other key is refused by the wallet, hence by the ledger
    stranger = ledger.prepare(
        "RegisterModel",
        wallet,
        {"name": "not-by-owner", "metadataDigest": bytes(32), "restricted": False},
    )
    with pytest.raises(SignedActionInvalidSignature) as raised:
        ledger.relay(sign_action(stranger, accounts[9].key), verify=verify)
    assert raised.value.arguments == {"actor": wallet}


def deploy_wallet(ledger: Ledger, build, deployer: LocalAccount, name: str, *args: Any) -> str:
    """Deploy the mock wallet contract ``name`` from ``deployer``; returns its address."""
    from service.chain.transactor import Transactor

    mock = build[name]
    sender = Transactor(w3=ledger.w3, account=deployer, decoder=ledger.decoder)
    factory = ledger.w3.eth.contract(abi=mock.abi, bytecode=mock.bytecode)
    return str(sender.transact(factory.constructor(*args))["contractAddress"])


@pytest.mark.parametrize("contract", ["Consortium", "ModelRegistry"])
def test_contracts_publish_the_erc1271_gas_limit(ledger: Ledger, contract: str):
    assert ledger.contracts[contract].functions.ERC1271_GAS_LIMIT().call() == 50_000
    assert ledger.erc1271_gas_limit(contract) == 50_000  # type: ignore[arg-type]


@pytest.mark.parametrize("verify", [True, False], ids=["local-check", "on-chain"])
def test_a_wallet_that_needs_more_gas_than_the_bound_has_not_signed(
    ledger: Ledger, build, accounts, members, verify: bool
) -> None:
    """A wallet whose ``isValidSignature`` burns 60,000 gas: its answer would be yes, but the
    contract gives it 50,000 gas, and so does the relayer's local check."""
    from service.chain.actions import typed_data_digest

    key_holder = accounts[7]
    wallet = deploy_wallet(
        ledger, build, accounts[8], "ERC1271GasBurningWalletMock", key_holder.address, 60_000
    )
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=wallet)
    action = ledger.prepare(
        "RegisterModel",
        wallet,
        {"name": "greedy-wallet", "metadataDigest": bytes(32), "restricted": False},
    )
    signed = sign_action(action, key_holder.key)
    # with all the gas it wants, the wallet vouches for the signature
    magic = (
        ledger.w3.eth.contract(address=wallet, abi=build["ERC1271GasBurningWalletMock"].abi)
        .functions.isValidSignature(typed_data_digest(action), signed.signature)
        .call({"gas": 1_000_000})
    )
    assert magic == bytes.fromhex("1626ba7e")
    # the relayer's own check, alone, refuses it (it does not lean on the contract's)
    with pytest.raises(SignedActionInvalidSignature):
        ledger.verify(signed)

    def state() -> Any:
        return (
            ledger.nonce_of("ModelRegistry", wallet),
            ledger.model_count(),
            ledger.w3.eth.get_transaction_count(ledger.relayer.account.address),
        )

    with reverts(
        ledger, SignedActionInvalidSignature, {"actor": wallet}, unchanged=state
    ) as raised:
        ledger.relay(signed, verify=verify)
    assert isinstance(raised.value, SignatureRejected)


@pytest.mark.parametrize("verify", [True, False], ids=["local-check", "on-chain"])
def test_a_wallet_within_the_gas_bound_signs(
    ledger: Ledger, build, accounts, members, verify: bool
) -> None:
    key_holder = accounts[7]
    wallet = deploy_wallet(
        ledger, build, accounts[8], "ERC1271GasBurningWalletMock", key_holder.address, 20_000
    )
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=wallet)
    action = ledger.prepare(
        "RegisterModel",
        wallet,
        {"name": "frugal-wallet", "metadataDigest": bytes(32), "restricted": False},
    )
    signed = sign_action(action, key_holder.key)
    ledger.verify(signed)
    receipt = ledger.relay(signed, verify=verify)

    assert receipt.event("ModelRegistered").args["owner"] == wallet
    assert ledger.nonce_of("ModelRegistry", wallet) == 1
