"""A model's timeline: everything that happened to it, in block order, from the contracts' events.

The entries are the ModelRegistry's and the FederatedRounds' events about one model (see
``contracts/interfaces/``), read with :class:`service.chain.history.EventReader`, decoded with
the contracts' ABIs and turned into entries by :mod:`service.domain.timeline_entries` (pure);
each names its kind, its actor (the account that signed, never the relayer), its block, time,
transaction and log index. Events that only repeat another one of the same transaction are left
out (``RoundStateChanged`` repeats ``RoundClosed`` / ``RoundFinalized`` / ``RoundCancelled``).

Most events carry the model's id as an indexed topic; votes and decisions carry the version's,
and a round's events the round's. So a page first lists the model's version and round ids (the
``VersionProposed`` and ``RoundOpened`` events filtered by the model's topic), then asks, per
window of blocks, for the model's events and for those of its versions and rounds.

**Paging.** A page starts at a cursor, the position ``block:log_index`` of its first entry
(inclusive), and scans windows of ``EventReader.page_blocks`` blocks until it holds ``limit``
entries or has scanned ``windows_per_page`` windows: the work per request is bounded by both.
``next_cursor`` is where the next page starts (the next entry's position, or the first block
not scanned yet); None once the range is exhausted. Positions are unique and stable on a chain
that does not reorganise, so following the cursors yields every entry exactly once, and new
entries appear after the last one.

**Decisions.** A version is decided by its ``VersionStateChanged`` event: in the transaction of
the deciding vote (the quorum reached, or out of reach), or, for a ballot whose window ended
without approval, in a later ``finalizeVersion`` that records it. Until someone records it, an
expired ballot has no event: by the contract's rule (``Ballots.effectiveStatus``) it is
Rejected from the first second after its deadline; :func:`decision_of` says so, and the
timeline lists a ``ballot_expired`` entry at the first block past the deadline (before that
block's events, with a negative log index and no transaction), recorded later or not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from service.chain.history import uint_topic
from service.chain.ledger import Ledger
from service.chain.merkle import sort_participants
from service.chain.types import Event, State, VersionRecord
from service.domain import indexed
from service.domain.reasons import VoteReasonService
from service.domain.timeline_entries import (
    BLOCK_START,
    KINDS,
    Entry,
    Position,
    decode,
    iso,
    parse_kinds,
)
from service.errors import InvalidInput
from service.index.store import IndexFile

__all__ = [
    "BLOCK_START",
    "KINDS",
    "Decision",
    "Entry",
    "Position",
    "Timeline",
    "TimelinePage",
    "decision_of",
    "parse_kinds",
]

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
WINDOWS_PER_PAGE = 20
"""Windows of ``EventReader.page_blocks`` blocks (5,000) one page scans at most."""
IDS_PER_QUERY = 200
"""Version or round ids one eth_getLogs call names (an OR list in its topic)."""

_MODEL_EVENTS = (
    "ModelRegistered",
    "ModelMetadataChanged",
    "ModelOwnershipTransferStarted",
    "ModelOwnershipTransferred",
    "ReadPolicyChanged",
    "AliasMoved",
    "RightsGranted",
    "RightsRevoked",
)  # their first indexed argument is the model's id
_VERSION_EVENTS = ("VoteCast", "VersionStateChanged")
_ROUND_EVENTS = (
    "UpdateSubmitted",
    "RoundClosed",
    "UpdateExcluded",
    "RoundFinalized",
    "RoundCancelled",
)
TIMELINE_EVENTS = frozenset(
    [*_MODEL_EVENTS, "VersionProposed", "RoundOpened", *_VERSION_EVENTS, *_ROUND_EVENTS]
)
"""Every event a timeline reads (an entry, or what completes one)."""


@dataclass(frozen=True, kw_only=True)
class TimelinePage:
    model_id: int
    model_name: str
    entries: list[Entry]
    next_cursor: Position | None
    from_block: int
    to_block: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class Decision:
    """How and when a version's ballot was decided."""

    state: State  # Approved or Rejected
    how: str  # quorum_reached | quorum_unreachable | expired
    block: int | None  # None: an expired ballot nobody recorded yet (no event)
    timestamp: int | None
    transaction_hash: str | None
    deadline: int  # the ballot's last second for votes (inclusive)
    expired_at: int | None  # the deadline, for a ballot that ran out


