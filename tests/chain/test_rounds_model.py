"""Property-based test: federated rounds on chain behave like a plain Python model of the rules.

Hypothesis drives random sequences of rounds opened, updates submitted (singly and in signed
batches) by contributors and strangers, rights granted and revoked, time passing, rounds closed,
finalized and cancelled by maintainers and by anyone, against the real contracts on anvil;
after every step it compares the chain with ``RoundsModel``, which knows nothing of Solidity.
Every refusal must be the error the model predicts, every accepted action must be one the model
accepts, and a finalized round's root must be the one ``merkle`` computes from the updates.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field

import hypothesis.strategies as st
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3 import Web3

from service.chain import merkle, reverts
from service.chain.ledger import Ledger
from service.chain.types import ExclusionReason, Rights, RoundState, VersionKind
from tests.chain.rounds_scene import (
    BASE_DIGEST,
    RoundScene,
    make_scene,
    signed_update,
    update_digest,
)

PERIODS = (60, 600, 1800)
WAITS = (1, 300, 1200, 4000)


@dataclass
class RoundModel:
    deadline: int
    min_updates: int
    max_updates: int
    stored: RoundState = RoundState.OPEN
    submitters: list[str] = field(default_factory=list)

    def state(self, now: int) -> RoundState:
        if self.stored is RoundState.OPEN and now > self.deadline:
            return RoundState.CLOSED
        return self.stored


OPEN = "open"  # takes updates now
READY = "ready"  # closed with its minimum of updates: a maintainer can finalize it


def likely_at(r: RoundModel, now: int, what: str) -> bool:
    state = r.state(now)
    if what == OPEN:
        return state is RoundState.OPEN
    return state is RoundState.CLOSED and len(r.submitters) >= r.min_updates


@dataclass
class RoundsModel:
    """The rules of the issue, written plainly."""

    contributors: set[str]  # hold SubmitUpdates now (the owner always does)
    maintainers: set[str]  # the owner and holders of Maintain
    rounds: dict[int, RoundModel] = field(default_factory=dict)

    def submit(self, round_id: int, participant: str, now: int) -> str | None:
        """Apply a submission; return the error the contract must raise, if any."""
        r = self.rounds[round_id]
        if r.stored is not RoundState.OPEN:
            return "RoundsUnexpectedState"
        if now > r.deadline:
            return "RoundsSubmissionClosed"
        if participant not in self.contributors:
            return "RoundsNotContributor"
        if participant in r.submitters:
            return "RoundsAlreadySubmitted"
        r.submitters.append(participant)
        if len(r.submitters) == r.max_updates:
            r.stored = RoundState.CLOSED
        return None

    def submit_batch(self, entries: list[tuple[int, str]], now: int) -> str | None:
        """All or nothing: the first refusal is the batch's, and nothing is applied."""
        trial = copy.deepcopy(self.rounds)
        for round_id, participant in entries:
            error = RoundsModel(self.contributors, self.maintainers, trial).submit(
                round_id, participant, now
            )
            if error is not None:
                return error
        self.rounds = trial
        return None

    def close(self, round_id: int, actor: str, now: int) -> str | None:
        r = self.rounds[round_id]
        if r.stored is not RoundState.OPEN:
            return "RoundsUnexpectedState"
        if now <= r.deadline and actor not in self.maintainers:
            return "RoundsNotMaintainer"
        r.stored = RoundState.CLOSED
        return None

    def finalize(self, round_id: int, actor: str, excluded: set[str], now: int) -> str | None:
        r = self.rounds[round_id]
        if r.state(now) is not RoundState.CLOSED:
            return "RoundsUnexpectedState"
        if actor not in self.maintainers:
            return "RoundsNotMaintainer"
        if len(r.submitters) < r.min_updates:
            return "RoundsTooFewUpdates"
        if not set(r.submitters) - excluded:
            return "RoundsNothingIncluded"
        r.stored = RoundState.FINALIZED
        return None

    def cancel(self, round_id: int, actor: str, now: int) -> str | None:
        r = self.rounds[round_id]
        state = r.state(now)
        if state not in (RoundState.OPEN, RoundState.CLOSED):
            return "RoundsUnexpectedState"
        short = state is RoundState.CLOSED and len(r.submitters) < r.min_updates
        if not short and actor not in self.maintainers:
            return "RoundsNotMaintainer"
        r.stored = RoundState.CANCELLED
        return None


