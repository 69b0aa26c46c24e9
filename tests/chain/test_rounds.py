"""FederatedRounds through the chain adapter, on a real anvil: opening, submitting (singly and
in batches), closing and cancelling rounds. Every success asserts its events and the state read
back; every revert asserts the custom error with its arguments and that nothing changed (no
block mined, reads unchanged). Finalizing is in test_rounds_finalize.py.

Actions go signed and relayed unless a test says ``direct``; the tests parametrized over
``direct`` run both the ``...BySig`` and the plain function."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, keccak

from service.chain import reverts
from service.chain.actions import sign_action
from service.chain.compile import Build
from service.chain.deploy import Deployment, verify_deployment
from service.chain.ledger import Ledger
from service.chain.reverts import (
    REVERT_CLASSES,
    InvalidAccountNonce,
    RegistryNotRoundsContract,
    RegistryUnknownModel,
    RegistryUnknownVersion,
    RoundsAlreadySubmitted,
    RoundsBaseNotApproved,
    RoundsEmptyBatch,
    RoundsInvalidNormBound,
    RoundsInvalidRule,
    RoundsInvalidSampleCount,
    RoundsInvalidSubmissionDeadline,
    RoundsInvalidUpdateBounds,
    RoundsInvalidUpdateDigest,
    RoundsNotContributor,
    RoundsNotMaintainer,
    RoundsSubmissionClosed,
    RoundsUnexpectedState,
    RoundsUnknownRound,
    RoundsVersionOfOtherModel,
    RoundsWrongBaseDigest,
    SignedActionInvalidSignature,
)
from service.chain.types import (
    NORM_SCALE,
    CloseReason,
    Rights,
    RoundRecord,
    RoundState,
    Support,
    UpdateRecord,
    rule_to_bytes32,
)
from service.errors import DeploymentError, InvalidInput
from tests.chain.helpers import ZERO32, block_time, digest, emitted, mine_at, set_next_block_time
from tests.chain.helpers import reverts as refused
from tests.chain.rounds_scene import (
    BASE_DIGEST,
    PARAMS_DIGEST,
    ROUND_PERIOD,
    RoundScene,
    make_scene,
    open_args,
    open_round,
    past_deadline,
    signed_update,
    submit,
    update_digest,
)

both_paths = pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])


@pytest.fixture
def scene(ledger: Ledger, accounts: list[LocalAccount]) -> RoundScene:
    return make_scene(ledger, accounts)


def state_of(ledger: Ledger, round_id: int, *accounts: LocalAccount) -> Callable[[], Any]:
    """Reads any accepted round action would change: the round, its submitters, the count of
    rounds and the accounts' nonces on the rounds contract."""

    def read() -> Any:
        return (
            ledger.round(round_id) if 0 < round_id <= ledger.round_count() else None,
            ledger.submitters(round_id) if 0 < round_id <= ledger.round_count() else None,
            ledger.round_count(),
            [ledger.nonce_of("FederatedRounds", a.address) for a in accounts],
        )

    return read


# ---------------------------------------------------------------- opening


@both_paths
def test_the_owner_opens_a_round_with_its_terms(ledger: Ledger, scene: RoundScene, direct: bool):
    args = open_args(ledger, scene)

    receipt = ledger.act(scene.owner, "OpenRound", args, direct=direct)

    assert emitted(receipt) == [
        (
            "RoundOpened",
            {
                "roundId": 1,
                "modelId": scene.model_id,
                "baseVersionId": scene.base_id,
                "baseDigest": BASE_DIGEST,
                "rule": rule_to_bytes32("fedavg"),
                "paramsDigest": PARAMS_DIGEST,
                "minUpdates": 2,
                "maxUpdates": 4,
                "submissionDeadline": args["submissionDeadline"],
                "maxNorm": 5 * NORM_SCALE,
                "by": scene.owner.address,
            },
        )
    ]
    assert ledger.round(1) == RoundRecord(
        round_id=1,
        model_id=scene.model_id,
        base_version_id=scene.base_id,
        base_digest=BASE_DIGEST,
        rule=rule_to_bytes32("fedavg"),
        params_digest=PARAMS_DIGEST,
        max_norm=5 * NORM_SCALE,
        submission_deadline=args["submissionDeadline"],
        min_updates=2,
        max_updates=4,
        update_count=0,
        included_count=0,
        excluded_count=0,
        state=RoundState.OPEN,
        stored_state=RoundState.OPEN,
        aggregate_version_id=None,
        inclusion_root=None,
    )
    assert ledger.round(1).rule_name == "fedavg"
    assert ledger.round_count() == 1
    assert ledger.round_state(1) is RoundState.OPEN
    assert ledger.submitters(1) == []
    assert ledger.update_of(1, scene.contributors[0].address) is None
    assert ledger.nonce_of("FederatedRounds", scene.owner.address) == (0 if direct else 1)


