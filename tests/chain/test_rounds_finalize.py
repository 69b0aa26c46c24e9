"""Finalizing federated rounds on a real anvil: the aggregate recorded as a version of kind
Aggregate of the round's base, the commitment to the included updates (the contract's root
equals ``merkle.inclusion_root`` over the updates the test submitted, and every proof passes
OpenZeppelin's ``MerkleProof`` on chain), each exclusion with its reason, and every refusal with
its custom error and arguments, nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract

from service.chain import merkle
from service.chain.compile import Build
from service.chain.ledger import Ledger
from service.chain.reverts import (
    RegistryInvalidDigest,
    RoundsInvalidExclusionReason,
    RoundsLengthMismatch,
    RoundsListedTwice,
    RoundsNothingIncluded,
    RoundsNotMaintainer,
    RoundsNotSubmitter,
    RoundsParticipantsMissing,
    RoundsParticipantsNotAscending,
    RoundsTooFewUpdates,
    RoundsUnexpectedState,
    RoundsUnknownRound,
    RoundsWrongBaseDigest,
)
from service.chain.types import (
    CloseReason,
    ExclusionReason,
    Rights,
    RoundState,
    State,
    Support,
    UpdateRecord,
    VersionKind,
)
from tests.chain.helpers import ZERO32, digest, emitted
from tests.chain.helpers import reverts as refused
from tests.chain.rounds_scene import (
    BASE_DIGEST,
    RoundScene,
    ascending,
    make_scene,
    open_round,
    past_deadline,
    signed_update,
    submit,
    update_digest,
)

AGGREGATE = digest("aggregate weights")
AGGREGATE_META = digest("aggregate metadata")

both_paths = pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])


@pytest.fixture
def scene(ledger: Ledger, accounts: list[LocalAccount]) -> RoundScene:
    return make_scene(ledger, accounts)


def leaf_of(participant: LocalAccount, round_id: int, samples: int = 100) -> bytes:
    """The leaf the test expects, from what it submitted (not read back from the chain)."""
    return merkle.inclusion_leaf(participant.address, update_digest(participant, round_id), samples)


def unchanged(ledger: Ledger, round_id: int) -> Callable[[], Any]:
    def read() -> Any:
        known = 0 < round_id <= ledger.round_count()
        return (
            ledger.round(round_id) if known else None,
            ledger.version_count(),
            ledger.round_count(),
        )

    return read


def closed_round(ledger: Ledger, scene: RoundScene, count: int = 3, **overrides: Any) -> int:
    """A round that ``count`` contributors submitted to, closed early by its owner (or by its
    last submission, if that reached its maximum)."""
    round_id = open_round(ledger, scene, **overrides)
    for c in scene.contributors[:count]:
        submit(ledger, c, round_id)
    if ledger.round_state(round_id) is RoundState.OPEN:
        ledger.close_round(scene.owner, round_id)
    return round_id


# ---------------------------------------------------------------- finalizing


@both_paths
def test_finalize_records_the_aggregate_and_its_commitment(
    ledger: Ledger, scene: RoundScene, direct: bool
):
    round_id = open_round(ledger, scene)  # at most 4: the fourth submission closes it
    for c in scene.contributors:
        submit(ledger, c, round_id)
    not_selected, unavailable = scene.contributors[1], scene.contributors[3]
    included = ascending([scene.contributors[0], scene.contributors[2]])
    excluded = ascending([not_selected, unavailable])
    reasons = {
        not_selected.address: ExclusionReason.NOT_SELECTED,
        unavailable.address: ExclusionReason.UNAVAILABLE,
    }
    root = merkle.inclusion_root([leaf_of(c, round_id) for c in included])

    receipt = ledger.act(
        scene.maintainer,
        "FinalizeRound",
        {
            "roundId": round_id,
            "included": [c.address for c in included],
            "excluded": [c.address for c in excluded],
            "reasons": [int(reasons[c.address]) for c in excluded],
            "aggregateDigest": AGGREGATE,
            "metadataDigest": AGGREGATE_META,
        },
        direct=direct,
    )

    version_id = ledger.version_count()
    version = ledger.version(version_id)
    eligible, required, _ = ledger.ballot_parameters()
    assert emitted(receipt) == [
        ("RoundStateChanged", {"roundId": round_id, "previous": 1, "current": 2}),
        *[
            (
                "UpdateExcluded",
                {"roundId": round_id, "participant": c.address, "reason": reasons[c.address]},
            )
            for c in excluded
        ],
        (
            "VersionProposed",
            {
                "versionId": version_id,
                "modelId": scene.model_id,
                "proposer": scene.maintainer.address,
                "parentId": scene.base_id,
                "kind": int(VersionKind.AGGREGATE),
                "artifactDigest": AGGREGATE,
                "metadataDigest": AGGREGATE_META,
                "deadline": version.ballot.deadline,
                "requiredVotes": required,
                "eligibleVoters": eligible,
            },
        ),
        (
            "RoundFinalized",
            {
                "roundId": round_id,
                "aggregateVersionId": version_id,
                "aggregateDigest": AGGREGATE,
                "inclusionRoot": root,
                "includedCount": 2,
                "excludedCount": 2,
                "by": scene.maintainer.address,
            },
        ),
    ]
    record = ledger.round(round_id)
    assert (record.state, record.stored_state) == (RoundState.FINALIZED, RoundState.FINALIZED)
    assert (record.aggregate_version_id, record.inclusion_root) == (version_id, root)
    assert (record.update_count, record.included_count, record.excluded_count) == (4, 2, 2)
    assert (version.kind, version.model_id, version.parent_id) == (
        VersionKind.AGGREGATE,
        scene.model_id,
        scene.base_id,
    )
    assert (version.proposer, version.state) == (scene.maintainer.address, State.PROPOSED)
    # an auditor rebuilds the commitment from the chain alone
    assert ledger.exclusions(round_id) == reasons
    assert ledger.included_updates(round_id) == [
        UpdateRecord(
            round_id=round_id,
            participant=c.address,
            update_digest=update_digest(c, round_id),
            sample_count=100,
            index=scene.contributors.index(c),
        )
        for c in included
    ]


def test_the_typed_action_sorts_the_lists_and_returns_the_version(
    ledger: Ledger, scene: RoundScene
):
    round_id = closed_round(ledger, scene, count=4)
    included = scene.contributors[:3][::-1]  # in no particular order

    version_id = ledger.finalize_round(
        scene.owner,
        round_id,
        included=[c.address for c in included],
        excluded={scene.contributors[3].address: ExclusionReason.INVALID},
        aggregate_digest=AGGREGATE,
    )

    assert ledger.version(version_id).kind is VersionKind.AGGREGATE
    assert ledger.round(round_id).inclusion_root == merkle.inclusion_root(
        [leaf_of(c, round_id) for c in ascending(included)]
    )
    assert ledger.exclusions(round_id) == {scene.contributors[3].address: ExclusionReason.INVALID}


def test_finalizing_an_open_round_past_its_deadline_records_its_close_first(
    ledger: Ledger, scene: RoundScene
):
    round_id = open_round(ledger, scene)
    for c in scene.contributors[:2]:
        submit(ledger, c, round_id)
    past_deadline(ledger, round_id)
    included = [c.address for c in ascending(scene.contributors[:2])]

    receipt = ledger.act(scene.owner, "FinalizeRound", _finalize_args(round_id, included, [], []))

    events = emitted(receipt)
    assert events[:3] == [
        ("RoundStateChanged", {"roundId": round_id, "previous": 0, "current": 1}),
        (
            "RoundClosed",
            {
                "roundId": round_id,
                "reason": int(CloseReason.DEADLINE_PASSED),
                "updateCount": 2,
                "by": scene.owner.address,
            },
        ),
        ("RoundStateChanged", {"roundId": round_id, "previous": 1, "current": 2}),
    ]
    assert [name for name, _ in events[3:]] == ["VersionProposed", "RoundFinalized"]
    assert ledger.round(round_id).stored_state is RoundState.FINALIZED


def test_members_vote_on_the_aggregate_and_the_next_round_starts_from_it(
    ledger: Ledger, scene: RoundScene
):
    round_id = closed_round(ledger, scene, count=2)
    version_id = ledger.finalize_round(
        scene.owner,
        round_id,
        included=[c.address for c in scene.contributors[:2]],
        aggregate_digest=AGGREGATE,
    )
    ledger.cast_vote(scene.members[1], version_id, Support.FOR)
    assert ledger.cast_vote(scene.members[2], version_id, Support.FOR) is State.APPROVED
    ledger.move_alias(scene.owner, scene.model_id, "production", version_id)

    next_round = ledger.open_round(
        scene.owner, scene.model_id, version_id, rule="fedavg", min_updates=1, max_updates=2,
        submission_deadline=ledger.chain_time() + 600, max_norm=1,
    )  # fmt: skip

    assert ledger.round(next_round).base_digest == AGGREGATE
    with refused(
        ledger,
        RoundsWrongBaseDigest,
        {"roundId": next_round, "baseDigest": AGGREGATE, "given": BASE_DIGEST},
    ):
        submit(ledger, scene.contributors[0], next_round)  # trained from the old base


# ---------------------------------------------------------------- refusals


def _finalize_args(round_id: int, included: list[str], excluded: list[str], reasons: list[int]):
    return {
        "roundId": round_id,
        "included": included,
        "excluded": excluded,
        "reasons": reasons,
        "aggregateDigest": AGGREGATE,
        "metadataDigest": ZERO32,
    }


def _lists(ledger: Ledger, scene: RoundScene, round_id: int) -> tuple[list[str], list[str]]:
    """The round's three submitters, ascending: the first two included, the last excluded."""
    ordered = [c.address for c in ascending(scene.contributors[:3])]
    return ordered[:2], ordered[2:]