class Timeline:
    """Reads pages of a model's timeline; see the module's docstring."""

    def __init__(
        self,
        ledger: Ledger,
        reasons: VoteReasonService | None = None,
        *,
        windows_per_page: int = WINDOWS_PER_PAGE,
        index: IndexFile | None = None,
    ) -> None:
        self.ledger = ledger
        self.reasons = reasons
        self.windows_per_page = windows_per_page
        self.index = index
        self._times: dict[int, int] = {}  # block number -> time, for one page
        self._view: indexed.IndexedView | None = None  # the index, for one page

    def page(
        self,
        model_id: int,
        *,
        kinds: frozenset[str] | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
        cursor: Position | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> TimelinePage:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit is 1 to {MAX_LIMIT}, not {limit}")
        model = self.ledger.model(model_id)  # RegistryUnknownModel if there is none
        reader = self.ledger.history
        latest = self.ledger.block_number()
        for name, block in (("from_block", from_block), ("to_block", to_block)):
            if block is not None and block > latest:
                raise InvalidInput(f"{name} {block} is not mined yet; the latest block is {latest}")
        if from_block is not None and to_block is not None and from_block > to_block:
            raise InvalidInput(f"from_block {from_block} is after to_block {to_block}")
        low = max(reader.start_block, from_block or 0)
        high = latest if to_block is None else to_block
        begin = max(Position(low), cursor or Position(0))
        self._view = indexed.view(self.index, self.ledger, latest)

        proposals = self._proposals(model_id, high)
        numbers = {vid: n for n, vid in enumerate(proposals, start=1)}
        self._times = {}
        rounds = self._rounds_opened(model_id, high)

        found: list[Entry] = []
        start = begin.block
        windows = 0
        while start <= high and windows < self.windows_per_page and len(found) < limit:
            end = min(start + reader.page_blocks - 1, high)
            versions = [v for v, (block, _) in proposals.items() if block <= end]
            round_ids = [r for r, block in rounds.items() if block <= end]
            events = self._window(model_id, versions, round_ids, start, end)
            entries = decode(events, numbers=numbers)
            if kinds is None or "ballot_expired" in kinds:
                entries = sorted(
                    [*self._expiries(proposals, numbers, start, end, high), *entries],
                    key=lambda e: e.position,
                )
            for entry in entries:
                if entry.position >= begin and (kinds is None or entry.kind in kinds):
                    found.append(entry)
            windows += 1
            start = end + 1
        if len(found) > limit:
            next_cursor: Position | None = found[limit].position
            found = found[:limit]
        else:
            next_cursor = Position(start) if start <= high else None
        self._complete(found)
        return TimelinePage(
            model_id=model_id,
            model_name=model.name,
            entries=found,
            next_cursor=next_cursor,
            from_block=low,
            to_block=high,
            limit=limit,
        )

    # ------------------------------------------------------------ reading

    def _indexed_to(self, high: int) -> int | None:
        """The last block up to ``high`` this page reads from the index (None: none)."""
        if self._view is None:
            return None
        return min(self._view.head, high)

    def _proposals(self, model_id: int, high: int) -> dict[int, tuple[int, int]]:
        """The model's version ids in proposal order, each with its proposal block and its
        ballot's deadline."""
        return self._by_id(
            model_id,
            high,
            IndexFile.proposals,
            "ModelRegistry",
            "VersionProposed",
            lambda e: (int(e.args["versionId"]), (e.block_number, int(e.args["deadline"]))),
        )

    def _rounds_opened(self, model_id: int, high: int) -> dict[int, int]:
        """The model's round ids in opening order, each with its opening block."""
        return self._by_id(
            model_id,
            high,
            IndexFile.rounds_opened,
            "FederatedRounds",
            "RoundOpened",
            lambda e: (int(e.args["roundId"]), e.block_number),
        )

    def _by_id(
        self,
        model_id: int,
        high: int,
        from_index: Callable[[IndexFile, int, int], dict[int, T]],
        contract: str,
        event: str,
        entry: Callable[[Event], tuple[int, T]],
    ) -> dict[int, T]:
        """One event of the model's (its id the first indexed topic) up to block ``high``, keyed
        by the id it names: from the index up to its head, from the chain after it."""
        upto = self._indexed_to(high)
        found = (
            {}
            if upto is None or self._view is None
            else from_index(self._view.index, model_id, upto)
        )
        found.update(
            entry(e)
            for e in self.ledger.events(
                contract=contract,
                event=event,
                topics=[None, uint_topic(model_id)],
                from_block=None if upto is None else upto + 1,
                to_block=high,
                with_timestamps=False,
            )
        )
        return found

    def _window(
        self, model_id: int, versions: Sequence[int], rounds: Sequence[int], start: int, end: int
    ) -> list[Event]:
        """Every event of the model in blocks ``start`` .. ``end``, in chain order: from the
        index up to its head, from the chain after it."""
        upto = self._indexed_to(end)
        if upto is None or self._view is None or upto < start:
            return self._chain_window(model_id, versions, rounds, start, end)
        view = self._view
        events = view.events(
            view.index.model_logs(model_id, TIMELINE_EVENTS, start, upto), self.ledger
        )
        if upto < end:
            events += self._chain_window(model_id, versions, rounds, upto + 1, end)
        return events

    def _chain_window(
        self, model_id: int, versions: Sequence[int], rounds: Sequence[int], start: int, end: int
    ) -> list[Event]:
        """Every event of the model in blocks ``start`` .. ``end``, in chain order."""
        model = uint_topic(model_id)
        span: dict[str, Any] = {"from_block": start, "to_block": end}
        events = [
            *self.ledger.events(
                contract="ModelRegistry", event=_MODEL_EVENTS, topics=[model], **span
            ),
            *self.ledger.events(
                contract="ModelRegistry", event="VersionProposed", topics=[None, model], **span
            ),
            *self.ledger.events(
                contract="FederatedRounds", event="RoundOpened", topics=[None, model], **span
            ),
        ]
        for chunk in _chunks(versions):
            events += self.ledger.events(
                contract="ModelRegistry",
                event=_VERSION_EVENTS,
                topics=[[uint_topic(v) for v in chunk]],
                **span,
            )
        for chunk in _chunks(rounds):
            events += self.ledger.events(
                contract="FederatedRounds",
                event=_ROUND_EVENTS,
                topics=[[uint_topic(r) for r in chunk]],
                **span,
            )
        return sorted(events, key=lambda e: (e.block_number, e.log_index))

    def _time(self, block: int) -> int:
        if block not in self._times:
            self._times[block] = self.ledger.history.block_timestamp(block)
        return self._times[block]

    def _expiries(
        self,
        proposals: dict[int, tuple[int, int]],
        numbers: dict[int, int],
        start: int,
        end: int,
        high: int,
    ) -> list[Entry]:
        """The ballots of the model that ran out without a decision in blocks ``start`` ..
        ``end``: each at the first block whose time is past its deadline (from then on the
        contract reads the version as Rejected), before that block's events. Such an expiry
        emits nothing; a later ``finalizeVersion`` records it (``recorded_block``)."""
        before = self._time(start - 1) if start > 0 else -1
        last = self._time(end)
        candidates = {
            v: deadline
            for v, (block, deadline) in proposals.items()
            if block <= end and before <= deadline < last
        }
        if not candidates:
            return []
        decided: dict[int, Event] = {}
        for chunk in _chunks(list(candidates)):
            for e in self.ledger.events(
                contract="ModelRegistry",
                event="VersionStateChanged",
                topics=[[uint_topic(v) for v in chunk]],
                from_block=min(proposals[v][0] for v in chunk),
                to_block=high,
            ):
                decided.setdefault(int(e.args["versionId"]), e)
        by_block: dict[int, list[int]] = defaultdict(list)
        for v, deadline in sorted(candidates.items()):
            change = decided.get(v)
            if change is not None and int(change.block_timestamp or 0) <= deadline:
                continue  # decided by its votes in time
            by_block[self._first_block_after(deadline, start, end)].append(v)
        entries = []
        for block, versions in by_block.items():
            for i, v in enumerate(versions):
                deadline = candidates[v]
                change = decided.get(v)
                entries.append(
                    Entry(
                        kind="ballot_expired",
                        block=block,
                        log_index=i - len(versions),  # -n .. -1: before the block's events
                        timestamp=self._time(block),
                        transaction_hash=None,
                        actor=None,
                        version_id=v,
                        version_number=numbers.get(v),
                        details={
                            "deadline": deadline,
                            "deadline_time": iso(deadline),
                            "state": "rejected",
                            "recorded_block": None if change is None else change.block_number,
                            "recorded_transaction": (
                                None if change is None else change.transaction_hash
                            ),
                        },
                    )
                )
        return entries

    def _first_block_after(self, deadline: int, low: int, high: int) -> int:
        """The first block in ``low`` .. ``high`` whose time is past ``deadline`` (the caller
        knows there is one: ``high``'s)."""
        while low < high:
            middle = (low + high) // 2
            if self._time(middle) > deadline:
                high = middle
            else:
                low = middle + 1
        return low

    def _complete(self, entries: list[Entry]) -> None:
        """What a page's entries need beyond their window's events: votes' reasons, who
        recorded an expired ballot, whom a finalized round included."""
        reasons: dict[int, dict[str, Any]] = {}
        for entry in entries:
            if entry.kind == "vote_cast" and self.reasons is not None:
                assert entry.version_id is not None
                if entry.version_id not in reasons:
                    reasons[entry.version_id] = dict(self.reasons.of_version(entry.version_id))
                given = reasons[entry.version_id].get(str(entry.actor))
                if given is not None:
                    entry.details["reason"] = given.reason
                    entry.details["reason_cid"] = given.cid
            elif entry.kind in ("version_approved", "version_rejected") and entry.actor is None:
                assert entry.transaction_hash is not None
                tx = self.ledger.w3.eth.get_transaction(entry.transaction_hash)  # type: ignore[arg-type]
                entry.actor = str(tx["from"])
            elif entry.kind == "round_finalized":
                assert entry.round_id is not None
                excluded = {x["participant"] for x in entry.details["excluded"]}
                submitters = self.ledger.submitters(entry.round_id)
                entry.details["included"] = sort_participants(
                    [a for a in submitters if a not in excluded]
                )


def decision_of(ledger: Ledger, version: VersionRecord) -> Decision | None:
    """How and when the version was decided; None while its ballot is open."""
    ballot = version.ballot
    if version.state is State.PROPOSED:
        return None
    if ballot.stored_state is State.PROPOSED:  # the window ended; nobody recorded it yet
        return Decision(
            state=State.REJECTED,
            how="expired",
            block=None,
            timestamp=None,
            transaction_hash=None,
            deadline=ballot.deadline,
            expired_at=ballot.deadline,
        )
    topic = uint_topic(version.version_id)
    changed = next(
        iter(
            ledger.events(
                contract="ModelRegistry",
                event="VersionStateChanged",
                topics=[topic],
                from_block=version.proposed_block,
            )
        ),
        None,
    )
    if changed is None:  # the chain holds the state but not its event: a pruned node
        return None
    by_vote = any(
        e.transaction_hash == changed.transaction_hash
        for e in ledger.events(
            contract="ModelRegistry",
            event="VoteCast",
            topics=[topic],
            from_block=changed.block_number,
            to_block=changed.block_number,
            with_timestamps=False,
        )
    )
    state = State(int(changed.args["current"]))
    if by_vote:
        how = "quorum_reached" if state is State.APPROVED else "quorum_unreachable"
    else:
        how = "expired"  # finalizeVersion records a window that ended without approval
    return Decision(
        state=state,
        how=how,
        block=changed.block_number,
        timestamp=changed.block_timestamp,
        transaction_hash=changed.transaction_hash,
        deadline=ballot.deadline,
        expired_at=None if by_vote else ballot.deadline,
    )


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), IDS_PER_QUERY):
        yield ids[i : i + IDS_PER_QUERY]