def test_a_maintainer_opens_rounds_with_the_typed_action(ledger: Ledger, scene: RoundScene):
    deadline = ledger.chain_time() + ROUND_PERIOD
    round_id = ledger.open_round(
        scene.maintainer, scene.model_id, scene.base_id, rule="trimmed-mean",
        params_digest=PARAMS_DIGEST, min_updates=1, max_updates=1,
        submission_deadline=deadline, max_norm=NORM_SCALE // 2,
    )  # fmt: skip

    record = ledger.round(round_id)
    assert (record.rule_name, record.max_norm, record.submission_deadline) == (
        "trimmed-mean",
        500_000,
        deadline,
    )
    opened = next(ledger.events(contract="FederatedRounds", event="RoundOpened"))
    assert opened.args["by"] == scene.maintainer.address


def _unapproved_version(ledger: Ledger, scene: RoundScene) -> int:
    return ledger.propose_version(scene.owner, scene.model_id, digest("pending"))


def _other_models_version(ledger: Ledger, scene: RoundScene) -> int:
    other = ledger.register_model(scene.owner, "another-model")
    version_id = ledger.propose_version(scene.owner, other, digest("other base"))
    ledger.cast_vote(scene.members[0], version_id, Support.FOR)
    ledger.cast_vote(scene.members[1], version_id, Support.FOR)
    return version_id


def _next_block_at(ledger: Ledger) -> int:
    """Pin the next block's timestamp (the one the simulation and the transaction see)."""
    t = block_time(ledger.w3) + 1
    set_next_block_time(ledger.w3, t)
    return t