def _refusal(case: str, ledger: Ledger, scene: RoundScene) -> tuple[Any, ...]:
    """(actor, FinalizeRound arguments, error, its arguments) for ``case``."""
    round_id = closed_round(ledger, scene)
    inc, exc = _lists(ledger, scene, round_id)
    owner = scene.owner
    ok = _finalize_args(round_id, inc, exc, [1])
    if case == "included-not-ascending":
        return (
            owner, {**ok, "included": inc[::-1]}, RoundsParticipantsNotAscending,
            {"roundId": round_id, "previous": inc[1], "next": inc[0]},
        )  # fmt: skip
    if case == "excluded-not-ascending":
        args = _finalize_args(round_id, inc[:1], [exc[0], inc[1]], [1, 1])
        return (
            owner, args, RoundsParticipantsNotAscending,
            {"roundId": round_id, "previous": exc[0], "next": inc[1]},
        )  # fmt: skip
    if case == "a-submitter-left-out":
        return (
            owner, _finalize_args(round_id, inc, [], []), RoundsParticipantsMissing,
            {"roundId": round_id, "listed": 2, "updateCount": 3},
        )  # fmt: skip
    if case == "not-a-submitter":
        stranger = scene.stranger.address
        args = {**ok, "excluded": [*exc, stranger] if int(stranger, 16) > int(exc[0], 16) else
                [stranger, *exc], "reasons": [1, 1]}  # fmt: skip
        return owner, args, RoundsNotSubmitter, {"roundId": round_id, "account": stranger}
    if case == "listed-twice":
        args = _finalize_args(round_id, inc, [inc[0]], [1])
        return owner, args, RoundsListedTwice, {"roundId": round_id, "participant": inc[0]}
    if case in ("reason-0", "reason-4"):
        reason = int(case[-1])
        return (
            owner, {**ok, "reasons": [reason]}, RoundsInvalidExclusionReason,
            {"participant": exc[0], "reason": reason},
        )  # fmt: skip
    if case == "a-reason-missing":
        return (
            owner, {**ok, "reasons": []}, RoundsLengthMismatch,
            {"excludedCount": 1, "reasonCount": 0},
        )  # fmt: skip
    if case == "nothing-included":
        args = _finalize_args(round_id, [], [*inc, exc[0]], [1, 2, 3])
        return owner, args, RoundsNothingIncluded, {"roundId": round_id}
    if case in ("stranger", "contributor"):
        actor = scene.stranger if case == "stranger" else scene.contributors[0]
        return (
            actor, ok, RoundsNotMaintainer, {"modelId": scene.model_id, "account": actor.address}
        )  # fmt: skip
    if case == "round-still-open":
        open_id = open_round(ledger, scene)
        return (
            owner, {**ok, "roundId": open_id}, RoundsUnexpectedState,
            {"roundId": open_id, "current": RoundState.OPEN, "expected": RoundState.CLOSED},
        )  # fmt: skip
    if case == "too-few-updates":
        short = closed_round(ledger, scene, count=2, minUpdates=3)
        return (
            owner, _finalize_args(short, inc, [], []), RoundsTooFewUpdates,
            {"roundId": short, "updateCount": 2, "minUpdates": 3},
        )  # fmt: skip
    if case == "cancelled":
        ledger.cancel_round(owner, round_id)
        return (
            owner, ok, RoundsUnexpectedState,
            {"roundId": round_id, "current": RoundState.CANCELLED, "expected": RoundState.CLOSED},
        )  # fmt: skip
    if case == "finalized-twice":
        ledger.act(owner, "FinalizeRound", ok)
        return (
            owner, ok, RoundsUnexpectedState,
            {"roundId": round_id, "current": RoundState.FINALIZED, "expected": RoundState.CLOSED},
        )  # fmt: skip
    if case == "unknown-round":
        return owner, {**ok, "roundId": 99}, RoundsUnknownRound, {"roundId": 99}
    if case == "empty-aggregate-digest":
        return owner, {**ok, "aggregateDigest": ZERO32}, RegistryInvalidDigest, {"digest": ZERO32}
    raise AssertionError(case)


