"""Group commit for federated updates: several signed ``SubmitUpdate`` actions that wait to be
sent at the same moment leave in one ``submitUpdatesBySig`` transaction.

No request waits for a batch to fill. The first update to arrive while nothing is being sent is
sent at once (alone, as before); the ones that arrive while a transaction is on its way queue,
and when it is done the first of them sends everything queued (up to ``max_batch``) in the next
transaction, and so on. One participant alone therefore sees no added latency; concurrent
participants share transactions, which is where the relayer's one-transaction-at-a-time send
lock was the limit, and a batched update costs less gas (``docs/gas.md``).

Each request leads at most one batch: after sending, it hands the queue to the next waiting
request and returns its own answer. What a batch does when the chain refuses it is the
relayer's (``Relayer.send_batch``): every update still gets its own answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from service.chain.actions import SignedAction
from service.chain.ledger import ActionReceipt

Outcome = ActionReceipt | BaseException
SendBatch = Callable[[Sequence[tuple[SignedAction, int]]], list[Outcome]]


@dataclass(eq=False)
class _Waiter:
    signed: SignedAction
    entry_id: int
    wake: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None


class Batcher:
    """Sends queued (signed action, journal entry) pairs through ``send_batch`` in groups."""

    def __init__(self, send_batch: SendBatch, *, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one update")
        self._send_batch = send_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._busy = False
        self.batches = 0  # batches sent through here (/metrics: govledger_update_batches)
        self.largest = 0

    def send(self, signed: SignedAction, entry_id: int) -> ActionReceipt:
        """Send ``signed`` (its journal entry ``entry_id``, stored and claimed) in the next
        batch; its receipt, or its own error raised."""
        me = _Waiter(signed=signed, entry_id=entry_id)
        with self._lock:
            self._queue.append(me)
            leader = not self._busy
            self._busy = True
        if not leader:
            me.wake.wait()  # answered, or handed the queue
        if me.outcome is None:
            self._lead()
        outcome = me.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _lead(self) -> None:
        with self._lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            self.batches += 1
            self.largest = max(self.largest, len(batch))
        try:
            try:
                outcomes = self._send_batch([(w.signed, w.entry_id) for w in batch])
            except BaseException as exc:  # a bug; every waiter hears of it
                outcomes = [exc] * len(batch)
            for waiter, outcome in zip(batch, outcomes, strict=True):
                waiter.outcome = outcome
        finally:
            for waiter in batch:
                if waiter.outcome is None:  # pragma: no cover - zip(strict) raised
                    waiter.outcome = RuntimeError("the batch ended without an answer")
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # the next waiting request sends the next batch
                else:
                    self._busy = False
            for waiter in batch:
                waiter.wake.set()