OPEN_REFUSALS: dict[str, Callable[[Ledger, RoundScene], tuple[Any, ...]]] = {
    # name: (actor, argument overrides, error, its arguments)
    "stranger": lambda L, s: (
        s.stranger, {}, RoundsNotMaintainer, {"modelId": s.model_id, "account": s.stranger.address}
    ),
    "contributor": lambda L, s: (
        s.contributors[0], {}, RoundsNotMaintainer,
        {"modelId": s.model_id, "account": s.contributors[0].address},
    ),
    "unknown-model": lambda L, s: (s.owner, {"modelId": 99}, RegistryUnknownModel, {"modelId": 99}),
    "unknown-version": lambda L, s: (
        s.owner, {"baseVersionId": 99}, RegistryUnknownVersion, {"versionId": 99}
    ),
    "base-not-approved": lambda L, s: (
        v := _unapproved_version(L, s),
        (s.owner, {"baseVersionId": v}, RoundsBaseNotApproved, {"versionId": v, "current": 0}),
    )[1],
    "base-of-another-model": lambda L, s: (
        v := _other_models_version(L, s),
        (
            s.owner, {"baseVersionId": v}, RoundsVersionOfOtherModel,
            {"versionId": v, "actualModelId": s.model_id + 1, "modelId": s.model_id},
        ),
    )[1],
    "empty-rule": lambda L, s: (s.owner, {"rule": ZERO32}, RoundsInvalidRule, {"rule": ZERO32}),
    "no-minimum": lambda L, s: (
        s.owner, {"minUpdates": 0}, RoundsInvalidUpdateBounds, {"minUpdates": 0, "maxUpdates": 4}
    ),
    "minimum-above-maximum": lambda L, s: (
        s.owner, {"minUpdates": 5, "maxUpdates": 4}, RoundsInvalidUpdateBounds,
        {"minUpdates": 5, "maxUpdates": 4},
    ),
    "deadline-now": lambda L, s: (
        t := _next_block_at(L),
        (
            s.owner, {"submissionDeadline": t}, RoundsInvalidSubmissionDeadline,
            {"submissionDeadline": t, "timestamp": t},
        ),
    )[1],
    "no-norm-bound": lambda L, s: (s.owner, {"maxNorm": 0}, RoundsInvalidNormBound, {"maxNorm": 0}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(OPEN_REFUSALS))
def test_opening_is_refused(ledger: Ledger, scene: RoundScene, case: str):
    actor, overrides, error, arguments = OPEN_REFUSALS[case](ledger, scene)
    args = open_args(ledger, scene, **overrides)

    with refused(ledger, error, arguments, unchanged=state_of(ledger, 0, actor)):
        ledger.act(actor, "OpenRound", args)


# ---------------------------------------------------------------- submitting


@both_paths
def test_a_contributor_submits_its_update(ledger: Ledger, scene: RoundScene, direct: bool):
    round_id = open_round(ledger, scene)
    first, second = scene.contributors[:2]

    receipts = [
        ledger.submit_update(
            c, round_id, base_digest=BASE_DIGEST, update_digest=update_digest(c, round_id),
            sample_count=samples, direct=direct,
        )
        for c, samples in ((first, 60_000), (second, 1))
    ]  # fmt: skip

    assert [emitted(r) for r in receipts] == [
        [
            (
                "UpdateSubmitted",
                {
                    "roundId": round_id,
                    "participant": c.address,
                    "updateDigest": update_digest(c, round_id),
                    "sampleCount": samples,
                    "index": index,
                },
            )
        ]
        for index, (c, samples) in enumerate(((first, 60_000), (second, 1)))
    ]
    assert ledger.update_of(round_id, first.address) == UpdateRecord(
        round_id=round_id,
        participant=first.address,
        update_digest=update_digest(first, round_id),
        sample_count=60_000,
        index=0,
    )
    assert ledger.update_of(round_id, second.address).index == 1  # type: ignore[union-attr]
    assert ledger.submitters(round_id) == [first.address, second.address]
    assert ledger.round(round_id).update_count == 2
    assert ledger.round_state(round_id) is RoundState.OPEN
    assert ledger.nonce_of("FederatedRounds", first.address) == (0 if direct else 1)


def test_the_maximum_closes_the_round_in_the_same_transaction(ledger: Ledger, scene: RoundScene):
    round_id = open_round(ledger, scene, minUpdates=1, maxUpdates=2)
    submit(ledger, scene.contributors[0], round_id)
    last = scene.contributors[1]

    receipt = ledger.submit_update(
        last, round_id, base_digest=BASE_DIGEST, update_digest=update_digest(last, round_id),
        sample_count=7,
    )  # fmt: skip

    assert emitted(receipt) == [
        (
            "UpdateSubmitted",
            {
                "roundId": round_id,
                "participant": last.address,
                "updateDigest": update_digest(last, round_id),
                "sampleCount": 7,
                "index": 1,
            },
        ),
        ("RoundStateChanged", {"roundId": round_id, "previous": 0, "current": 1}),
        (
            "RoundClosed",
            {
                "roundId": round_id,
                "reason": int(CloseReason.MAX_UPDATES_REACHED),
                "updateCount": 2,
                "by": last.address,
            },
        ),
    ]
    assert ledger.round(round_id).stored_state is RoundState.CLOSED
    # over the maximum: the round is closed
    with refused(
        ledger,
        RoundsUnexpectedState,
        {"roundId": round_id, "current": RoundState.CLOSED, "expected": RoundState.OPEN},
        unchanged=state_of(ledger, round_id, scene.contributors[2]),
    ):
        submit(ledger, scene.contributors[2], round_id)


def _cancelled_round(ledger: Ledger, scene: RoundScene) -> int:
    round_id = open_round(ledger, scene)
    ledger.cancel_round(scene.owner, round_id)
    return round_id


SUBMIT_REFUSALS: dict[str, Callable[[Ledger, RoundScene, int], tuple[Any, ...]]] = {
    # name: (participant index (-1: the stranger), argument overrides, error, its arguments)
    "no-right": lambda L, s, r: (
        -1, {}, RoundsNotContributor, {"modelId": s.model_id, "account": s.stranger.address}
    ),
    "second-submission": lambda L, s, r: (
        submit(L, s.contributors[0], r), (
            0, {"updateDigest": digest("another")}, RoundsAlreadySubmitted,
            {"roundId": r, "participant": s.contributors[0].address},
        ),
    )[1],
    "wrong-base-digest": lambda L, s, r: (
        0, {"baseDigest": digest("stale base")}, RoundsWrongBaseDigest,
        {"roundId": r, "baseDigest": BASE_DIGEST, "given": digest("stale base")},
    ),
    "zero-samples": lambda L, s, r: (
        0, {"sampleCount": 0}, RoundsInvalidSampleCount, {"sampleCount": 0}
    ),
    "too-many-samples": lambda L, s, r: (
        0, {"sampleCount": 2**64}, RoundsInvalidSampleCount, {"sampleCount": 2**64}
    ),
    "empty-update-digest": lambda L, s, r: (
        0, {"updateDigest": ZERO32}, RoundsInvalidUpdateDigest, {"updateDigest": ZERO32}
    ),
    "unknown-round": lambda L, s, r: (0, {"roundId": 99}, RoundsUnknownRound, {"roundId": 99}),
    "cancelled-round": lambda L, s, r: (
        c := _cancelled_round(L, s),
        (
            0, {"roundId": c}, RoundsUnexpectedState,
            {"roundId": c, "current": RoundState.CANCELLED, "expected": RoundState.OPEN},
        ),
    )[1],
}  # fmt: skip


@pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])
@pytest.mark.parametrize("case", sorted(SUBMIT_REFUSALS))
def test_submission_is_refused(ledger: Ledger, scene: RoundScene, case: str, direct: bool):
    round_id = open_round(ledger, scene)
    index, overrides, error, arguments = SUBMIT_REFUSALS[case](ledger, scene, round_id)
    participant = scene.stranger if index < 0 else scene.contributors[index]
    args = {
        "roundId": round_id,
        "baseDigest": BASE_DIGEST,
        "updateDigest": update_digest(participant, round_id),
        "sampleCount": 10,
        **overrides,
    }

    with refused(
        ledger, error, arguments, unchanged=state_of(ledger, args["roundId"], participant)
    ):
        ledger.act(participant, "SubmitUpdate", args, direct=direct)


