"""The ballot rule of contracts/utils/Ballots.sol as the audit replays it from events (pure):
exact cases written out by hand, the deadline inclusive."""

from __future__ import annotations

from service.audit.ballots import BallotFromEvents
from service.chain.types import State, Support


def ballot(required: int, eligible: int, *votes: Support, deadline: int = 1000) -> BallotFromEvents:
    b = BallotFromEvents(deadline=deadline, required=required, eligible=eligible)
    for v in votes:
        b.count(v)
    return b


def test_the_outcome_of_the_counts_alone() -> None:
    F, A, N = Support.FOR, Support.AGAINST, Support.ABSTAIN
    assert ballot(2, 3).outcome() == State.PROPOSED
    assert ballot(2, 3, F).outcome() == State.PROPOSED
    assert ballot(2, 3, F, F).outcome() == State.APPROVED
    assert ballot(2, 3, A).outcome() == State.PROPOSED  # 0 for + 2 outstanding can still reach 2
    assert ballot(2, 3, A, N).outcome() == State.REJECTED  # 0 + 1 outstanding < 2
    assert ballot(1, 1, F).outcome() == State.APPROVED  # one member approves alone
    assert ballot(3, 3, F, F, A).outcome() == State.REJECTED


def test_a_window_that_ended_reads_rejected_from_the_second_after_its_deadline() -> None:
    open_ballot = ballot(2, 3, Support.FOR, deadline=1000)
    assert open_ballot.effective(1000) == State.PROPOSED  # the deadline itself still votes
    assert open_ballot.effective(1001) == State.REJECTED  # no event says so
    decided = ballot(2, 3, Support.FOR, Support.FOR, deadline=1000)
    decided.stored = State.APPROVED
    assert decided.effective(5000) == State.APPROVED
    assert decided.problems() == []


def test_a_recorded_state_the_votes_do_not_justify_is_a_problem() -> None:
    approved_alone = ballot(2, 3, Support.FOR)
    approved_alone.stored = State.APPROVED
    assert approved_alone.problems() == [
        "recorded APPROVED with only 1 for, 0 against, 0 abstaining; 2 of 3 needed"
    ]
    undecided = ballot(2, 3, Support.FOR, Support.FOR)  # approved by votes, nothing recorded
    assert undecided.problems() == [
        "the votes (2 for, 0 against, 0 abstaining; 2 of 3 needed) decide APPROVED, but the "
        "recorded state is PROPOSED"
    ]
    expired = ballot(2, 3, Support.AGAINST)
    expired.stored = State.REJECTED  # finalizeVersion after the window: allowed
    assert expired.problems() == []
