"""Federated rounds in the chain adapter: the typed actions (``RoundActions``, joined into
``LedgerActions``) and the reads (``RoundReads``, joined into ``LedgerReads``) of the
``FederatedRounds`` contract."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from service.chain.actions import SignedAction
from service.chain.history import uint_topic
from service.chain.ledger_core import ActionReceipt, LedgerCore, _address
from service.chain.merkle import sort_participants
from service.chain.transactor import PreparedTx
from service.chain.types import (
    ZERO_DIGEST,
    ExclusionReason,
    RoundRecord,
    RoundState,
    UpdateRecord,
    as_digest,
    rule_to_bytes32,
)
from service.errors import InvalidInput


class RoundActions(LedgerCore):
    def open_round(
        self,
        actor: LocalAccount,
        model_id: int,
        base_version_id: int,
        *,
        rule: str | bytes,
        min_updates: int,
        max_updates: int,
        submission_deadline: int,
        max_norm: int,
        params_digest: bytes | str = ZERO_DIGEST,
        direct: bool = False,
    ) -> int:
        """Open a round of ``model_id`` at its approved version ``base_version_id``; returns the
        round's id. ``max_norm`` is in micro-units (``types.NORM_SCALE`` = 1.0)."""
        receipt = self.act(
            actor,
            "OpenRound",
            {
                "modelId": model_id,
                "baseVersionId": base_version_id,
                "rule": rule_to_bytes32(rule),
                "paramsDigest": as_digest(params_digest, "params digest"),
                "minUpdates": min_updates,
                "maxUpdates": max_updates,
                "submissionDeadline": submission_deadline,
                "maxNorm": max_norm,
            },
            direct=direct,
        )
        return int(receipt.event("RoundOpened").args["roundId"])

    def submit_update(
        self,
        actor: LocalAccount,
        round_id: int,
        *,
        base_digest: bytes | str,
        update_digest: bytes | str,
        sample_count: int,
        direct: bool = False,
    ) -> ActionReceipt:
        """Record ``actor``'s update to the round (its ``UpdateSubmitted``, and ``RoundClosed``
        if it was the round's last)."""
        return self.act(
            actor,
            "SubmitUpdate",
            {
                "roundId": round_id,
                "baseDigest": as_digest(base_digest, "base digest"),
                "updateDigest": as_digest(update_digest, "update digest"),
                "sampleCount": sample_count,
            },
            direct=direct,
        )

    def relay_updates(
        self, signed: Sequence[SignedAction], *, verify: bool = True
    ) -> ActionReceipt:
        """Record several signed ``SubmitUpdate`` actions in one transaction from the relayer
        (``submitUpdatesBySig``), in order, all or nothing: the transaction is simulated first,
        and a refused update raises its own typed error with nothing sent. Unjournaled, like
        ``relay``: the service sends through ``service.journal``."""
        return self.submit(self.prepare_updates(signed, verify=verify))

    def prepare_updates(self, signed: Sequence[SignedAction], *, verify: bool = True) -> PreparedTx:
        """The simulated ``submitUpdatesBySig`` transaction of ``signed`` (see
        ``relay_updates``); a refused update raises its own typed error."""
        if not signed:
            raise InvalidInput("a batch of signed updates holds at least one")
        batch: list[tuple[Any, ...]] = []
        for s in signed:
            if s.action.spec.name != "SubmitUpdate":
                raise InvalidInput(f"a batch holds SubmitUpdate actions, not {s.action.spec.name}")
            if verify:
                self.verify(s)
            batch.append((*s.action.call_args(), s.action.actor, s.action.nonce,
                          s.action.deadline, s.signature))  # fmt: skip
        fn = self.rounds.functions.submitUpdatesBySig(batch)
        return self.relayer.prepare(fn)

    def close_round(
        self, actor: LocalAccount | None, round_id: int, *, direct: bool = False
    ) -> ActionReceipt:
        """Close an open round: as ``actor`` (owner or maintainer, before its deadline), or with
        ``actor`` None from the relayer's own account once its deadline has passed."""
        if actor is None:
            return self._receipt(self.relayer.transact(self.rounds.functions.closeRound(round_id)))
        return self.act(actor, "CloseRound", {"roundId": round_id}, direct=direct)

    def finalize_round(
        self,
        actor: LocalAccount,
        round_id: int,
        *,
        included: Sequence[str],
        excluded: Mapping[str, ExclusionReason | int] | None = None,
        aggregate_digest: bytes | str,
        metadata_digest: bytes | str = ZERO_DIGEST,
        direct: bool = False,
    ) -> int:
        """Finalize a closed round with its aggregate; returns the aggregate's version id. The
        lists are put in the ascending order the contract requires (the signed action carries
        them so)."""
        excluded = dict(excluded or {})
        order = sort_participants(list(excluded))
        reasons = {_address(a): int(r) for a, r in excluded.items()}
        receipt = self.act(
            actor,
            "FinalizeRound",
            {
                "roundId": round_id,
                "included": sort_participants(included),
                "excluded": order,
                "reasons": [reasons[a] for a in order],
                "aggregateDigest": as_digest(aggregate_digest, "aggregate digest"),
                "metadataDigest": as_digest(metadata_digest, "metadata digest"),
            },
            direct=direct,
        )
        return int(receipt.event("RoundFinalized").args["aggregateVersionId"])

    def cancel_round(
        self, actor: LocalAccount | None, round_id: int, *, direct: bool = False
    ) -> ActionReceipt:
        """Cancel a round: as ``actor`` (owner or maintainer, any time before it is finalized),
        or with ``actor`` None from the relayer's own account once it is closed short of its
        minimum."""
        if actor is None:
            return self._receipt(self.relayer.transact(self.rounds.functions.cancelRound(round_id)))
        return self.act(actor, "CancelRound", {"roundId": round_id}, direct=direct)