@both_paths
def test_a_submission_after_the_deadline_is_refused(
    ledger: Ledger, scene: RoundScene, direct: bool
):
    round_id = open_round(ledger, scene)
    deadline = ledger.round(round_id).submission_deadline
    set_next_block_time(ledger.w3, deadline)
    submit(ledger, scene.contributors[0], round_id)  # accepted in the block at the deadline
    assert block_time(ledger.w3) == deadline
    mine_at(ledger.w3, deadline + 1)

    with refused(
        ledger,
        RoundsSubmissionClosed,
        {"roundId": round_id, "submissionDeadline": deadline, "timestamp": deadline + 1},
        unchanged=state_of(ledger, round_id, scene.contributors[1]),
    ):
        ledger.submit_update(
            scene.contributors[1], round_id, base_digest=BASE_DIGEST,
            update_digest=digest("late"), sample_count=1, direct=direct,
        )  # fmt: skip


def test_a_right_revoked_mid_round_stops_later_submissions_only(ledger: Ledger, scene: RoundScene):
    contributor = scene.contributors[0]
    first, second = open_round(ledger, scene), open_round(ledger, scene)
    submit(ledger, contributor, first)

    ledger.revoke_rights(scene.owner, scene.model_id, contributor.address, Rights.SUBMIT_UPDATES)

    with refused(
        ledger,
        RoundsNotContributor,
        {"modelId": scene.model_id, "account": contributor.address},
        unchanged=state_of(ledger, second, contributor),
    ):
        submit(ledger, contributor, second)
    # the update it made while it held the right stays recorded
    assert ledger.submitters(first) == [contributor.address]
    assert ledger.update_of(first, contributor.address) is not None


