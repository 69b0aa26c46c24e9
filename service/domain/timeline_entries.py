"""What each contract event about a model says, as an entry of its timeline (pure: no I/O).

See :mod:`service.domain.timeline` for how the events are read and paged. Each entry names its
kind, its actor (the account that signed, never the relayer), its position (block and log index),
time and transaction, the version or round it concerns and kind-specific details. Events of one
transaction are decoded together: the deciding vote names who decided a ballot, a finalization's
exclusions and its aggregate's proposal name the round.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from service.api.timeline_schemas import TimelineKind
from service.chain.types import (
    NORM_SCALE,
    CloseReason,
    Event,
    ExclusionReason,
    Rights,
    State,
    Support,
    VersionKind,
    alias_from_bytes32,
    rule_from_bytes32,
)
from service.errors import InvalidInput

KINDS: tuple[str, ...] = get_args(TimelineKind)
"""Every kind of entry, in the order a model's life usually shows them."""

_CURSOR_RE = re.compile(r"^(\d{1,15})(?::(-?\d{1,9}))?$")
BLOCK_START = -(2**31)
"""The log index of a block's start: before its expired ballots (negative log indexes, which
no event has) and its events."""


@dataclass(frozen=True, order=True)
class Position:
    """Where an entry is on the chain: its block and its log index in that block (an expired
    ballot's entry, which has no event, sorts before the block's events with a negative one)."""

    block: int
    log_index: int = BLOCK_START

    def __str__(self) -> str:
        return (
            str(self.block) if self.log_index == BLOCK_START else f"{self.block}:{self.log_index}"
        )

    @classmethod
    def parse(cls, text: str) -> Position:
        """``1234:5``, ``1234:-1`` or ``1234`` (the block's start) as a Position; InvalidInput
        saying the form otherwise."""
        match = _CURSOR_RE.match(text)
        if match is None:
            raise InvalidInput(
                f"cursor {text!r} is not BLOCK:LOG_INDEX or BLOCK (whole numbers, e.g. 1234:0): "
                "pass the next_cursor of the previous page as it is"
            )
        return cls(int(match[1]), BLOCK_START if match[2] is None else int(match[2]))


@dataclass(kw_only=True)
class Entry:
    """One thing that happened to the model: the event that records it, decoded."""

    kind: str
    block: int
    log_index: int
    timestamp: int
    transaction_hash: str | None  # None: an expired ballot, which no event records
    actor: str | None
    version_id: int | None = None
    version_number: int | None = None
    round_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def position(self) -> Position:
        return Position(self.block, self.log_index)


