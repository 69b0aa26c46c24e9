"""The relayer in front of the chain: every signed action the service sends goes through here.

For each action, in order:

1. **Claim** its key (contract, actor, nonce). At most one action per key is in flight: a
   second one gets ``ActionInFlight`` (409) at once, whatever its content, instead of a second
   transaction that could only revert at the relayer's cost. The same signed action sent again
   after it was mined gets the first one's receipt back (a retry is idempotent).
2. **Suspension**: an actor for whom a relayed transaction passed its simulation and then
   reverted on chain (the relayer paid for it) is refused (``RelayingSuspended``, 403) for
   ``suspension_s`` seconds.
3. **Simulate** exactly what will be sent (``Transactor.prepare``); a refusal costs nothing.
4. **Journal** the action with its signature, fsynced, under the send lock, just before the
   transaction leaves (``sent``), then **send**; once mined, the receipt is journaled
   (``mined``) before the caller acknowledges anything.

If the chain turns out to have lost transactions this process sent (``NonceBehind``), the
journal's recovery runs first (service/journal/recovery.py) and the action is simulated again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.chain.actions import Action, SignedAction, action_spec
from service.chain.ledger import ActionReceipt, Ledger
from service.chain.reverts import ContractRevert, InvalidAccountNonce
from service.chain.transactor import NonceBehind, PreparedTx, TransactionReverted
from service.errors import (
    ActionInFlight,
    ActionPending,
    ChainError,
    ChainUnavailable,
    RelayingSuspended,
    SignatureRejected,
)
from service.journal.batching import Batcher, Outcome
from service.journal.codec import decode_receipt, decode_value, encode_receipt, encode_value
from service.journal.store import Entry, Journal, Status

if TYPE_CHECKING:
    from service.journal.recovery import Recovery

log = logging.getLogger("govledger.relayer")

Key = tuple[str, str, int]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A claimed key; ``replay`` is the receipt of the identical action, already mined."""

    key: Key
    replay: ActionReceipt | None