def test_the_owner_holds_every_right_and_submits_too(ledger: Ledger, scene: RoundScene):
    round_id = open_round(ledger, scene)
    submit(ledger, scene.owner, round_id)
    assert ledger.submitters(round_id) == [scene.owner.address]


# ---------------------------------------------------------------- signed updates


def test_a_signed_update_cannot_be_replayed_nor_moved_to_another_round_or_model(
    ledger: Ledger, scene: RoundScene
):
    contributor = scene.contributors[0]
    signed_for, other_round = open_round(ledger, scene), open_round(ledger, scene)
    # another model whose approved base has the very same bytes, so only the signature differs
    other_model = ledger.register_model(scene.owner, "sibling-model")
    other_base = ledger.propose_version(scene.owner, other_model, BASE_DIGEST)
    ledger.cast_vote(scene.members[0], other_base, Support.FOR)
    ledger.cast_vote(scene.members[1], other_base, Support.FOR)
    ledger.grant_rights(scene.owner, other_model, contributor.address, Rights.SUBMIT_UPDATES)
    other_models_round = open_round(ledger, scene, modelId=other_model, baseVersionId=other_base)
    signed = signed_update(ledger, contributor, signed_for)

    for target in (other_round, other_models_round):
        moved = dataclasses.replace(
            signed,
            action=dataclasses.replace(
                signed.action, args={**signed.action.args, "roundId": target}
            ),
        )
        for verify in (True, False):  # the relayer's own check, then the contract's
            with refused(
                ledger,
                SignedActionInvalidSignature,
                {"actor": contributor.address},
                unchanged=state_of(ledger, target, contributor),
            ):
                ledger.relay(moved, verify=verify)

    ledger.relay(signed)
    assert ledger.submitters(signed_for) == [contributor.address]
    with refused(
        ledger,
        InvalidAccountNonce,
        {"account": contributor.address, "currentNonce": 1},
        unchanged=state_of(ledger, signed_for, contributor),
    ):
        ledger.relay(signed, verify=False)


def test_a_batch_records_several_signed_updates_in_one_transaction(
    ledger: Ledger, scene: RoundScene
):
    round_id = open_round(ledger, scene, maxUpdates=8)
    batch = [signed_update(ledger, c, round_id, samples=10 + i)
             for i, c in enumerate(scene.contributors)]  # fmt: skip

    receipt = ledger.relay_updates(batch)

    assert ledger.w3.eth.get_transaction(receipt.transaction_hash)["from"] == (
        ledger.relayer.account.address
    )
    assert emitted(receipt) == [
        (
            "UpdateSubmitted",
            {
                "roundId": round_id,
                "participant": c.address,
                "updateDigest": update_digest(c, round_id),
                "sampleCount": 10 + i,
                "index": i,
            },
        )
        for i, c in enumerate(scene.contributors)
    ]
    assert ledger.submitters(round_id) == [c.address for c in scene.contributors]
    assert all(ledger.nonce_of("FederatedRounds", c.address) == 1 for c in scene.contributors)


def test_a_batch_reaching_the_maximum_closes_the_round(ledger: Ledger, scene: RoundScene):
    round_id = open_round(ledger, scene, minUpdates=1, maxUpdates=2)
    batch = [signed_update(ledger, c, round_id) for c in scene.contributors[:2]]

    receipt = ledger.relay_updates(batch)

    assert [name for name, _ in emitted(receipt)] == [
        "UpdateSubmitted", "UpdateSubmitted", "RoundStateChanged", "RoundClosed",
    ]  # fmt: skip
    assert ledger.round_state(round_id) is RoundState.CLOSED


