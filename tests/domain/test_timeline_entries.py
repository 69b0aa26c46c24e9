"""What each event says as a timeline entry (pure code: events written out by hand), and the
cursor's positions. The whole timeline against a real chain is tests/api/test_timeline.py."""

from __future__ import annotations

from typing import Any

import pytest

from service.chain.types import Event
from service.domain.timeline_entries import BLOCK_START, Position, decode, iso, parse_kinds
from service.errors import InvalidInput

OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
VOTER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
ZERO = "0x0000000000000000000000000000000000000000"


def event(name: str, tx: str, log_index: int, block: int = 10, **args: Any) -> Event:
    return Event(
        name=name,
        args=args,
        block_number=block,
        block_timestamp=1_800_000_000 + block,
        transaction_hash=tx,
        log_index=log_index,
    )


def test_positions_order_print_and_parse() -> None:
    assert Position(5, -1) < Position(5, 0) < Position(5, 3) < Position(6)
    assert Position(6) < Position(6, -2)  # a block's start comes before its expired ballots
    assert Position(6).log_index == BLOCK_START
    for text in ("12:0", "12:7", "12:-2", "12"):
        assert str(Position.parse(text)) == text
    for bad in ("", "12:", ":3", "a:b", "1:2:3", "-1:0", "12:+1", "1" * 16):
        with pytest.raises(InvalidInput, match="BLOCK:LOG_INDEX"):
            Position.parse(bad)


def test_kinds_are_checked_by_name() -> None:
    assert parse_kinds(None) is None and parse_kinds([]) is None
    assert parse_kinds(["vote_cast", "vote_cast"]) == frozenset({"vote_cast"})
    with pytest.raises(InvalidInput, match=r"'votes'.*the kinds are model_registered"):
        parse_kinds(["votes"])


def test_iso_names_utc() -> None:
    assert iso(1_800_000_000) == "2027-01-15T08:00:00Z"


def test_the_deciding_vote_names_who_decided_and_how() -> None:
    numbers = {7: 3}
    entries = decode(
        [
            event("VoteCast", "0xaa", 0, versionId=7, voter=VOTER, support=1),
            event("VersionStateChanged", "0xaa", 1, versionId=7, previous=0, current=1),
            event("VersionStateChanged", "0xbb", 0, block=11, versionId=7, previous=0, current=2),
        ],
        numbers=numbers,
    )
    vote, approved, recorded = entries
    assert (vote.kind, vote.actor, vote.version_number, vote.details) == (
        "vote_cast",
        VOTER,
        3,
        {"support": "for"},
    )
    assert (approved.kind, approved.actor, approved.details) == (
        "version_approved",
        VOTER,
        {"previous_state": "proposed", "state": "approved", "how": "quorum_reached"},
    )
    # no vote in its transaction: finalizeVersion recorded a window that ended; its sender is
    # looked up later (the domain's _complete), here it is still unknown
    assert (recorded.kind, recorded.actor, recorded.details["how"]) == (
        "version_rejected",
        None,
        "expired",
    )
    assert (recorded.block, recorded.log_index, recorded.timestamp) == (11, 0, 1_800_000_011)


def test_ownership_a_zero_address_cancels() -> None:
    named, cancelled, accepted = decode(
        [
            event(
                "ModelOwnershipTransferStarted",
                "0x01",
                0,
                modelId=1,
                previousOwner=OWNER,
                newOwner=VOTER,
            ),
            event(
                "ModelOwnershipTransferStarted",
                "0x02",
                0,
                modelId=1,
                previousOwner=OWNER,
                newOwner=ZERO,
            ),
            event(
                "ModelOwnershipTransferred",
                "0x03",
                0,
                modelId=1,
                previousOwner=OWNER,
                newOwner=VOTER,
            ),
        ],
        numbers={},
    )
    assert (named.kind, named.actor, named.details) == (
        "ownership_transfer_proposed",
        OWNER,
        {"owner": OWNER, "pending_owner": VOTER},
    )
    assert (cancelled.kind, cancelled.details["pending_owner"]) == (
        "ownership_transfer_cancelled",
        None,
    )
    assert (accepted.kind, accepted.actor) == ("ownership_transfer_accepted", VOTER)


def test_a_finalization_names_its_exclusions_and_its_round() -> None:
    participant = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
    excluded, proposed, finalized = decode(
        [
            event("UpdateExcluded", "0xf1", 3, roundId=4, participant=participant, reason=1),
            event(
                "VersionProposed",
                "0xf1",
                4,
                versionId=9,
                modelId=1,
                proposer=OWNER,
                parentId=7,
                kind=1,
                artifactDigest=b"\x01" * 32,
                metadataDigest=b"\x02" * 32,
                deadline=1_800_003_600,
                requiredVotes=2,
                eligibleVoters=3,
            ),
            event(
                "RoundFinalized",
                "0xf1",
                5,
                roundId=4,
                aggregateVersionId=9,
                aggregateDigest=b"\x01" * 32,
                inclusionRoot=b"\x03" * 32,
                includedCount=4,
                excludedCount=1,
                by=OWNER,
            ),
        ],
        numbers={7: 1, 9: 2},
    )
    assert (excluded.kind, excluded.actor, excluded.round_id, excluded.details) == (
        "update_excluded",
        OWNER,
        4,
        {"participant": participant, "reason": "not_selected", "reason_code": 1},
    )
    assert (proposed.kind, proposed.round_id, proposed.version_number) == ("version_proposed", 4, 2)
    assert proposed.details == {
        "version_kind": "aggregate",
        "parent_id": 7,
        "parent_number": 1,
        "artifact_digest": "0x" + "01" * 32,
        "metadata_digest": "0x" + "02" * 32,
        "deadline": 1_800_003_600,
        "deadline_time": "2027-01-15T09:00:00Z",
        "required_votes": 2,
        "eligible_voters": 3,
    }
    assert finalized.details["excluded"] == [{"participant": participant, "reason": "not_selected"}]
    assert (finalized.version_id, finalized.version_number) == (9, 2)


def test_rights_by_name_and_a_cleared_alias() -> None:
    rights, alias = decode(
        [
            event(
                "RightsRevoked", "0x01", 0, modelId=1, account=VOTER, rights=4, current=3, by=OWNER
            ),
            event(
                "AliasMoved",
                "0x02",
                0,
                modelId=1,
                aliasName=b"production".ljust(32, b"\0"),
                versionId=0,
                previousVersionId=7,
                by=OWNER,
            ),
        ],
        numbers={7: 1},
    )
    assert rights.details == {
        "account": VOTER,
        "rights": ["maintain"],
        "rights_mask": 4,
        "current": ["submit_updates", "read_artifacts"],
        "current_mask": 3,
    }
    assert (alias.version_id, alias.version_number) == (None, None)
    assert alias.details == {
        "alias": "production",
        "cleared": True,
        "previous_version_id": 7,
        "previous_version_number": 1,
    }


def test_round_state_changes_repeat_other_events_and_are_left_out() -> None:
    assert decode([event("RoundStateChanged", "0x01", 0, roundId=1, previous=0, current=1)],
                  numbers={}) == []  # fmt: skip