class Relayer:
    def __init__(
        self,
        *,
        ledger: Callable[[], Ledger],
        journal: Journal,
        suspension_s: int = 600,
        update_batch_max: int = 16,
    ) -> None:
        self._ledger = ledger
        self.journal = journal
        self.suspension_s = suspension_s
        self.updates = Batcher(self.send_batch, max_batch=update_batch_max)
        self.recovery: Recovery | None = None  # set by Recovery's constructor
        self._mutex = threading.Lock()
        self._claims: set[Key] = set()
        self._active: set[int] = set()  # journal entries a request is working on

    @property
    def ledger(self) -> Ledger:
        return self._ledger()

    # ---------------------------------------------------------------- the relay pipeline

    def relay(self, signed: SignedAction) -> ActionReceipt:
        """Verify, simulate, journal, send and confirm a signed action (see the module)."""
        with self.claim(signed) as claim:
            if claim.replay is not None:
                return claim.replay
            self.ledger.verify(signed)
            return self.send(signed)

    @contextlib.contextmanager
    def claim(self, signed: SignedAction) -> Iterator[Claim]:
        """Hold the action's key for the duration of the block (see the module)."""
        action = signed.action
        key: Key = (action.spec.contract, action.actor, action.nonce)
        what = f"{action.actor}'s {action.spec.contract} nonce {action.nonce}"
        with self._mutex:
            if key in self._claims:
                raise ActionInFlight(
                    f"another action with {what} is being relayed right now; a nonce takes one "
                    "action: wait for it, then sign with the next nonce"
                )
            holder = self.journal.holder_of(*key)
            replay = None
            if holder is not None and holder.live:
                raise ActionInFlight(
                    f"{what} is taken by journaled action #{holder.id} ({holder.name}, "
                    f"{holder.status}), which the service is applying; wait for it, then sign "
                    "with the next nonce"
                )
            if (
                holder is not None
                and holder.status == Status.MINED
                and holder.signature == _hex(signed.signature)
                and holder.receipt is not None
            ):
                replay = decode_receipt(holder.receipt)
            self._claims.add(key)
        try:
            if replay is None:
                self.check_suspension(action.actor)
            yield Claim(key=key, replay=replay)
        finally:
            with self._mutex:
                self._claims.discard(key)

    def next_nonce(self, contract: str, actor: str, chain_nonce: int) -> int:
        """The nonce an actor's next action should carry: the chain's, unless the journal
        holds the actor's actions at that nonce or later (live, or mined and maybe lost by the
        chain), which take their nonces back first."""
        highest = self.journal.highest_nonce(contract, actor)
        return chain_nonce if highest is None else max(chain_nonce, highest + 1)

    def check_suspension(self, actor: str) -> None:
        if self.suspension_s <= 0:
            return
        entry = self.journal.suspension_of(actor, time.time() - self.suspension_s)
        if entry is None:
            return
        until = entry.updated_at + self.suspension_s
        raise RelayingSuspended(
            f"relaying for {actor} is suspended until {_utc(until)}: transaction "
            f"{entry.tx_hash} relayed for it (journal #{entry.id}, {entry.name}) passed its "
            f"simulation and then reverted on chain at the relayer's cost ({entry.reason}). A "
            "wallet whose answer depends on the gas price or the block does this; send the "
            "action from the account itself, or fix the wallet",
            retry_after_s=max(1, int(until - time.time()) + 1),
        )

    def begin_upload(self, signed: SignedAction, cid: str) -> int:
        """Journal an upload before its body is read (``received``); returns the entry id,
        owned by the calling request until ``end``."""
        entry_id = self.journal.add(status=Status.RECEIVED, cid=cid, **_fields_of(signed))
        with self._mutex:
            self._active.add(entry_id)
        return entry_id

    def end(self, entry_id: int) -> None:
        with self._mutex:
            self._active.discard(entry_id)

    def active_entries(self) -> set[int]:
        with self._mutex:
            return set(self._active)

    def simulate(self, signed: SignedAction) -> None:
        """Whether the chain would take ``signed`` now, asked before any work (the contract's
        own typed error if not; nothing sent). A nonce the journal holds for an action the
        chain lost is given back first, as when sending."""
        try:
            self.ledger.simulate(signed)
        except InvalidAccountNonce as exc:
            if not self._chain_behind_journal(exc):
                raise
            self.ledger.simulate(signed)

    def send(self, signed: SignedAction, *, entry_id: int | None = None) -> ActionReceipt:
        """Simulate, journal, send and confirm ``signed`` (its key claimed, its signature
        verified). ``entry_id`` is the upload's entry (``stored``); JSON actions get theirs
        when the transaction is signed."""
        ledger = self.ledger
        fields = _fields_of(signed)
        return self._send(
            simulate=lambda: ledger.simulate(signed),
            new_entry=lambda tx_hash, nonce: self.journal.add(
                status=Status.SENT, tx_hash=tx_hash, relayer_nonce=nonce, **fields
            ),
            entry_id=entry_id,
            suspend_actor=signed.action.actor,
        )

    def send_stored(self, signed: SignedAction, entry_id: int) -> ActionReceipt:
        """Send an upload's action, journaled ``stored``: a federated update through the
        group commit (service/journal/batching.py), anything else alone."""
        if signed.action.spec.name == "SubmitUpdate":
            return self.updates.send(signed, entry_id)
        return self.send(signed, entry_id=entry_id)

    def send_batch(self, batch: Sequence[tuple[SignedAction, int]]) -> list[Outcome]:
        """Record several signed ``SubmitUpdate`` actions (each journaled ``stored`` under its
        ``entry_id``, its key claimed, its signature verified) in one ``submitUpdatesBySig``
        transaction; one answer per action, a receipt or its error. One action is sent as
        ``send`` sends it. If the batch's simulation refuses (one of them is no longer valid:
        the batch is all or nothing), each is sent alone and gets its own answer; if the batch
        passes its simulation and reverts on chain anyway (the state changed in between), its
        entries go back to ``reapply`` and each is sent alone, where a revert suspends its
        actor as usual. All entries move together in one journal transaction."""
        if len(batch) == 1:
            return self._one_by_one(batch)
        ledger = self.ledger
        ids = [entry_id for _, entry_id in batch]
        try:
            if self.recovery is not None:
                self.recovery.ensure_synced()
            prepared = ledger.prepare_updates([signed for signed, _ in batch], verify=False)
        except ChainUnavailable as exc:
            return [exc] * len(batch)  # each request abandons its upload, as alone
        except (ContractRevert, ChainError):
            return self._one_by_one(batch)
        sent: list[str] = []

        def on_signed(tx_hash: str, nonce: int) -> None:
            self.journal.transition_many(ids, Status.SENT, tx_hash=tx_hash, relayer_nonce=nonce)
            sent.append(tx_hash)

        try:
            receipt = ledger.submit(prepared, on_signed=on_signed)
        except TransactionReverted as exc:
            self.journal.transition_many(
                ids, Status.REAPPLY, reason=f"the batch transaction {exc.tx_hash} reverted"
            )
            log.warning("a batch of %d updates reverted on chain (%s); sending each", len(ids), exc)
            return self._one_by_one(batch)
        except ChainUnavailable as exc:
            if not sent:
                return [exc] * len(batch)  # each request abandons its upload, as alone
            pending = ActionPending(
                f"the update is journaled and its transaction {sent[0]} was sent, but the chain "
                f"did not confirm it ({exc}); the service applies it exactly once when the chain "
                "answers: send the same request again later to get its result"
            )
            return [pending] * len(batch)
        except (NonceBehind, ChainError):
            if sent:
                raise  # pragma: no cover - the node took the transaction, then failed
            return self._one_by_one(batch)  # each resynchronises or fails on its own
        self.journal.transition_many(
            ids,
            Status.MINED,
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            tx_hash=receipt.transaction_hash,
            receipt=encode_receipt(receipt),
        )
        return [receipt] * len(batch)

    def _one_by_one(self, batch: Sequence[tuple[SignedAction, int]]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for signed, entry_id in batch:
            try:
                outcomes.append(self.send(signed, entry_id=entry_id))
            except Exception as exc:  # this action's own answer
                outcomes.append(exc)
        return outcomes

    def send_call(self, contract: str, function: str, args: list[Any]) -> ActionReceipt:
        """A permissionless call (``finalizeVersion``, ``finalizeChange``) from the relayer,
        journaled like a signed action."""
        ledger = self.ledger
        fn = ledger.contracts[contract].functions[function](*args)  # type: ignore[index]
        return self._send(
            simulate=lambda: ledger.relayer.prepare(fn),
            new_entry=lambda tx_hash, nonce: self.journal.add(
                kind="call",
                contract=contract,
                name=function,
                args={"args": encode_value(list(args))},
                status=Status.SENT,
                tx_hash=tx_hash,
                relayer_nonce=nonce,
            ),
            entry_id=None,
            suspend_actor=None,
        )

    def _send(
        self,
        *,
        simulate: Callable[[], PreparedTx],
        new_entry: Callable[[str, int], int],
        entry_id: int | None,
        suspend_actor: str | None,
    ) -> ActionReceipt:
        ledger = self.ledger
        try:
            if self.recovery is not None:
                self.recovery.ensure_synced()
            try:
                prepared = simulate()
            except InvalidAccountNonce as exc:
                if not self._chain_behind_journal(exc):
                    raise
                prepared = simulate()  # the recovery gave the chain its journaled actions back
        except ContractRevert as exc:
            if entry_id is not None:
                self.journal.transition(entry_id, Status.REFUSED, reason=str(exc))
            raise
        except ChainError as exc:
            if entry_id is not None:
                self.journal.transition(entry_id, Status.ABANDONED, reason=str(exc))
            raise
        sent: list[int] = []

        def on_signed(tx_hash: str, nonce: int) -> None:
            if entry_id is None:
                new_id = new_entry(tx_hash, nonce)
                with self._mutex:
                    self._active.add(new_id)
                sent.append(new_id)
            else:
                self.journal.transition(entry_id, Status.SENT, tx_hash=tx_hash, relayer_nonce=nonce)
                sent.append(entry_id)

        try:
            for attempt in (1, 2):
                try:
                    receipt = ledger.submit(prepared, on_signed=on_signed)
                    break
                except NonceBehind as exc:
                    if attempt == 2 or self.recovery is None:
                        raise ChainUnavailable(
                            f"{exc}; the service could not resynchronise; retry shortly"
                        ) from exc
                    log.warning("%s", exc)
                    self.recovery.run(reason=str(exc))
            else:  # pragma: no cover - the loop breaks or raises
                raise AssertionError
        except TransactionReverted as exc:
            self._reverted(sent[0], exc, suspend_actor)
            raise self._reverted_error(exc, suspend_actor) from exc
        except ContractRevert as exc:  # the re-simulation after a recovery refused it
            self._finish(sent, entry_id, Status.REFUSED, str(exc))
            raise
        except ChainUnavailable as exc:
            if sent:
                raise ActionPending(
                    f"the action is journaled (#{sent[0]}) and its transaction was sent, but "
                    f"the chain did not confirm it ({exc}); the service applies it exactly "
                    "once when the chain answers: send the same request again later to get "
                    "its result"
                ) from exc
            self._finish(sent, entry_id, Status.ABANDONED, str(exc))
            raise
        except ChainError as exc:  # the node refused the transaction itself
            self._finish(sent, entry_id, Status.ABANDONED, str(exc))
            raise
        finally:
            with self._mutex:
                self._active.difference_update(i for i in sent if i != entry_id)
        self.journal.transition(
            sent[0],
            Status.MINED,
            block_number=receipt.block_number,
            block_hash=receipt.block_hash,
            tx_hash=receipt.transaction_hash,
            receipt=encode_receipt(receipt),
        )
        return receipt

    def _chain_behind_journal(self, exc: InvalidAccountNonce) -> bool:
        """Whether the nonce the chain expects is one the journal holds for an action the chain
        lost: if so, recovery runs now (the keeper would, a moment later) and True is returned.
        """
        account, current = exc.arguments.get("account"), exc.arguments.get("currentNonce")
        if self.recovery is None or not isinstance(account, str) or not isinstance(current, int):
            return False
        held = any(
            self.journal.holder_of(contract, account, current) is not None
            for contract in ("ModelRegistry", "Consortium", "FederatedRounds")
        )
        if not held:
            return False
        self.recovery.run(reason=f"the chain expects nonce {current} of {account} again")
        return True

    def _finish(self, sent: list[int], entry_id: int | None, status: Status, reason: str) -> None:
        target = sent[0] if sent else entry_id
        if target is not None:
            self.journal.transition(target, status, reason=reason)

    def _reverted(self, entry_id: int, exc: TransactionReverted, suspend_actor: str | None) -> None:
        suspends = suspend_actor is not None and (
            exc.revert is None or isinstance(exc.revert, SignatureRejected)
        )
        self.journal.transition(
            entry_id,
            Status.REVERTED,
            tx_hash=exc.tx_hash,
            reason=str(exc.revert) if exc.revert is not None else "no reason on replay",
            suspends=suspends,
        )

    def _reverted_error(self, exc: TransactionReverted, actor: str | None) -> Exception:
        """What the request that met a revert on chain is told: the contract's error if the
        state changed under it (a race), else why the actor is now suspended."""
        if actor is None or (
            exc.revert is not None and not isinstance(exc.revert, SignatureRejected)
        ):
            return exc.revert or exc
        until = time.time() + self.suspension_s
        return TransactionReverted(
            f"{exc}. The relayer paid for a transaction the simulation said would succeed, so "
            f"relaying for {actor} is suspended until {_utc(until)}; a wallet whose answer "
            "depends on the gas price or the block does this: send the action from the "
            "account itself, or fix the wallet",
            tx_hash=exc.tx_hash,
            revert=exc.revert,
        )

    # ---------------------------------------------------------------- journal entries

    def signed_action_of(self, entry: Entry) -> SignedAction:
        """The signed action a journal entry holds, as the actor signed it."""
        if entry.kind != "signed" or entry.actor is None or entry.signature is None:
            raise ValueError(f"journal entry {entry.id} is not a signed action")
        spec = action_spec(entry.name)
        action = Action(
            spec=spec,
            args=decode_value(entry.args),
            actor=entry.actor,
            nonce=int(entry.nonce or 0),
            deadline=int(entry.deadline or 0),
            domain=self.ledger.domain(spec.contract),
        )
        return SignedAction(action=action, signature=bytes.fromhex(entry.signature[2:]))

    def prepare_entry(self, entry: Entry) -> PreparedTx:
        """Simulate the transaction that carries a journal entry's action."""
        ledger = self.ledger
        if entry.kind == "call":
            fn = ledger.contracts[entry.contract].functions[entry.name](  # type: ignore[index]
                *decode_value(entry.args["args"])
            )
            return ledger.relayer.prepare(fn)
        return ledger.simulate(self.signed_action_of(entry))


def _fields_of(signed: SignedAction) -> dict[str, Any]:
    a = signed.action
    return {
        "kind": "signed",
        "contract": a.spec.contract,
        "name": a.spec.name,
        "actor": a.actor,
        "nonce": a.nonce,
        "deadline": a.deadline,
        "args": encode_value(a.args),
        "signature": _hex(signed.signature),
    }


def _hex(signature: bytes) -> str:
    return "0x" + bytes(signature).hex()


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