@pytest.mark.parametrize("verify", [True, False], ids=["local-check", "on-chain"])
def test_a_batch_is_all_or_nothing(ledger: Ledger, scene: RoundScene, verify: bool):
    """One forged update in the middle: nothing is recorded and no nonce is used."""
    round_id = open_round(ledger, scene)
    a, b, c = scene.contributors[:3]
    forged = sign_action(signed_update(ledger, b, round_id).action, c.key)  # b's update, c's key
    batch = [signed_update(ledger, a, round_id), forged, signed_update(ledger, c, round_id)]

    with refused(
        ledger,
        SignedActionInvalidSignature,
        {"actor": b.address},
        unchanged=state_of(ledger, round_id, a, b, c),
    ):
        ledger.relay_updates(batch, verify=verify)


def test_a_batch_with_a_second_update_of_one_contributor_is_refused_whole(
    ledger: Ledger, scene: RoundScene
):
    round_id = open_round(ledger, scene)
    a, b = scene.contributors[:2]
    again = signed_update(ledger, a, round_id, nonce=1)  # signed ahead with a's next-but-one
    batch = [signed_update(ledger, a, round_id), signed_update(ledger, b, round_id), again]

    with refused(
        ledger,
        RoundsAlreadySubmitted,
        {"roundId": round_id, "participant": a.address},
        unchanged=state_of(ledger, round_id, a, b),
    ):
        ledger.relay_updates(batch)


def test_an_empty_batch_is_refused(ledger: Ledger, scene: RoundScene):
    with pytest.raises(InvalidInput, match="at least one"):
        ledger.relay_updates([])
    with refused(ledger, RoundsEmptyBatch, {}):
        ledger.relayer.prepare(ledger.rounds.functions.submitUpdatesBySig([]))


def test_a_batch_holds_only_submit_update_actions(ledger: Ledger, scene: RoundScene):
    action = ledger.prepare("CloseRound", scene.owner.address, {"roundId": 1})
    with pytest.raises(InvalidInput, match="SubmitUpdate actions, not CloseRound"):
        ledger.relay_updates([sign_action(action, scene.owner.key)])


# ---------------------------------------------------------------- closing


def test_a_round_reads_closed_at_its_deadline_and_anyone_records_it(
    ledger: Ledger, scene: RoundScene
):
    round_id = open_round(ledger, scene)
    submit(ledger, scene.contributors[0], round_id)
    past_deadline(ledger, round_id)

    assert ledger.round_state(round_id) is RoundState.CLOSED  # at once, in views
    assert ledger.round(round_id).state is RoundState.CLOSED
    assert ledger.round(round_id).stored_state is RoundState.OPEN
    receipt = ledger.close_round(None, round_id)  # the relayer, as anyone

    assert emitted(receipt) == [
        ("RoundStateChanged", {"roundId": round_id, "previous": 0, "current": 1}),
        (
            "RoundClosed",
            {
                "roundId": round_id,
                "reason": int(CloseReason.DEADLINE_PASSED),
                "updateCount": 1,
                "by": ledger.relayer.account.address,
            },
        ),
    ]
    assert ledger.round(round_id).stored_state is RoundState.CLOSED
    with refused(
        ledger,
        RoundsUnexpectedState,
        {"roundId": round_id, "current": RoundState.CLOSED, "expected": RoundState.OPEN},
        unchanged=state_of(ledger, round_id),
    ):
        ledger.close_round(scene.owner, round_id)


@both_paths
def test_the_owner_or_a_maintainer_closes_a_round_early(
    ledger: Ledger, scene: RoundScene, direct: bool
):
    for actor in (scene.owner, scene.maintainer):
        round_id = open_round(ledger, scene)
        receipt = ledger.close_round(actor, round_id, direct=direct)
        assert receipt.event("RoundClosed").args == {
            "roundId": round_id,
            "reason": int(CloseReason.CLOSED_EARLY),
            "updateCount": 0,
            "by": actor.address,
        }
        assert ledger.round_state(round_id) is RoundState.CLOSED


