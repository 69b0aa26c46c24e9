"""What the lineage explorer's pages show, read through the catalog, the timeline and the rounds
use cases: records from the chain's views, their history (with each transaction) from the
model's timeline, CIDs from the store. Nothing here reads a document or an artifact's bytes:
the pages link to the API routes that serve those under their read rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.chain.types import (
    Event,
    ModelRecord,
    RoundRecord,
    VersionRecord,
)
from service.domain import catalog
from service.domain.lineage import LineageGraph, lineage_of, model_entries
from service.domain.reasons import VoteReasonService
from service.domain.rounds import RoundService
from service.domain.timeline import Entry
from service.errors import NotFound
from service.index.store import IndexFile

DECISION_KINDS = ("version_approved", "version_rejected", "ballot_expired")


@dataclass(frozen=True, kw_only=True)
class ModelRow:
    model: ModelRecord
    version_count: int


@dataclass(frozen=True, kw_only=True)
class VersionRow:
    version: VersionRecord
    number: int
    label: str  # name@number
    cid: str | None
    proposed: Entry | None
    decided: Entry | None  # version_approved / version_rejected / ballot_expired
    parent_label: str | None


@dataclass(frozen=True, kw_only=True)
class ModelPage:
    model: ModelRecord
    versions: list[VersionRow]
    aliases: list[tuple[str, VersionRow | None, Entry]]  # alias, where it points now, last move
    rights: list[catalog.RightsView]
    rounds: list[RoundRecord]
    entries: list[Entry]
    graph: LineageGraph

    def label(self, version_id: int | None) -> str:
        return _label(self.model, self.versions, version_id)


@dataclass(frozen=True, kw_only=True)
class VersionPage:
    model: ModelRecord
    row: VersionRow
    versions: list[VersionRow]
    votes: list[Entry]
    entries: list[Entry]  # everything about this version, in block order
    children: list[VersionRow]
    rounds_on: list[RoundRecord]  # rounds with this version as base
    made_by_round: int | None  # the round this aggregate finalized

    def label(self, version_id: int | None) -> str:
        return _label(self.model, self.versions, version_id)


@dataclass(frozen=True, kw_only=True)
class UpdateRow:
    participant: str
    index: int
    sample_count: int
    digest: str
    cid: str
    submitted: Entry | None
    outcome: str  # included | excluded | pending
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class RoundPage:
    model: ModelRecord
    round: RoundRecord
    base_cid: str | None
    updates: list[UpdateRow]
    entries: list[Entry]
    versions: list[VersionRow]

    def label(self, version_id: int | None) -> str:
        return _label(self.model, self.versions, version_id)


@dataclass(frozen=True, kw_only=True)
class TransactionPage:
    transaction_hash: str
    succeeded: bool
    block: int
    timestamp: int
    sender: str
    events: list[Event]


@dataclass(frozen=True, kw_only=True)
class AccountPage:
    account: str
    member: bool
    rights: list[tuple[ModelRecord, catalog.RightsView]] = field(default_factory=list)


class Explorer:
    """Reads for the explorer's pages."""

    def __init__(
        self,
        rounds: RoundService,
        reasons: VoteReasonService | None = None,
        index: IndexFile | None = None,
    ) -> None:
        self.rounds = rounds
        self.artifacts = rounds.artifacts
        self.ledger = rounds.backends.ledger
        self.reasons = reasons
        self.index = index

    def models(self, *, offset: int, limit: int) -> tuple[list[ModelRow], int]:
        """One page of models in id order, and how many there are."""
        page = catalog.list_models(
            self.ledger, name=None, owner=None, offset=offset, limit=limit, index=self.index
        )
        rows = [
            ModelRow(model=m, version_count=len(self.ledger.version_ids_of(m.model_id)))
            for m in page.items
        ]
        return rows, page.total

    def _versions(self, model: ModelRecord, entries: list[Entry]) -> list[VersionRow]:
        ledger = self.ledger
        ids = ledger.version_ids_of(model.model_id)
        numbers = {v: n for n, v in enumerate(ids, start=1)}
        proposed = {
            e.version_id: e for e in entries if e.kind in ("version_proposed", "build_proposed")
        }
        decided = {e.version_id: e for e in entries if e.kind in DECISION_KINDS}
        rows = []
        for vid in ids:
            v = ledger.version(vid)
            cid = self.artifacts.cid_of(v.artifact_digest)
            rows.append(
                VersionRow(
                    version=v,
                    number=numbers[vid],
                    label=f"{model.name}@{numbers[vid]}",
                    cid=None if cid is None else str(cid),
                    proposed=proposed.get(vid),
                    decided=decided.get(vid),
                    parent_label=(
                        f"{model.name}@{numbers[v.parent_id]}" if v.parent_id in numbers else None
                    ),
                )
            )
        return rows

    def model(self, model_id: int) -> ModelPage:
        ledger = self.ledger
        model = ledger.model(model_id)
        entries = model_entries(ledger, model_id, self.reasons, self.index)
        versions = self._versions(model, entries)
        by_id = {r.version.version_id: r for r in versions}
        moves: dict[str, Entry] = {}
        for e in entries:
            if e.kind == "alias_moved":
                moves[str(e.details["alias"])] = e
        aliases = [
            (name, by_id.get(e.version_id) if e.version_id else None, e)
            for name, e in sorted(moves.items())
        ]
        graph = lineage_of(
            model_id, model.name, entries, {r.version.version_id: r.version.state for r in versions}
        )
        return ModelPage(
            model=model,
            versions=versions,
            aliases=aliases,
            rights=catalog.rights_holders(ledger, model_id),
            rounds=self.rounds.list_rounds(model_id=model_id, state=None, participant=None),
            entries=entries,
            graph=graph,
        )

    def version(self, version_id: int) -> VersionPage:
        ledger = self.ledger
        v = ledger.version(version_id)
        model = ledger.model(v.model_id)
        entries = model_entries(ledger, v.model_id, self.reasons, self.index)
        versions = self._versions(model, entries)
        row = next(r for r in versions if r.version.version_id == version_id)
        rounds_on = [
            r
            for r in self.rounds.list_rounds(model_id=v.model_id, state=None, participant=None)
            if r.base_version_id == version_id
        ]
        made_by = next(
            (
                e.round_id
                for e in entries
                if e.kind == "round_finalized" and e.version_id == version_id
            ),
            None,
        )
        return VersionPage(
            model=model,
            row=row,
            versions=versions,
            votes=[e for e in entries if e.kind == "vote_cast" and e.version_id == version_id],
            entries=[e for e in entries if e.version_id == version_id],
            children=[r for r in versions if r.version.parent_id == version_id],
            rounds_on=sorted(rounds_on, key=lambda r: r.round_id),
            made_by_round=made_by,
        )

    def round(self, round_id: int) -> RoundPage:
        ledger = self.ledger
        view = self.rounds.detail(round_id)
        model = ledger.model(view.round.model_id)
        entries = model_entries(ledger, model.model_id, self.reasons, self.index)
        mine = [e for e in entries if e.round_id == round_id]
        submitted = {str(e.details["participant"]): e for e in mine if e.kind == "update_submitted"}
        excluded = {
            str(e.details["participant"]): str(e.details["reason"])
            for e in mine
            if e.kind == "update_excluded"
        }
        finalized = view.round.aggregate_version_id is not None
        updates = []
        for u, cid in view.updates:
            if not finalized:
                outcome = "pending"
            elif u.participant in excluded:
                outcome = "excluded"
            else:
                outcome = "included"
            updates.append(
                UpdateRow(
                    participant=u.participant,
                    index=u.index,
                    sample_count=u.sample_count,
                    digest="0x" + u.update_digest.hex(),
                    cid=cid,
                    submitted=submitted.get(u.participant),
                    outcome=outcome,
                    reason=excluded.get(u.participant),
                )
            )
        return RoundPage(
            model=model,
            round=view.round,
            base_cid=view.base_cid,
            updates=updates,
            entries=mine,
            versions=self._versions(model, entries),
        )

    def transaction(self, transaction_hash: str) -> TransactionPage:
        """A transaction's receipt: its status, block, sender and the events of the ledger's
        contracts it emitted (decoded with their ABIs)."""
        found = self.ledger.receipt_of(transaction_hash)
        if found is None:
            raise NotFound(f"the chain knows no mined transaction {transaction_hash}")
        receipt, succeeded = found
        sent: Any = self.ledger.w3.eth.get_transaction(transaction_hash)  # type: ignore[arg-type]
        return TransactionPage(
            transaction_hash=receipt.transaction_hash,
            succeeded=succeeded,
            block=receipt.block_number,
            timestamp=self.ledger.history.block_timestamp(receipt.block_number),
            sender=str(sent["from"]),
            events=receipt.events,
        )

    def account(self, account: str) -> AccountPage:
        ledger = self.ledger
        views = catalog.rights_of_account(ledger, account)
        return AccountPage(
            account=account,
            member=ledger.is_member(account),
            rights=[(ledger.model(v.model_id), v) for v in views],
        )


def _label(model: ModelRecord, versions: list[VersionRow], version_id: int | None) -> str:
    for r in versions:
        if r.version.version_id == version_id:
            return r.label
    return "" if not version_id else f"version {version_id}"