def iso(timestamp: int) -> str:
    """``2026-12-02T01:00:07Z``: a Unix time in ISO 8601, in UTC."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def parse_kinds(kinds: Iterable[str] | None) -> frozenset[str] | None:
    """The kinds to keep (None: all); InvalidInput naming an unknown one and the known ones."""
    if not kinds:
        return None
    chosen = frozenset(kinds)
    unknown = sorted(chosen - set(KINDS))
    if unknown:
        raise InvalidInput(
            f"unknown timeline kind {', '.join(map(repr, unknown))}; the kinds are "
            f"{', '.join(KINDS)}"
        )
    return chosen


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _rights(mask: int) -> list[str]:
    return [
        str(right.name).lower()
        for right in (Rights.SUBMIT_UPDATES, Rights.READ_ARTIFACTS, Rights.MAINTAIN)
        if mask & right
    ]


def decode(events: Sequence[Event], *, numbers: dict[int, int]) -> list[Entry]:
    """The entries of one window's events (in chain order), each transaction's events read
    together: the deciding vote names who decided, the finalization whom it excluded."""
    by_tx: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_tx[e.transaction_hash].append(e)
    entries = []
    for e in events:
        entry = _entry(e, by_tx[e.transaction_hash], numbers)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(e: Event, same_tx: list[Event], numbers: dict[int, int]) -> Entry | None:
    a = e.args
    base: dict[str, Any] = {
        "block": e.block_number,
        "log_index": e.log_index,
        "timestamp": int(e.block_timestamp or 0),
        "transaction_hash": e.transaction_hash,
    }

    def version(vid: int) -> dict[str, Any]:
        return {"version_id": vid or None, "version_number": numbers.get(vid)}

    match e.name:
        case "ModelRegistered":
            return Entry(
                kind="model_registered",
                actor=str(a["owner"]),
                details={
                    "name": a["name"],
                    "owner": str(a["owner"]),
                    "metadata_digest": _hex(a["metadataDigest"]),
                    "restricted": bool(a["restricted"]),
                },
                **base,
            )
        case "ModelMetadataChanged":
            return Entry(
                kind="metadata_changed",
                actor=str(a["by"]),
                details={
                    "previous_digest": _hex(a["previousDigest"]),
                    "metadata_digest": _hex(a["metadataDigest"]),
                },
                **base,
            )
        case "ModelOwnershipTransferStarted":
            cancelled = int(str(a["newOwner"]), 16) == 0
            return Entry(
                kind="ownership_transfer_cancelled" if cancelled else "ownership_transfer_proposed",
                actor=str(a["previousOwner"]),
                details={
                    "owner": str(a["previousOwner"]),
                    "pending_owner": None if cancelled else str(a["newOwner"]),
                },
                **base,
            )
        case "ModelOwnershipTransferred":
            return Entry(
                kind="ownership_transfer_accepted",
                actor=str(a["newOwner"]),
                details={"previous_owner": str(a["previousOwner"]), "owner": str(a["newOwner"])},
                **base,
            )
        case "ReadPolicyChanged":
            return Entry(
                kind="read_policy_changed",
                actor=str(a["by"]),
                details={"restricted": bool(a["restricted"])},
                **base,
            )
        case "RightsGranted" | "RightsRevoked":
            return Entry(
                kind="rights_granted" if e.name == "RightsGranted" else "rights_revoked",
                actor=str(a["by"]),
                details={
                    "account": str(a["account"]),
                    "rights": _rights(int(a["rights"])),
                    "rights_mask": int(a["rights"]),
                    "current": _rights(int(a["current"])),
                    "current_mask": int(a["current"]),
                },
                **base,
            )
        case "AliasMoved":
            previous = int(a["previousVersionId"])
            return Entry(
                kind="alias_moved",
                actor=str(a["by"]),
                **version(int(a["versionId"])),
                details={
                    "alias": alias_from_bytes32(a["aliasName"]),
                    "cleared": int(a["versionId"]) == 0,
                    "previous_version_id": previous or None,
                    "previous_version_number": numbers.get(previous),
                },
                **base,
            )
        case "VersionProposed":
            kind = VersionKind(int(a["kind"]))
            parent = int(a["parentId"])
            finalized = [x for x in same_tx if x.name == "RoundFinalized"]
            return Entry(
                kind="build_proposed" if kind is VersionKind.ACCELERATED else "version_proposed",
                actor=str(a["proposer"]),
                **version(int(a["versionId"])),
                round_id=int(finalized[0].args["roundId"]) if finalized else None,
                details={
                    "version_kind": kind.name.lower(),
                    "parent_id": parent or None,
                    "parent_number": numbers.get(parent),
                    "artifact_digest": _hex(a["artifactDigest"]),
                    "metadata_digest": _hex(a["metadataDigest"]),
                    "deadline": int(a["deadline"]),
                    "deadline_time": iso(int(a["deadline"])),
                    "required_votes": int(a["requiredVotes"]),
                    "eligible_voters": int(a["eligibleVoters"]),
                },
                **base,
            )
        case "VoteCast":
            return Entry(
                kind="vote_cast",
                actor=str(a["voter"]),
                **version(int(a["versionId"])),
                details={"support": Support(int(a["support"])).name.lower()},
                **base,
            )
        case "VersionStateChanged":
            vid = int(a["versionId"])
            state = State(int(a["current"]))
            votes = [x for x in same_tx if x.name == "VoteCast" and int(x.args["versionId"]) == vid]
            if votes:
                how = "quorum_reached" if state is State.APPROVED else "quorum_unreachable"
            else:
                how = "expired"
            return Entry(
                kind=f"version_{state.name.lower()}",
                actor=str(votes[-1].args["voter"]) if votes else None,  # else: who recorded it
                **version(vid),
                details={
                    "previous_state": State(int(a["previous"])).name.lower(),
                    "state": state.name.lower(),
                    "how": how,
                },
                **base,
            )
        case "RoundOpened":
            return Entry(
                kind="round_opened",
                actor=str(a["by"]),
                round_id=int(a["roundId"]),
                details={
                    "base_version_id": int(a["baseVersionId"]),
                    "base_version_number": numbers.get(int(a["baseVersionId"])),
                    "base_digest": _hex(a["baseDigest"]),
                    "rule": rule_from_bytes32(a["rule"]),
                    "params_digest": _hex(a["paramsDigest"]),
                    "min_updates": int(a["minUpdates"]),
                    "max_updates": int(a["maxUpdates"]),
                    "submission_deadline": int(a["submissionDeadline"]),
                    "submission_deadline_time": iso(int(a["submissionDeadline"])),
                    "max_norm": int(a["maxNorm"]) / NORM_SCALE,
                },
                **base,
            )
        case "UpdateSubmitted":
            return Entry(
                kind="update_submitted",
                actor=str(a["participant"]),
                round_id=int(a["roundId"]),
                details={
                    "participant": str(a["participant"]),
                    "update_digest": _hex(a["updateDigest"]),
                    "sample_count": int(a["sampleCount"]),
                    "index": int(a["index"]),
                },
                **base,
            )
        case "RoundClosed":
            return Entry(
                kind="round_closed",
                actor=str(a["by"]),
                round_id=int(a["roundId"]),
                details={
                    "reason": CloseReason(int(a["reason"])).name.lower(),
                    "update_count": int(a["updateCount"]),
                },
                **base,
            )
        case "UpdateExcluded":
            finalized = [x for x in same_tx if x.name == "RoundFinalized"]
            return Entry(
                kind="update_excluded",
                actor=str(finalized[0].args["by"]) if finalized else None,
                round_id=int(a["roundId"]),
                details={
                    "participant": str(a["participant"]),
                    "reason": _exclusion(int(a["reason"])),
                    "reason_code": int(a["reason"]),
                },
                **base,
            )
        case "RoundFinalized":
            rid = int(a["roundId"])
            return Entry(
                kind="round_finalized",
                actor=str(a["by"]),
                round_id=rid,
                **version(int(a["aggregateVersionId"])),
                details={
                    "aggregate_digest": _hex(a["aggregateDigest"]),
                    "inclusion_root": _hex(a["inclusionRoot"]),
                    "included_count": int(a["includedCount"]),
                    "excluded_count": int(a["excludedCount"]),
                    "included": [],  # filled from the chain's submitters (see _complete)
                    "excluded": [
                        {
                            "participant": str(x.args["participant"]),
                            "reason": _exclusion(int(x.args["reason"])),
                        }
                        for x in same_tx
                        if x.name == "UpdateExcluded" and int(x.args["roundId"]) == rid
                    ],
                },
                **base,
            )
        case "RoundCancelled":
            return Entry(
                kind="round_cancelled",
                actor=str(a["by"]),
                round_id=int(a["roundId"]),
                details={"update_count": int(a["updateCount"])},
                **base,
            )
    return None


def _exclusion(code: int) -> str:
    try:
        return ExclusionReason(code).name.lower()
    except ValueError:
        return f"code {code}"