@both_paths
def test_closing_early_is_refused_to_others(ledger: Ledger, scene: RoundScene, direct: bool):
    round_id = open_round(ledger, scene)
    for actor in (scene.stranger, scene.contributors[0]):
        with refused(
            ledger,
            RoundsNotMaintainer,
            {"modelId": scene.model_id, "account": actor.address},
            unchanged=state_of(ledger, round_id, actor),
        ):
            ledger.close_round(actor, round_id, direct=direct)
    with refused(ledger, RoundsUnknownRound, {"roundId": 77}):
        ledger.close_round(scene.owner, 77, direct=direct)


# ---------------------------------------------------------------- cancelling


@both_paths
def test_the_owner_or_a_maintainer_cancels_an_open_or_closed_round(
    ledger: Ledger, scene: RoundScene, direct: bool
):
    open_one = open_round(ledger, scene)
    closed_one = open_round(ledger, scene)
    submit(ledger, scene.contributors[0], closed_one)
    submit(ledger, scene.contributors[1], closed_one)
    ledger.close_round(scene.owner, closed_one)  # enough updates to be finalized, cancelled still

    for actor, round_id, previous, count in (
        (scene.owner, open_one, RoundState.OPEN, 0),
        (scene.maintainer, closed_one, RoundState.CLOSED, 2),
    ):
        receipt = ledger.cancel_round(actor, round_id, direct=direct)
        assert emitted(receipt) == [
            (
                "RoundStateChanged",
                {"roundId": round_id, "previous": int(previous), "current": 3},
            ),
            ("RoundCancelled", {"roundId": round_id, "updateCount": count, "by": actor.address}),
        ]
        assert ledger.round_state(round_id) is RoundState.CANCELLED


def test_anyone_cancels_a_closed_round_short_of_its_minimum(ledger: Ledger, scene: RoundScene):
    round_id = open_round(ledger, scene, minUpdates=3)
    submit(ledger, scene.contributors[0], round_id)
    # while it is open, it may still reach its minimum: only a maintainer may cancel it
    with refused(
        ledger,
        RoundsNotMaintainer,
        {"modelId": scene.model_id, "account": scene.stranger.address},
        unchanged=state_of(ledger, round_id, scene.stranger),
    ):
        ledger.cancel_round(scene.stranger, round_id)
    past_deadline(ledger, round_id)

    receipt = ledger.cancel_round(scene.stranger, round_id)

    assert receipt.event("RoundCancelled").args == {
        "roundId": round_id,
        "updateCount": 1,
        "by": scene.stranger.address,
    }
    assert ledger.round(round_id).stored_state is RoundState.CANCELLED
    with refused(
        ledger,
        RoundsUnexpectedState,
        {"roundId": round_id, "current": RoundState.CANCELLED, "expected": RoundState.CLOSED},
        unchanged=state_of(ledger, round_id),
    ):
        ledger.cancel_round(None, round_id)


def test_a_closed_round_with_enough_updates_is_cancelled_only_by_a_maintainer(
    ledger: Ledger, scene: RoundScene
):
    round_id = open_round(ledger, scene)
    for c in scene.contributors[:2]:
        submit(ledger, c, round_id)
    past_deadline(ledger, round_id)

    with refused(
        ledger,
        RoundsNotMaintainer,
        {"modelId": scene.model_id, "account": ledger.relayer.account.address},
        unchanged=state_of(ledger, round_id),
    ):
        ledger.cancel_round(None, round_id)


# ---------------------------------------------------------------- views, wiring, deployment


def test_views_of_an_unknown_round_are_refused(ledger: Ledger, scene: RoundScene):
    for read in (
        lambda: ledger.round(5),
        lambda: ledger.round_state(5),
        lambda: ledger.submitters(5),
        lambda: ledger.update_of(5, scene.owner.address),
    ):
        with pytest.raises(RoundsUnknownRound) as info:
            read()
        assert info.value.arguments == {"roundId": 5}


