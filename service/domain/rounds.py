"""Federated rounds: the gate that admits an update only where the chain says so, and the
aggregation that anyone can run and re-run to the same bytes.

**The gate** (``submit_update``). Before the first byte of the body is read: the round is Open
(on chain, now), the signer holds SubmitUpdates on the round's model, has not submitted to this
round, and its EIP-712 ``SubmitUpdate`` signature (round, the base's digest as the chain
records it, the update's digest, sample count, nonce, deadline) is valid — the service fills in
the base digest from the chain, so a signature over another base is simply not the actor's
signature of this action. Then the body, through the shared upload path
(service/domain/uploads.py: journaled, pinned, CID-checked): safetensors only, exactly the
base's tensor names, shapes and dtypes (so its exact length is known in advance), every value
finite, the L2 norm within the round's bound (service/ml/updates.py). Only then is it recorded
on chain.

**Aggregation** (``aggregate``). For a closed round: every recorded update is fetched from the
store and verified (its CID is the digest the chain recorded; it passes the gate's checks
again); the round's rule (named on chain, its parameters a document whose digest the chain
records) runs over them (service/ml/aggregate/, bit-exact); the aggregate weights (base +
aggregated delta, canonical safetensors with the base's metadata) and a metadata document
(rule, parameters, base, every included update, every exclusion and why, the inclusion root)
are stored and pinned. If the model's metadata document registers an evaluation set
(service/domain/evaluation.py, the one its builds are measured on), the document also holds the
held-out accuracy of the aggregate and of the base on it (``evaluation``), so the members who
vote on the aggregate see whether the round improved the model without running it themselves.
The result is what a maintainer signs in ``FinalizeRound``; nothing here needs anyone's key, and
the same inputs give the same bytes, hence the same CIDs, anywhere.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from eth_utils import to_checksum_address

from service.chain.actions import SignedAction
from service.chain.history import address_topic, uint_topic
from service.chain.ledger import ActionReceipt
from service.chain.merkle import inclusion_leaf, inclusion_proof, inclusion_root
from service.chain.types import NORM_SCALE, Rights, RoundRecord, RoundState, UpdateRecord
from service.chain.types import ExclusionReason as ChainExclusionReason
from service.domain.actions import SignedFieldsLike, signed_action
from service.domain.artifacts import ArtifactService
from service.domain.evaluation import registered_set
from service.domain.metadata import metadata_document
from service.domain.uploads import relay_with_upload
from service.errors import (
    Conflict,
    ContentNotFound,
    IntegrityError,
    InvalidArtifact,
    InvalidInput,
    LedgerError,
    NotFound,
)
from service.ml.aggregate import (
    Contribution,
    Exclusion,
    ExclusionReason,
    aggregate_file,
    params_digest,
    params_document,
    rule_from,
    rule_id,
    rule_name,
)
from service.ml.safetensors_format import SafetensorsSummary, SafetensorsValidator
from service.ml.tensors import read_safetensors
from service.ml.updates import UpdateValidator, expected_size
from service.store.cid import CID, cid_from_digest

log = logging.getLogger("govledger.rounds")


@dataclass(frozen=True, kw_only=True)
class RoundTerms:
    """A round's terms as the opener gives them (the rule by name, its parameters as a
    document, the norm bound as a float)."""

    base_version_id: int
    rule: str
    params: dict[str, Any]
    min_updates: int
    max_updates: int
    submission_deadline: int
    max_norm: float


@dataclass(frozen=True, kw_only=True)
class RoundDetailView:
    round: RoundRecord
    base_cid: str | None
    updates: list[tuple[UpdateRecord, str]]


UpdateOutcome = Literal["not_submitted", "pending", "included", "excluded", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class UpdateStatus:
    """One participant's update to a round as the chain records it: whether it is recorded
    (and by which transaction), and once the round is finalized, whether the aggregate includes
    it (with the proof of its leaf under the round's inclusion root) or excludes it (and why)."""

    round: RoundRecord
    participant: str
    update: UpdateRecord | None
    cid: str | None
    transaction_hash: str | None
    outcome: UpdateOutcome
    reason: ChainExclusionReason | None
    proof: list[bytes] | None


@dataclass(frozen=True, kw_only=True)
class SubmittedUpdate:
    round_id: int
    participant: str
    cid: CID
    size: int | None
    sample_count: int
    receipt: ActionReceipt


@dataclass(frozen=True, kw_only=True)
class IncludedUpdate:
    participant: str
    digest: bytes
    cid: str
    sample_count: int


@dataclass(frozen=True, kw_only=True)
class Aggregation:
    """A closed round's aggregate, stored: what a maintainer signs in FinalizeRound."""

    round_id: int
    rule: str
    params: dict[str, Any]
    base_version_id: int
    aggregate_cid: CID
    metadata_cid: CID
    included: tuple[IncludedUpdate, ...]
    excluded: tuple[Exclusion, ...]
    inclusion_root: bytes
    norms: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None  # held-out accuracy (see the module docstring)

    @property
    def finalize_args(self) -> dict[str, Any]:
        """The FinalizeRound arguments (ABI-named) a maintainer signs."""
        return {
            "roundId": self.round_id,
            "included": [u.participant for u in self.included],
            "excluded": [e.participant for e in self.excluded],
            "reasons": [int(e.reason) for e in self.excluded],
            "aggregateDigest": self.aggregate_cid.digest,
            "metadataDigest": self.metadata_cid.digest,
        }


class RoundService:
    def __init__(self, artifacts: ArtifactService) -> None:
        self.artifacts = artifacts
        self.backends = artifacts.backends
        self.settings = artifacts.settings
        self._bases: dict[bytes, tuple[SafetensorsSummary, bytes]] = {}
        self._aggregations: dict[int, Aggregation] = {}
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- reads

    def base_summary(self, round_: RoundRecord) -> SafetensorsSummary:
        """The base version's safetensors header (cached by digest): what every update of the
        round must match."""
        return self._base(round_)[0]

    def _base(self, round_: RoundRecord) -> tuple[SafetensorsSummary, bytes]:
        digest = bytes(round_.base_digest)
        cached = self._bases.get(digest)
        if cached is not None:
            return cached
        version = self.backends.ledger.version(round_.base_version_id)
        cid = self.artifacts.version_cid(version)
        data = self.backends.store.get_bytes(cid)
        validator = SafetensorsValidator()
        try:
            validator.feed(data)
            summary = validator.finish()
        except InvalidArtifact as exc:
            raise Conflict(
                f"round {round_.round_id}'s base (version {round_.base_version_id}, {cid}) is not "
                f"a safetensors file ({exc}); federated rounds need safetensors weights"
            ) from exc
        with self._lock:
            self._bases[digest] = (summary, data)
        return summary, data

    def list_rounds(
        self, *, model_id: int | None, state: RoundState | None, participant: str | None
    ) -> list[RoundRecord]:
        """Rounds newest first, of one model or all, in one state or any; with ``participant``,
        only open rounds it may submit to and has not yet (its to-do list)."""
        ledger = self.backends.ledger
        if model_id is not None:
            ledger.model(model_id)  # RegistryUnknownModel if there is none
        found = []
        for round_id in range(ledger.round_count(), 0, -1):
            r = ledger.round(round_id)
            if model_id is not None and r.model_id != model_id:
                continue
            if state is not None and r.state != state:
                continue
            if participant is not None and (
                r.state != RoundState.OPEN
                or not ledger.rights_of(r.model_id, participant) & Rights.SUBMIT_UPDATES
                or ledger.update_of(round_id, participant) is not None
            ):
                continue
            found.append(r)
        return found

    def update_status(self, round_id: int, participant: str) -> UpdateStatus:
        """``participant``'s update to the round (see ``UpdateStatus``), read from the chain's
        views and events alone: the proof is computed here, but the leaves are the chain's
        records, so a participant checks it against the on-chain root without trusting this."""
        ledger = self.backends.ledger
        round_ = ledger.round(round_id)
        participant = to_checksum_address(participant)
        update = ledger.update_of(round_id, participant)
        if update is None:
            return UpdateStatus(
                round=round_, participant=participant, update=None, cid=None,
                transaction_hash=None, outcome="not_submitted", reason=None, proof=None,
            )  # fmt: skip
        submitted = ledger.history.events(
            contract="FederatedRounds",
            event="UpdateSubmitted",
            topics=[uint_topic(round_id), address_topic(participant)],
            with_timestamps=False,
        )
        tx_hash = next((e.transaction_hash for e in submitted), None)
        cid = next(str(c) for u, c in self.detail(round_id).updates if u.participant == participant)
        outcome: UpdateOutcome = "pending"
        reason: ChainExclusionReason | None = None
        proof: list[bytes] | None = None
        if round_.state == RoundState.CANCELLED:
            outcome = "cancelled"
        elif round_.aggregate_version_id is not None:
            reason = ledger.exclusions(round_id).get(participant)
            if reason is not None:
                outcome = "excluded"
            else:
                outcome = "included"
                included = ledger.included_updates(round_id)
                leaves = [
                    inclusion_leaf(u.participant, u.update_digest, u.sample_count) for u in included
                ]
                index = [u.participant for u in included].index(participant)
                proof = inclusion_proof(leaves, index)
        return UpdateStatus(
            round=round_, participant=participant, update=update, cid=cid,
            transaction_hash=tx_hash, outcome=outcome, reason=reason, proof=proof,
        )  # fmt: skip

    def detail(self, round_id: int) -> RoundDetailView:
        ledger = self.backends.ledger
        round_ = ledger.round(round_id)
        base = self.artifacts.cid_of(bytes(round_.base_digest))
        updates = []
        size: int | None = None
        for participant in ledger.submitters(round_id):
            update = ledger.update_of(round_id, participant)
            if update is None:  # pragma: no cover
                continue
            if size is None:
                try:
                    size = expected_size(self.base_summary(round_))
                except Exception:  # the base is not in the store: CIDs by digest alone
                    size = 0
            cid = self.artifacts.cid_of(bytes(update.update_digest)) or cid_from_digest(
                bytes(update.update_digest), file_size=size
            )
            updates.append((update, str(cid)))
        return RoundDetailView(round=round_, base_cid=str(base) if base else None, updates=updates)

    # ---------------------------------------------------------------- opening and closing

    def open_round(
        self, model_id: int, terms: RoundTerms, fields: SignedFieldsLike
    ) -> tuple[RoundRecord, ActionReceipt]:
        """Store the rule's parameter document and relay the signed OpenRound over its
        digest; the rule and parameters are checked here first (an unknown rule, or
        parameters it refuses, never reach the chain)."""
        rule = rule_from(terms.rule, terms.params)
        document = params_document(rule)
        digest = params_digest(rule)
        relayer = self.backends.relayer
        signed = signed_action(
            relayer.ledger,
            "OpenRound",
            {
                "modelId": model_id,
                "baseVersionId": terms.base_version_id,
                "rule": rule_id(rule.name),
                "paramsDigest": digest,
                "minUpdates": terms.min_updates,
                "maxUpdates": terms.max_updates,
                "submissionDeadline": terms.submission_deadline,
                "maxNorm": round(terms.max_norm * NORM_SCALE),
            },
            fields,
        )
        with relayer.claim(signed) as claim:
            if claim.replay is not None:
                receipt = claim.replay
            else:
                relayer.ledger.verify(signed)  # before storing anything
                put = self.backends.store.put(document, pin=True)
                if put.cid.digest != digest:  # pragma: no cover - one rule, one digest
                    raise InvalidInput("the parameter document's digest is not its CID's")
                receipt = relayer.send(signed)
        round_id = int(receipt.event("RoundOpened").args["roundId"])
        return relayer.ledger.round(round_id), receipt

    def close_round(
        self, round_id: int, fields: SignedFieldsLike
    ) -> tuple[RoundRecord, ActionReceipt]:
        relayer = self.backends.relayer
        signed = signed_action(relayer.ledger, "CloseRound", {"roundId": round_id}, fields)
        receipt = relayer.relay(signed)
        return relayer.ledger.round(round_id), receipt

    def cancel_round(
        self, round_id: int, fields: SignedFieldsLike
    ) -> tuple[RoundRecord, ActionReceipt]:
        relayer = self.backends.relayer
        signed = signed_action(relayer.ledger, "CancelRound", {"roundId": round_id}, fields)
        receipt = relayer.relay(signed)
        return relayer.ledger.round(round_id), receipt

    # ---------------------------------------------------------------- the gate

    def submit_update(
        self,
        *,
        round_id: int,
        update_cid: CID,
        sample_count: int,
        fields: SignedFieldsLike,
        chunks: Iterable[bytes],
        content_length: int | None,
    ) -> SubmittedUpdate:
        """Check on chain, journal, store, validate and record one participant's update (see
        the module docstring)."""
        ledger = self.backends.ledger
        round_ = ledger.round(round_id)
        actor = to_checksum_address(fields.actor)
        signed = signed_action(
            ledger,
            "SubmitUpdate",
            {
                "roundId": round_id,
                "baseDigest": bytes(round_.base_digest),
                "updateDigest": update_cid.digest,
                "sampleCount": sample_count,
            },
            fields,
        )
        summary: list[SafetensorsSummary] = []

        def precheck() -> None:
            # the chain itself says whether it would take the update (open round, the right,
            # one update each, the base digest, nonce, deadline, signature): the signed action
            # is simulated before a byte of the body is read
            self.backends.relayer.simulate(signed)
            summary.append(self.base_summary(round_))
            if content_length is not None and content_length > _update_limit(summary[0]):
                data = expected_size(summary[0])
                raise InvalidArtifact(
                    f"an update of round {round_id} holds the base's tensors ({data} bytes of "
                    f"data) and a header; {content_length} bytes is more than it can be"
                )

        upload = relay_with_upload(
            self.artifacts,
            signed=signed,
            cid=update_cid,
            make_validator=lambda: UpdateValidator(
                summary[0], norm_bound=round_.max_norm / NORM_SCALE
            ),
            chunks=chunks,
            content_length=content_length,
            limit=self.settings.max_upload_bytes,  # the validator holds it to the base's size
            precheck=precheck,
            what="update",
        )
        return SubmittedUpdate(
            round_id=round_id,
            participant=actor,
            cid=update_cid,
            size=upload.size,
            sample_count=sample_count,
            receipt=upload.receipt,
        )

    # ---------------------------------------------------------------- aggregation

    def aggregate(self, round_id: int) -> Aggregation:
        """The closed round's aggregate, computed once and stored (see the module docstring).
        Anyone may ask; the answer is the same bytes every time."""
        with self._lock:
            done = self._aggregations.get(round_id)
        if done is not None:
            return done
        ledger = self.backends.ledger
        round_ = ledger.round(round_id)
        state = ledger.round_state(round_id)
        if state not in (RoundState.CLOSED, RoundState.FINALIZED):
            raise Conflict(
                f"round {round_id} is {state.name.lower()}; it is aggregated once closed (at its "
                "deadline, at its maximum of updates, or closed by its owner)"
            )
        if round_.update_count < round_.min_updates:
            raise Conflict(
                f"round {round_id} has {round_.update_count} updates, fewer than its minimum of "
                f"{round_.min_updates}; cancel it instead"
            )
        result = self.compute(round_)
        with self._lock:
            self._aggregations[round_id] = result
        return result

    def compute(self, round_: RoundRecord) -> Aggregation:
        """Fetch, verify, aggregate and store (no cache: ``rounds verify`` uses this too)."""
        ledger, store = self.backends.ledger, self.backends.store
        summary, base_bytes = self._base(round_)
        name = rule_name(bytes(round_.rule))
        params = self._params(round_)
        rule = rule_from(name, params)
        contributions: list[Contribution] = []
        unusable: list[Exclusion] = []
        recorded: dict[str, IncludedUpdate] = {}
        norms: dict[str, float] = {}
        for participant in ledger.submitters(round_.round_id):
            update = ledger.update_of(round_.round_id, participant)
            if update is None:  # pragma: no cover - the chain lists only submitters
                continue
            cid = self._update_cid(bytes(update.update_digest), summary)
            recorded[participant] = IncludedUpdate(
                participant=participant,
                digest=bytes(update.update_digest),
                cid=str(cid),
                sample_count=update.sample_count,
            )
            try:
                data = store.get_bytes(cid)
            except (ContentNotFound, IntegrityError) as exc:
                unusable.append(
                    Exclusion(participant, ExclusionReason.UNAVAILABLE, f"{cid}: {exc}")
                )
                continue
            validator = UpdateValidator(summary, norm_bound=round_.max_norm / NORM_SCALE)
            try:
                validator.feed(data)
                checked = validator.finish()
            except InvalidArtifact as exc:
                unusable.append(Exclusion(participant, ExclusionReason.INVALID, str(exc)))
                continue
            norms[participant] = float(checked.norm)
            contributions.append(
                Contribution(
                    participant=participant,
                    samples=update.sample_count,
                    tensors=read_safetensors(data),
                )
            )
        if not contributions:
            raise Conflict(
                f"none of round {round_.round_id}'s updates can be read from the store; import "
                "them (CAR files) or cancel the round"
            )
        result = rule.aggregate(contributions).with_exclusions(unusable)
        aggregate_bytes = aggregate_file(base_bytes, result.tensors)
        included = tuple(recorded[p] for p in result.included)
        excluded = result.excluded
        root = inclusion_root(
            [inclusion_leaf(u.participant, u.digest, u.sample_count) for u in included]
        )
        put = store.put(aggregate_bytes, pin=True)
        evaluation = self._held_out(round_, base_bytes, aggregate_bytes)
        document: dict[str, Any] = {
            "kind": "federated-aggregate",
            "round": round_.round_id,
            "model": round_.model_id,
            "base_version": round_.base_version_id,
            "base_digest": "0x" + bytes(round_.base_digest).hex(),
            "rule": name,
            "params": params,
            "params_digest": "0x" + bytes(round_.params_digest).hex(),
            "aggregate_cid": str(put.cid),
            "included": [
                {
                    "participant": u.participant,
                    "update_cid": u.cid,
                    "update_digest": "0x" + u.digest.hex(),
                    "sample_count": u.sample_count,
                    "norm": norms.get(u.participant),
                }
                for u in included
            ],
            "excluded": [
                {
                    "participant": e.participant,
                    "reason": e.reason.name.lower(),
                    "code": int(e.reason),
                    "detail": e.detail,
                }
                for e in excluded
            ],
            "inclusion_root": "0x" + root.hex(),
        }
        if evaluation is not None:
            document["evaluation"] = evaluation
        metadata = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        meta = store.put(metadata, pin=True)
        return Aggregation(
            round_id=round_.round_id,
            rule=name,
            params=params,
            base_version_id=round_.base_version_id,
            aggregate_cid=put.cid,
            metadata_cid=meta.cid,
            included=included,
            excluded=excluded,
            inclusion_root=root,
            norms=norms,
            evaluation=evaluation,
        )

    def _held_out(
        self, round_: RoundRecord, base_bytes: bytes, aggregate_bytes: bytes
    ) -> dict[str, Any] | None:
        """The aggregate and its base measured on the evaluation set the model's metadata
        document registers; None if it registers none. A registered set that cannot be used
        (not in the store, malformed) or weights of no known architecture do not stop the
        aggregation: the entry says why nothing was measured. The document is read without a
        session, as the updates are: aggregation is the service's own work, and the document
        holds only the set's CID and the two accuracies."""
        model = self.backends.ledger.model(round_.model_id)
        if not any(model.metadata_digest):
            return None
        cid = cid_from_digest(bytes(model.metadata_digest), file_size=0)
        try:
            doc = metadata_document(model.model_id, cid, self.backends.store.get_bytes(cid))
        except LedgerError as exc:
            log.warning("round %d: model metadata unreadable (%s)", round_.round_id, exc)
            return None
        entry = doc.get("evaluation")
        if entry is None:
            return None
        named = entry.get("cid") if isinstance(entry, dict) else None
        from service.ml.accelerate.architectures import correct_predictions  # torch: when needed

        try:
            evaluation = registered_set(self.artifacts, model, doc)
            rows = len(evaluation.labels)
            base = correct_predictions(base_bytes, evaluation.inputs, evaluation.labels)
            aggregate = correct_predictions(aggregate_bytes, evaluation.inputs, evaluation.labels)
        except LedgerError as exc:
            return {"cid": named, "metric": "accuracy", "unmeasured": str(exc)}
        return {
            "cid": str(evaluation.cid),
            "metric": "accuracy",
            "rows": rows,
            "base_accuracy": base / rows,
            "aggregate_accuracy": aggregate / rows,
        }

    def _update_cid(self, digest: bytes, summary: SafetensorsSummary) -> CID:
        """The CID an update's digest stands for: the stored one if the store holds it, else
        by the size an update of this base has (a header the size of the base's)."""
        found = self.artifacts.cid_of(digest)
        if found is not None:
            return found
        return cid_from_digest(digest, file_size=summary.size)

    def _params(self, round_: RoundRecord) -> dict[str, Any]:
        """The rule's parameters: the document whose digest the round records."""
        cid = cid_from_digest(bytes(round_.params_digest), file_size=0)
        try:
            raw = self.backends.store.get_bytes(cid)
        except ContentNotFound as exc:
            raise NotFound(
                f"the store does not hold round {round_.round_id}'s rule parameters ({cid}); "
                "store the document (POST /v1/metadata) or import it"
            ) from exc
        try:
            document = json.loads(raw)
            params: dict[str, Any] = document["params"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(
                f"round {round_.round_id}'s parameter document {cid} is not "
                '{"rule": ..., "params": {...}}'
            ) from exc
        return params

    # ---------------------------------------------------------------- finalize

    def finalize(self, round_id: int, fields: SignedFieldsLike) -> ActionReceipt:
        """Relay a maintainer's signed FinalizeRound over the round's stored aggregate."""
        aggregation = self.aggregate(round_id)
        relayer = self.backends.relayer
        signed = signed_action(relayer.ledger, "FinalizeRound", aggregation.finalize_args, fields)
        return relayer.relay(signed)

    def signed(self, name: str, args: dict[str, Any], fields: SignedFieldsLike) -> SignedAction:
        return signed_action(self.backends.ledger, name, args, fields)


def _update_limit(base: SafetensorsSummary) -> int:
    """The most bytes an update of ``base`` can have: its tensor data and a header of the
    base's size plus room for other metadata (64 KiB)."""
    return expected_size(base) + 8 + base.header_size + 65_536
