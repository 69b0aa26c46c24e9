"""The ballot rule of ``contracts/utils/Ballots.sol`` in Python (pure; no I/O): what a ballot's
events say its state is at a given time, including a ballot whose window ended without a
decision, which emits no event."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.chain.types import State, Support


@dataclass
class BallotFromEvents:
    """A ballot as its proposal event opened it and its vote events counted it."""

    deadline: int
    required: int
    eligible: int
    votes: dict[Support, int] = field(default_factory=lambda: dict.fromkeys(Support, 0))
    #: the last state a state-change event recorded (the stored state)
    stored: State = State.PROPOSED

    def count(self, support: int) -> None:
        self.votes[Support(support)] += 1

    def outcome(self) -> State:
        """``Ballots.outcome``: the counts alone, ignoring the window."""
        for_votes = self.votes[Support.FOR]
        if for_votes >= self.required:
            return State.APPROVED
        cast = sum(self.votes.values())
        outstanding = max(0, self.eligible - cast)
        if for_votes + outstanding < self.required:
            return State.REJECTED
        return State.PROPOSED

    def effective(self, timestamp: int) -> State:
        """``Ballots.effectiveStatus`` at ``timestamp``: a ballot still Proposed once its
        deadline (inclusive) has passed reads as Rejected."""
        if self.stored == State.PROPOSED and timestamp > self.deadline:
            return State.REJECTED
        return self.stored

    def problems(self) -> list[str]:
        """Where the recorded state contradicts the votes counted."""
        decided = self.outcome()
        if decided != State.PROPOSED and self.stored != decided:
            return [
                f"the votes ({self.tally()}) decide {decided.name}, but the recorded state is "
                f"{self.stored.name}"
            ]
        if decided == State.PROPOSED and self.stored == State.APPROVED:
            return [f"recorded APPROVED with only {self.tally()}"]
        return []

    def tally(self) -> str:
        v = self.votes
        return (
            f"{v[Support.FOR]} for, {v[Support.AGAINST]} against, {v[Support.ABSTAIN]} "
            f"abstaining; {self.required} of {self.eligible} needed"
        )