def test_only_the_rounds_contract_records_an_aggregate(ledger: Ledger, scene: RoundScene):
    fn = ledger.registry.functions.proposeRoundAggregate(
        scene.model_id, scene.base_id, digest("aggregate"), ZERO32, scene.owner.address
    )
    with refused(
        ledger,
        RegistryNotRoundsContract,
        {"caller": ledger.relayer.account.address},
        unchanged=ledger.version_count,
    ):
        ledger.relayer.transact(fn)


def test_the_registry_and_its_rounds_contract_name_each_other(ledger: Ledger, build: Build):
    rounds = ledger.deployment.rounds
    assert ledger.deployment.address_of("FederatedRounds") == rounds
    assert ledger.registry.functions.rounds().call() == rounds
    assert ledger.rounds.functions.registry().call() == ledger.deployment.registry
    assert ledger.rounds.address == rounds
    code = bytes(ledger.w3.eth.get_code(rounds))
    assert build["FederatedRounds"].matches_runtime_code(code)  # immutables aside
    assert ledger.deployment.code_hashes["FederatedRounds"] == "0x" + keccak(code).hex()
    assert ledger.deployment.build_hashes["FederatedRounds"] == (
        build["FederatedRounds"].deployed_bytecode_hash
    )


def test_verify_deployment_checks_the_rounds_contract(ledger: Ledger, build: Build):
    d = ledger.deployment
    verify_deployment(w3=ledger.w3, deployment=d, build=build)

    with pytest.raises(DeploymentError, match="predates federated rounds"):
        verify_deployment(w3=ledger.w3, deployment=dataclasses.replace(d, rounds=""), build=build)
    # a record naming the consortium's address as the rounds contract: not its code
    with pytest.raises(DeploymentError, match="FederatedRounds code at"):
        verify_deployment(
            w3=ledger.w3, deployment=dataclasses.replace(d, rounds=d.consortium), build=build
        )


def test_a_deployment_record_round_trips_with_the_rounds_contract(ledger: Ledger, tmp_path):
    path = ledger.deployment.save(tmp_path / "deployment.json")
    assert Deployment.load(path) == ledger.deployment


def test_every_rounds_error_has_a_typed_exception_whose_message_formats(build: Build):
    """One Python class per Solidity error of the rounds contract (and the registry's new one),
    named alike; its hint names only the error's own arguments."""
    abi_errors = {
        item["name"]: item
        for name in ("FederatedRounds", "ModelRegistry")
        for item in build[name].abi
        if item["type"] == "error"
        and (item["name"].startswith("Rounds") or item["name"] == "RegistryNotRoundsContract")
    }
    assert len(abi_errors) == 25
    for name, item in abi_errors.items():
        cls = REVERT_CLASSES[name]
        assert cls is getattr(reverts, name)
        arguments = {i["name"]: 1 for i in item["inputs"]}
        message = str(cls(name, arguments))
        assert message.startswith(f"{name}(") and "{" not in message, message
    # and the decoder maps each selector to its class
    for name, item in abi_errors.items():
        types = ",".join(i["type"] for i in item["inputs"])
        selector = function_signature_to_4byte_selector(f"{name}({types})")
        data = selector + bytes(32 * len(item["inputs"]))
        assert type(ledger_decoder(build).decode(data)) is REVERT_CLASSES[name]


def ledger_decoder(build: Build) -> reverts.RevertDecoder:
    return reverts.RevertDecoder([build[n].abi for n in ("FederatedRounds", "ModelRegistry")])


def test_round_states_read_by_name_in_messages(ledger: Ledger, scene: RoundScene):
    round_id = _cancelled_round(ledger, scene)
    with pytest.raises(RoundsUnexpectedState, match=r"takes no more updates: it is cancelled"):
        submit(ledger, scene.contributors[0], round_id)
    with pytest.raises(RoundsBaseNotApproved, match=r"is Proposed; a round starts"):
        open_round(ledger, scene, baseVersionId=_unapproved_version(ledger, scene))