REFUSALS = [
    "included-not-ascending", "excluded-not-ascending", "a-submitter-left-out", "not-a-submitter",
    "listed-twice", "reason-0", "reason-4", "a-reason-missing", "nothing-included", "stranger",
    "contributor", "round-still-open", "too-few-updates", "cancelled", "finalized-twice",
    "unknown-round", "empty-aggregate-digest",
]  # fmt: skip


@pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])
@pytest.mark.parametrize("case", REFUSALS)
def test_finalizing_is_refused(ledger: Ledger, scene: RoundScene, case: str, direct: bool):
    actor, args, error, arguments = _refusal(case, ledger, scene)

    with refused(ledger, error, arguments, unchanged=unchanged(ledger, args["roundId"])):
        ledger.act(actor, "FinalizeRound", args, direct=direct)


# ---------------------------------------------------------------- the commitment, on chain


@pytest.fixture
def merkle_proof(ledger: Ledger, build: Build, accounts: list[LocalAccount]) -> Contract:
    """OpenZeppelin's MerkleProof on chain (contracts/mocks/MerkleProofMock.sol)."""
    mock = build["MerkleProofMock"]
    factory = ledger.w3.eth.contract(abi=mock.abi, bytecode=mock.bytecode)
    tx = factory.constructor().transact({"from": accounts[9].address})
    address = ledger.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return ledger.w3.eth.contract(address=address, abi=mock.abi)


