"""What a contract's refusal says, as people read it (pure: the errors as the chain gives them,
rendered without a chain): state and kind names instead of numbers, times with their zone and
their distance from the chain's clock, and what to do next."""

from __future__ import annotations

import re

import pytest

from service.chain.reverts import (
    RegistryMissingParent,
    RegistryUnexpectedState,
    RoundsInvalidSubmissionDeadline,
    RoundsSubmissionClosed,
    RoundsUnexpectedState,
)

OPEN, CLOSED, FINALIZED, CANCELLED = range(4)
CHAIN_NOW = 1_796_200_000  # 2026-12-02 08:26:40 UTC


@pytest.mark.parametrize(
    ("current", "expected", "says"),
    [
        (CLOSED, OPEN, "round 3 takes no more updates: it is closed, so it can be neither "
                       "submitted to nor closed; submit to a later round"),
        (FINALIZED, OPEN, "round 3 takes no more updates: it is finalized, so it can be neither"),
        (CANCELLED, OPEN, "round 3 takes no more updates: it is cancelled, so it can be neither"),
        (OPEN, CLOSED, "round 3 is open, not closed: only a closed round can be aggregated, "
                       "finalized or cancelled; close it first (`govledger rounds close 3`)"),
        (FINALIZED, CLOSED, "round 3 is finalized, not closed: only a closed round can be "
                            "aggregated, finalized or cancelled; its aggregate is a version"),
        (CANCELLED, CLOSED, "round 3 is cancelled, not closed: only a closed round can be "
                            "aggregated, finalized or cancelled; open a new round"),
    ],
)  # fmt: skip
def test_a_rounds_state_in_words(current: int, expected: int, says: str) -> None:
    error = RoundsUnexpectedState(
        "RoundsUnexpectedState", {"roundId": 3, "current": current, "expected": expected}
    )
    assert says in str(error)
    assert "this needs it" not in str(error)


def test_a_closed_submission_window_in_dates_not_unix_times() -> None:
    closed = RoundsSubmissionClosed(
        "RoundsSubmissionClosed",
        {"roundId": 1, "submissionDeadline": CHAIN_NOW - 3600, "timestamp": CHAIN_NOW},
    )
    assert (
        "round 1 took updates until 2026-12-02 07:26 UTC (1 hour ago), and chain time is "
        "2026-12-02 08:26 UTC: submit to a later round"
    ) in str(closed)
    assert not re.search(r"\b1796\d{6}\b", str(closed).split(": ", 1)[1])
    invalid = RoundsInvalidSubmissionDeadline(
        "RoundsInvalidSubmissionDeadline",
        {"submissionDeadline": CHAIN_NOW - 60, "timestamp": CHAIN_NOW},
    )
    assert "the submission deadline 2026-12-02 08:25 UTC (1 minute ago)" in str(invalid)


def test_kinds_and_version_states_by_name() -> None:
    """The complaint: `RegistryMissingParent(kind=1)`."""
    missing = RegistryMissingParent("RegistryMissingParent", {"kind": 1})
    assert str(missing).startswith("RegistryMissingParent(kind=Aggregate): an Aggregate version")
    decided = RegistryUnexpectedState(
        "RegistryUnexpectedState", {"versionId": 2, "current": 1, "expected": 0}
    )
    assert "voting on version 2 is closed: approved" in str(decided)
