"""Response models of a model's timeline and of a version's decision; the timeline's export
formats (JSON Lines, CSV), shared by the API and the CLI so that both write the same bytes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from service.api.schemas import VersionDecisionPublic

if TYPE_CHECKING:  # the domain pulls in web3; clients of these models need not load it
    from service.domain.timeline import Decision, Entry, TimelinePage

TimelineKind = Literal[
    "model_registered",
    "metadata_changed",
    "read_policy_changed",
    "ownership_transfer_proposed",
    "ownership_transfer_cancelled",
    "ownership_transfer_accepted",
    "rights_granted",
    "rights_revoked",
    "version_proposed",
    "build_proposed",
    "vote_cast",
    "version_approved",
    "version_rejected",
    "ballot_expired",
    "alias_moved",
    "round_opened",
    "update_submitted",
    "round_closed",
    "update_excluded",
    "round_finalized",
    "round_cancelled",
]
ExportFormat = Literal["json", "jsonl", "csv"]

CSV_COLUMNS = (
    "block",
    "log_index",
    "time",
    "timestamp",
    "kind",
    "actor",
    "transaction_hash",
    "version_id",
    "version_number",
    "round_id",
    "details",
)
"""The CSV's columns; ``details`` holds the entry's details as JSON."""

DETAILS_HELP = (
    "kind-specific: model_registered (name, owner, metadata_digest, restricted); "
    "metadata_changed (previous_digest, metadata_digest); read_policy_changed (restricted); "
    "ownership_transfer_proposed / _cancelled (owner, pending_owner); "
    "ownership_transfer_accepted (previous_owner, owner); rights_granted / rights_revoked "
    "(account, rights, rights_mask, current, current_mask); version_proposed / build_proposed "
    "(version_kind, parent_id, parent_number, artifact_digest, metadata_digest, deadline, "
    "deadline_time, required_votes, eligible_voters); vote_cast (support, and reason, "
    "reason_cid if the voter signed one); version_approved / version_rejected (previous_state, "
    "state, how: quorum_reached, quorum_unreachable or expired); ballot_expired (deadline, "
    "deadline_time, state, recorded_block, recorded_transaction: a ballot that ran out, at the "
    "first block past its deadline; no event records it, so no transaction); alias_moved "
    "(alias, cleared, "
    "previous_version_id, previous_version_number); round_opened (base_version_id, "
    "base_version_number, base_digest, rule, params_digest, min_updates, max_updates, "
    "submission_deadline, submission_deadline_time, max_norm); update_submitted (participant, "
    "update_digest, sample_count, index); round_closed (reason, update_count); "
    "update_excluded (participant, reason, reason_code); round_finalized (aggregate_digest, "
    "inclusion_root, included_count, excluded_count, included, excluded); round_cancelled "
    "(update_count)"
)


class TimelineEntryPublic(BaseModel):
    """One thing that happened to a model: the contract event that records it."""

    kind: TimelineKind
    actor: str | None = Field(
        description="the account that acted (signed the action; never the relayer); for a "
        "ballot decided by its window's end, the account that recorded it"
    )
    block: int
    log_index: int = Field(
        description="the event's index in its block; negative for ballot_expired (no event; "
        "before the block's events)"
    )
    timestamp: int
    time: datetime = Field(description="the block's time, ISO 8601 in UTC")
    transaction_hash: str | None = Field(description="null for ballot_expired (no event)")
    version_id: int | None = None
    version_number: int | None = Field(
        default=None, description="the version's number within the model (model@number)"
    )
    round_id: int | None = None
    details: dict[str, Any] = Field(description=DETAILS_HELP)

    @classmethod
    def of(cls, e: Entry) -> TimelineEntryPublic:
        return cls(
            kind=e.kind,  # type: ignore[arg-type]
            actor=e.actor,
            block=e.block,
            log_index=e.log_index,
            timestamp=e.timestamp,
            time=datetime.fromtimestamp(e.timestamp, UTC),
            transaction_hash=e.transaction_hash,
            version_id=e.version_id,
            version_number=e.version_number,
            round_id=e.round_id,
            details=e.details,
        )


class TimelinePagePublic(BaseModel):
    model_id: int
    model_name: str
    entries: list[TimelineEntryPublic]
    next_cursor: str | None = Field(
        description="BLOCK:LOG_INDEX (or BLOCK: the block's start) where the next page starts "
        "(pass it as cursor); null once "
        "the block range is exhausted. A page may hold fewer than limit entries (even none) "
        "and still have a next one: each page scans a bounded number of blocks"
    )
    from_block: int
    to_block: int = Field(description="the range's last block (the latest when not given)")
    limit: int

    @classmethod
    def of(cls, page: TimelinePage) -> TimelinePagePublic:
        return cls(
            model_id=page.model_id,
            model_name=page.model_name,
            entries=[TimelineEntryPublic.of(e) for e in page.entries],
            next_cursor=None if page.next_cursor is None else str(page.next_cursor),
            from_block=page.from_block,
            to_block=page.to_block,
            limit=page.limit,
        )


def decision_public(d: Decision | None) -> VersionDecisionPublic | None:
    if d is None:
        return None
    return VersionDecisionPublic(
        state=d.state.name.lower(),  # type: ignore[arg-type]
        how=d.how,  # type: ignore[arg-type]
        block_number=d.block,
        timestamp=d.timestamp,
        time=None if d.timestamp is None else datetime.fromtimestamp(d.timestamp, UTC),
        transaction_hash=d.transaction_hash,
        deadline=d.deadline,
        expired_at=None if d.expired_at is None else datetime.fromtimestamp(d.expired_at, UTC),
    )


# ---------------------------------------------------------------- export formats


def jsonl_lines(entries: Iterable[TimelineEntryPublic]) -> Iterable[str]:
    """One JSON object per entry and line, as the JSON API shows it."""
    for e in entries:
        yield json.dumps(e.model_dump(mode="json"), separators=(",", ":")) + "\n"


def csv_text(entries: Iterable[TimelineEntryPublic], *, header: bool = True) -> str:
    """The entries as CSV (RFC 4180, CRLF line ends): CSV_COLUMNS, ``details`` as JSON and
    empty cells for nulls."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(CSV_COLUMNS)
    for e in entries:
        data = e.model_dump(mode="json")
        row = [data[c] for c in CSV_COLUMNS[:-1]]
        writer.writerow(
            [
                *("" if v is None else v for v in row),
                json.dumps(data["details"], separators=(",", ":"), sort_keys=True),
            ]
        )
    return out.getvalue()


def entry_of_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row back as the JSON API's entry (for readers of the export, and its tests)."""
    ints = ("block", "log_index", "timestamp", "version_id", "version_number", "round_id")
    out: dict[str, Any] = {}
    for column in CSV_COLUMNS:
        value = row[column]
        if column == "details":
            out[column] = json.loads(value)
        elif column in ints:
            out[column] = int(value) if value else None
        else:
            out[column] = value or None
    return out