class RoundReads(LedgerCore):
    def round_count(self) -> int:
        return int(self._call(self.rounds.functions.roundCount()))

    def round(self, round_id: int) -> RoundRecord:
        raw = self._call(self.rounds.functions.round(round_id))
        state = RoundState(self._call(self.rounds.functions.roundState(round_id)))
        (model_id, base_version_id, base_digest, rule, params_digest, max_norm, deadline,
         min_updates, max_updates, update_count, included, excluded, stored, aggregate,
         root) = raw  # fmt: skip
        stored_state = RoundState(stored)
        finalized = stored_state is RoundState.FINALIZED
        return RoundRecord(
            round_id=round_id,
            model_id=int(model_id),
            base_version_id=int(base_version_id),
            base_digest=bytes(base_digest),
            rule=bytes(rule),
            params_digest=bytes(params_digest),
            max_norm=int(max_norm),
            submission_deadline=int(deadline),
            min_updates=int(min_updates),
            max_updates=int(max_updates),
            update_count=int(update_count),
            included_count=int(included),
            excluded_count=int(excluded),
            state=state,
            stored_state=stored_state,
            aggregate_version_id=int(aggregate) if finalized else None,
            inclusion_root=bytes(root) if finalized else None,
        )

    def round_state(self, round_id: int) -> RoundState:
        """The round's state now: an Open round past its deadline reads as Closed."""
        return RoundState(self._call(self.rounds.functions.roundState(round_id)))

    def update_of(self, round_id: int, participant: str) -> UpdateRecord | None:
        """``participant``'s update to the round, None if it submitted none."""
        address = _address(participant)
        digest, samples, index = self._call(self.rounds.functions.updateOf(round_id, address))
        if int(samples) == 0:
            return None
        return UpdateRecord(
            round_id=round_id,
            participant=address,
            update_digest=bytes(digest),
            sample_count=int(samples),
            index=int(index),
        )

    def submitters(self, round_id: int) -> list[str]:
        """The round's participants in submission order."""
        return [str(a) for a in self._call(self.rounds.functions.submitters(round_id))]

    def exclusions(self, round_id: int) -> dict[str, ExclusionReason]:
        """The updates a finalized round's aggregate left out, and why (from its events)."""
        return {
            str(e.args["participant"]): ExclusionReason(e.args["reason"])
            for e in self.history.events(
                contract="FederatedRounds",
                event="UpdateExcluded",
                topics=[uint_topic(round_id)],
                with_timestamps=False,
            )
        }

    def included_updates(self, round_id: int) -> list[UpdateRecord]:
        """The updates a finalized round's aggregate includes, in the inclusion tree's order
        (ascending participant address): its leaves are ``merkle.inclusion_leaf`` of each."""
        excluded = self.exclusions(round_id)
        included = [a for a in self.submitters(round_id) if a not in excluded]
        updates = [self.update_of(round_id, a) for a in sort_participants(included)]
        return [u for u in updates if u is not None]