def test_rounds_follow_the_rules(ledger: Ledger, w3: Web3, accounts: list[LocalAccount]) -> None:
    scene: RoundScene = make_scene(ledger, accounts)
    people = {a.address: a for a in (scene.owner, scene.maintainer, scene.stranger)}
    people.update({c.address: c for c in scene.contributors})
    candidates = [*[c.address for c in scene.contributors], scene.stranger.address]
    submitters_pool = [*candidates, scene.owner.address]
    deciders = [scene.owner.address, scene.maintainer.address, scene.stranger.address]

    outcomes: Counter[str] = Counter()

    def latest() -> int:
        return int(w3.eth.get_block("latest")["timestamp"])

    def now() -> int:
        """Pin the timestamp of the next block (the next transaction's) and return it, so that
        the model and the chain judge deadlines at the same instant."""
        t = latest() + 1
        w3.provider.make_request("evm_setNextBlockTimestamp", [t])  # type: ignore[arg-type]
        return t

    def expect(what: str, error: str | None, action) -> bool:  # type: ignore[no-untyped-def]
        """Run ``action``; it must raise ``error`` (by name), or succeed if None."""
        outcomes[f"{what}: {error or 'accepted'}"] += 1
        try:
            action()
        except reverts.ContractRevert as exc:
            assert exc.error == error, exc
            return False
        assert error is None, f"expected {error}"
        return True

    class RoundsMachine(RuleBasedStateMachine):
        """Rules draw their round like the forge handler draws its targets: three times in four
        one where the action can succeed, else any round."""

        def __init__(self) -> None:
            super().__init__()
            self.snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
            self.model = RoundsModel(
                contributors={c.address for c in scene.contributors} | {scene.owner.address},
                maintainers={scene.owner.address, scene.maintainer.address},
            )

        def teardown(self) -> None:
            w3.provider.make_request("evm_revert", [self.snapshot])  # type: ignore[arg-type]
            ledger.relayer._nonce = None
            for sender in ledger._senders.values():
                sender._nonce = None

        def _pick(self, data: st.DataObject, what: str) -> int:
            t = latest() + 1
            ids = sorted(self.model.rounds)
            preferred = [i for i in ids if likely_at(self.model.rounds[i], t, what)]
            steered = preferred and data.draw(st.integers(0, 3)) != 0
            return data.draw(st.sampled_from(preferred if steered else ids))

        @rule(
            min_updates=st.integers(1, 3),
            extra=st.integers(0, 3),
            period=st.sampled_from(PERIODS),
        )
        def open(self, min_updates: int, extra: int, period: int) -> None:
            deadline = now() + period
            round_id = ledger.open_round(
                scene.owner, scene.model_id, scene.base_id, rule="fedavg",
                min_updates=min_updates, max_updates=min_updates + extra,
                submission_deadline=deadline, max_norm=1_000_000,
            )  # fmt: skip
            self.model.rounds[round_id] = RoundModel(
                deadline=deadline, min_updates=min_updates, max_updates=min_updates + extra
            )

        @precondition(lambda self: bool(self.model.rounds))
        @rule(data=st.data(), participant=st.sampled_from(submitters_pool))
        def submit(self, data: st.DataObject, participant: str) -> None:
            round_id = self._pick(data, OPEN)
            account = people[participant]
            expected = self.model.submit(round_id, participant, now())
            expect(
                "submit",
                expected,
                lambda: ledger.submit_update(
                    account, round_id, base_digest=BASE_DIGEST,
                    update_digest=update_digest(account, round_id), sample_count=5,
                ),
            )  # fmt: skip

        @precondition(lambda self: bool(self.model.rounds))
        @rule(
            data=st.data(),
            participants=st.lists(
                st.sampled_from(submitters_pool), min_size=1, max_size=4, unique=True
            ),
        )
        def submit_batch(self, data: st.DataObject, participants: list[str]) -> None:
            """Signed updates of several participants relayed in one transaction."""
            round_id = self._pick(data, OPEN)
            expected = self.model.submit_batch([(round_id, p) for p in participants], now())
            batch = [signed_update(ledger, people[p], round_id, samples=5) for p in participants]
            expect("batch", expected, lambda: ledger.relay_updates(batch))

        @rule(account=st.sampled_from(candidates), grant=st.booleans())
        def change_right(self, account: str, grant: bool) -> None:
            now()
            change = ledger.grant_rights if grant else ledger.revoke_rights
            change(scene.owner, scene.model_id, account, Rights.SUBMIT_UPDATES)
            if grant:
                self.model.contributors.add(account)
            else:
                self.model.contributors.discard(account)

        @rule(seconds=st.sampled_from(WAITS))
        def wait(self, seconds: int) -> None:
            w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

        @precondition(lambda self: bool(self.model.rounds))
        @rule(data=st.data(), actor=st.sampled_from(deciders), cancel=st.booleans())
        def end(self, data: st.DataObject, actor: str, cancel: bool) -> None:
            """Close or cancel a round."""
            round_id = self._pick(data, OPEN)
            if cancel:
                expected = self.model.cancel(round_id, actor, now())
                expect("cancel", expected, lambda: ledger.cancel_round(people[actor], round_id))
            else:
                expected = self.model.close(round_id, actor, now())
                expect("close", expected, lambda: ledger.close_round(people[actor], round_id))

        @precondition(lambda self: bool(self.model.rounds))
        @rule(data=st.data(), mask=st.integers(0, 15))
        def finalize(self, data: st.DataObject, mask: int) -> None:
            """Steered three times in four to a round ready to finalize, by a maintainer,
            with one update included at least."""
            round_id = self._pick(data, READY)
            r = self.model.rounds[round_id]
            if likely_at(r, latest() + 1, READY) and data.draw(st.integers(0, 3)) != 0:
                actor = data.draw(st.sampled_from(sorted(self.model.maintainers)))
                mask &= ~1
            else:
                actor = data.draw(st.sampled_from(deciders))
            submitted = r.submitters
            excluded = {a for i, a in enumerate(submitted) if mask >> i & 1}
            included = [a for a in submitted if a not in excluded]
            expected = self.model.finalize(round_id, actor, excluded, now())
            done = expect(
                "finalize",
                expected,
                lambda: ledger.finalize_round(
                    people[actor], round_id, included=included,
                    excluded=dict.fromkeys(excluded, ExclusionReason.NOT_SELECTED),
                    aggregate_digest=update_digest(people[actor], 10_000 + round_id),
                ),
            )  # fmt: skip
            if done:
                record = ledger.round(round_id)
                leaves = [
                    merkle.inclusion_leaf(a, update_digest(people[a], round_id), 5)
                    for a in merkle.sort_participants(included)
                ]
                assert record.inclusion_root == merkle.inclusion_root(leaves)
                assert record.aggregate_version_id is not None
                version = ledger.version(record.aggregate_version_id)
                assert (version.kind, version.parent_id, version.proposer) == (
                    VersionKind.AGGREGATE,
                    scene.base_id,
                    actor,
                )

        @invariant()
        def chain_matches_model(self) -> None:
            t = latest()  # views run at the latest block
            for round_id, r in self.model.rounds.items():
                record = ledger.round(round_id)
                assert record.state is r.state(t), round_id
                assert ledger.round_state(round_id) is r.state(t)
                assert record.stored_state is r.stored
                assert ledger.submitters(round_id) == r.submitters
                assert record.update_count == len(r.submitters) <= r.max_updates

    run_state_machine_as_test(
        RoundsMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            # a fixed sequence of examples, like forge's fixed fuzz seed: CI runs the same cases
            # every time, and the coverage floor below holds for them (derandomize=False explores)
            derandomize=True,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    # the machine reached every outcome that matters (not a vacuous run)
    wanted = {
        "submit: accepted", "batch: accepted", "close: accepted", "finalize: accepted",
        "cancel: accepted", "finalize: RoundsUnexpectedState",
    }  # fmt: skip
    assert wanted - set(outcomes) == set(), sorted(outcomes.items())