def _keyholders(count: int) -> list[LocalAccount]:
    """Contributors without ether (they only sign; the relayer pays)."""
    return [Account.from_key(keccak(text=f"contributor {i}")) for i in range(count)]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 6, 7, 9, 12])
def test_every_inclusion_proof_passes_openzeppelin_merkle_proof(
    ledger: Ledger, scene: RoundScene, merkle_proof: Contract, count: int
):
    contributors = _keyholders(count)
    for c in contributors:
        ledger.grant_rights(scene.owner, scene.model_id, c.address, Rights.SUBMIT_UPDATES)
    round_id = open_round(ledger, scene, minUpdates=1, maxUpdates=count)
    ledger.relay_updates(
        [signed_update(ledger, c, round_id, samples=1 + i) for i, c in enumerate(contributors)]
    )
    samples = {c.address: 1 + i for i, c in enumerate(contributors)}
    excluded = {c.address: ExclusionReason.INVALID for c in contributors[1::3]}
    included = ascending([c for c in contributors if c.address not in excluded])
    ledger.finalize_round(
        scene.owner,
        round_id,
        included=[c.address for c in included],
        excluded=excluded,
        aggregate_digest=AGGREGATE,
    )
    root = ledger.round(round_id).inclusion_root
    leaves = [leaf_of(c, round_id, samples[c.address]) for c in included]

    assert root == merkle.inclusion_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(leaves, index)
        assert merkle_proof.functions.verify(proof, root, leaf).call() is True
        assert merkle_proof.functions.processProof(proof, leaf).call() == root
    for address in excluded:
        update = ledger.update_of(round_id, address)
        assert update is not None
        leaf = merkle.inclusion_leaf(address, update.update_digest, update.sample_count)
        assert all(
            merkle_proof.functions.verify(merkle.inclusion_proof(leaves, i), root, leaf).call()
            is False
            for i in range(len(leaves))
        )
