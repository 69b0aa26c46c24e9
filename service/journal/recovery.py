"""Recovery: the one place that knows about crashes and chain rollbacks.

The chain can lose what it had mined (a local anvil killed between two state writes and
restarted from its file, a reorganisation, a node restored from an older snapshot) and the
service can die at any step of an action. Both leave the journal (service/journal/store.py)
holding entries the chain does not: recovery makes the chain hold them again, each exactly
once, in the order they were first sent.

``Recovery.run`` (under the relayer's send lock: nothing else is sent meanwhile):

1. **Rollback**: walk the mined entries from the newest block down, comparing each recorded
   block hash with the chain's; every entry above the fork is ``reapply``.
2. **Interrupted sends**: an entry ``sent`` that no request is waiting for is looked up by its
   transaction hash: mined (``mined``, or ``reverted``), still in the node's pool (left alone),
   or unknown (``reapply``).
3. The relayer's nonce is read again from the chain (``Transactor.reset``): a new epoch, so a
   request that simulated before the recovery simulates again before sending.
4. **Re-apply** the ``reapply`` entries and the uploads a crash left ``stored``, in their
   first sending order. Each is simulated first: the actor's own nonce makes a second
   application impossible, so a refusal means the chain moved on (the deadline passed, or the
   nonce was used by something else). An entry that had been mined and cannot be re-applied is
   ``lost``: logged as an error and counted; one that never was is ``abandoned``.
5. Uploads a crash interrupted before their bytes were stored (``received``) are abandoned;
   their pins are released unless something else needs the bytes.

The keeper thread (``keeper``, a ``service.periodic.Periodic``) runs ``tick`` every
``journal_check_interval_s``: one JSON-RPC call compares the newest mined entry's block hash with
the chain, and entries left live by a crash are picked up; either starts ``run``. A request that
meets ``NonceBehind`` runs it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from service.chain.reverts import ContractRevert
from service.chain.transactor import NonceBehind, TransactionReverted
from service.errors import (
    ChainError,
    ChainUnavailable,
    ContentNotFound,
    DeploymentError,
    LedgerError,
    StoreError,
)
from service.journal.codec import encode_receipt
from service.journal.relayer import Relayer
from service.journal.store import Entry, Status
from service.periodic import Periodic

log = logging.getLogger("govledger.recovery")

#: A live entry no request owns is taken over by recovery once it is this old (seconds): a
#: request between two steps of an upload holds its entry, but a crashed one holds nothing.
ORPHAN_AGE_S = 2.0


class UploadPins(Protocol):
    """What recovery needs of the content store for journaled uploads."""

    def ensure_pinned(self, cid: str) -> None:
        """Pin the content; ContentNotFound if its bytes are not (all) there."""

    def release(self, cid: str, *, entry_id: int) -> None:
        """Unpin the content unless the chain or another journal entry needs it."""


@dataclass
class RecoveryReport:
    rolled_back: int = 0
    reapplied: int = 0
    confirmed: int = 0
    lost: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.rolled_back or self.reapplied or self.confirmed or self.lost or self.abandoned
        )


class Recovery:
    def __init__(self, *, relayer: Relayer, pins: Callable[[], UploadPins] | None = None) -> None:
        self.relayer = relayer
        self.journal = relayer.journal
        self._pins = pins
        self._lock = threading.Lock()
        self.running = False
        #: whether a run has completed since start: the relayer sends nothing before, since a
        #: chain that rolled back while the service was down could otherwise take new actions
        #: on the nonces of journaled ones
        self.synced = False
        self.last_error: str | None = None
        self.totals = {"rolled_back": 0, "reapplied": 0, "confirmed": 0, "lost": 0}
        relayer.recovery = self

    # ---------------------------------------------------------------- checks

    def rolled_back(self) -> bool:
        """Whether the chain no longer holds the newest mined entry's block (one RPC call)."""
        latest = self.journal.latest_mined()
        if latest is None or latest.block_number is None:
            return False
        return self.relayer.ledger.block_hash(latest.block_number) != latest.block_hash

    def orphans(self) -> list[Entry]:
        """Live entries no request is working on (a crash, a timeout, a rollback)."""
        active = self.relayer.active_entries()
        now = time.time()
        return [
            e
            for e in self.journal.live()
            if e.id not in active and now - e.updated_at >= ORPHAN_AGE_S
        ]

    def ensure_synced(self) -> None:
        """Run recovery now unless a run completed since start."""
        if not self.synced:
            self.run(reason="before the first send")

    def pending_work(self) -> str | None:
        """What recovery still has to do, in words; None if nothing."""
        if self.running:
            return "re-applying journaled actions"
        if not self.synced:
            return "the journal has not been checked against the chain since start"
        orphans = self.orphans()
        if orphans:
            return f"{len(orphans)} journaled actions wait to be applied on chain"
        if self.rolled_back():
            return "the chain lost blocks holding journaled actions (rollback); re-applying"
        return None

    def tick(self) -> RecoveryReport | None:
        """The keeper's periodic check: run recovery if no run has completed since start (the
        start-up one may have met a chain that was down), the chain rolled back, or a crash left
        entries behind. Quiet while the chain is down."""
        try:
            needed = not self.synced or self.rolled_back() or bool(self.orphans())
        except LedgerError:
            return None  # the chain is down: /ready says so; try again next tick
        if not needed:
            return None
        return self.run(reason="periodic check")

    # ---------------------------------------------------------------- the procedure

    def run(self, *, reason: str) -> RecoveryReport:
        """Bring the chain and the journal back in step (see the module)."""
        with self._lock:
            ledger = self.relayer.ledger
            with ledger.relayer.exclusive():
                self.running = True
                report = RecoveryReport()
                try:
                    self._run(report)
                    self.last_error = None
                    self.synced = True
                except LedgerError as exc:
                    self.last_error = str(exc)
                    raise
                finally:
                    self.running = False
                    self.totals["rolled_back"] += report.rolled_back
                    self.totals["reapplied"] += report.reapplied
                    self.totals["confirmed"] += report.confirmed
                    self.totals["lost"] += len(report.lost)
        if report.changed:
            log.warning(
                "journal recovery (%s): %d lost to a rollback, %d confirmed, %d re-applied, "
                "%d could not be re-applied (lost: %s), %d abandoned",
                reason,
                report.rolled_back,
                report.confirmed,
                report.reapplied,
                len(report.lost),
                report.lost,
                len(report.abandoned),
            )
        return report

    def _run(self, report: RecoveryReport) -> None:
        ledger = self.relayer.ledger
        if not ledger.contracts_deployed():
            raise DeploymentError(
                "the contracts are not on the chain at the recorded addresses (a reset chain?); "
                "the journal re-applies nothing to a chain without them"
            )
        report.rolled_back = self._mark_rolled_back()
        active = self.relayer.active_entries()
        for entry in self.journal.live():
            if entry.id in active or entry.status != Status.SENT or entry.tx_hash is None:
                continue
            self._settle_sent(entry, report)
        ledger.relayer.reset()
        todo = [
            e
            for e in self.journal.live()
            if e.id not in active and e.status in (Status.REAPPLY, Status.STORED)
        ]
        todo.sort(key=lambda e: (e.relayer_nonce is None, e.relayer_nonce or 0, e.id))
        for entry in todo:
            self._reapply(entry, report)
        for entry in self.journal.live():
            if entry.id not in active and entry.status == Status.RECEIVED:
                self.journal.transition(
                    entry.id, Status.ABANDONED, reason="the upload was interrupted"
                )
                self._release(entry)
                report.abandoned.append(entry.id)

    def _mark_rolled_back(self) -> int:
        ledger = self.relayer.ledger
        hashes: dict[int, str | None] = {}
        lost = []
        for entry in self.journal.mined_from_newest():
            number = int(entry.block_number or 0)
            if number not in hashes:
                hashes[number] = ledger.block_hash(number)
            if hashes[number] == entry.block_hash:
                break  # this block is still on chain, and so is every older one
            lost.append(entry)
        for entry in lost:
            self.journal.transition(
                entry.id,
                Status.REAPPLY,
                reason=f"the chain lost block {entry.block_number} (rollback)",
            )
        return len(lost)

    def _settle_sent(self, entry: Entry, report: RecoveryReport) -> None:
        ledger = self.relayer.ledger
        assert entry.tx_hash is not None
        found = ledger.receipt_of(entry.tx_hash)
        if found is not None:
            receipt, succeeded = found
            if succeeded:
                self.journal.transition(
                    entry.id,
                    Status.MINED,
                    block_number=receipt.block_number,
                    block_hash=receipt.block_hash,
                    receipt=encode_receipt(receipt),
                )
                report.confirmed += 1
            else:
                self.journal.transition(
                    entry.id, Status.REVERTED, reason="reverted on chain (found at recovery)"
                )
                self._release(entry)
            return
        if ledger.transaction_known(entry.tx_hash):
            return  # still in the node's pool; mined later or dropped, seen next time
        self.journal.transition(entry.id, Status.REAPPLY, reason="its transaction was never mined")

    def _reapply(self, entry: Entry, report: RecoveryReport) -> None:
        ledger = self.relayer.ledger
        final = Status.LOST if entry.acknowledged else Status.ABANDONED
        if entry.cid and self._pins is not None:
            try:
                self._pins().ensure_pinned(entry.cid)
            except ContentNotFound as exc:
                self._give_up(entry, final, f"its artifact's bytes are gone: {exc}", report)
                return
            except StoreError:
                raise  # the store is down: try again next tick
        try:
            prepared = self.relayer.prepare_entry(entry)
        except ContractRevert as exc:
            self._give_up(entry, final, f"the chain refuses it now: {exc}", report)
            return

        def on_signed(tx_hash: str, nonce: int) -> None:
            self.journal.transition(entry.id, Status.SENT, tx_hash=tx_hash, relayer_nonce=nonce)

        try:
            receipt = ledger.submit(prepared, on_signed=on_signed)
        except TransactionReverted as exc:
            self.journal.transition(entry.id, Status.REVERTED, reason=str(exc))
            self._release(entry)
            if entry.acknowledged:
                report.lost.append(entry.id)
            return
        except (NonceBehind, ChainUnavailable):
            raise  # the chain is moving under us or gone: the next tick tries again
        except ChainError as exc:
            raise ChainUnavailable(f"re-applying journal entry {entry.id} failed: {exc}") from exc
        self.journal.transition(
            entry.id,
            Status.MINED,
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            tx_hash=receipt.transaction_hash,
            receipt=encode_receipt(receipt),
        )
        report.reapplied += 1

    def _give_up(self, entry: Entry, final: Status, reason: str, report: RecoveryReport) -> None:
        self.journal.transition(entry.id, final, reason=reason)
        self._release(entry)
        if final == Status.LOST:
            report.lost.append(entry.id)
            log.error(
                "journal entry %d (%s by %s, nonce %s) was mined, lost by the chain, and "
                "cannot be re-applied: %s",
                entry.id,
                entry.name,
                entry.actor,
                entry.nonce,
                reason,
            )
        else:
            report.abandoned.append(entry.id)

    def _release(self, entry: Entry) -> None:
        if entry.cid and self._pins is not None:
            try:
                self._pins().release(entry.cid, entry_id=entry.id)
            except StoreError as exc:
                log.warning("could not release the pin of %s: %s", entry.cid, exc)


def keeper(recovery: Callable[[], Recovery | None], interval_s: float) -> Periodic:
    """A daemon thread that runs ``Recovery.tick`` every ``interval_s`` seconds."""

    def tick(stop: threading.Event) -> None:
        if (current := recovery()) is not None:
            current.tick()

    return Periodic("journal check", tick, interval_s, log=log, at_start=False)
