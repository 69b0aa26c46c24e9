"""Evaluation sets: the labelled data a model's builds are measured on.

An evaluation set is a safetensors file of two tensors, ``inputs`` (float32, one row per
example) and ``labels`` (int64, one per row), stored by content like any artifact. A model
*registers* one by naming its CID in the model's metadata document, whose digest the chain
records::

    {"name": "digits-mlp", ..., "evaluation": {"cid": "bafk...", "metric": "accuracy"}}

so every build of the model is measured on the same bytes, and anyone can fetch and check them.

Storing one (``POST /v1/evaluation-sets``) costs the service's disk, so it is admitted like a
metadata document: a member's ``StoreMetadata`` signature over the file's digest, checked before
the body is read, and the same per-account quota. The bytes are parsed as safetensors (never
unpickled) and must hold exactly the two tensors above.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.chain.types import ModelRecord
from service.domain.artifacts import ArtifactService
from service.domain.metadata import Admission, MetadataDocuments
from service.errors import Conflict, InvalidInput, LedgerError, NotFound, PayloadTooLarge
from service.ml.safetensors_format import SafetensorsSummary, SafetensorsValidator
from service.store.base import PutResult
from service.store.chunker import iter_chunks
from service.store.cid import CID, parse_cid
from service.store.unixfs import compute_cid

MAX_ROWS: Final = 100_000
_EXPECTED: Final = {"inputs": "F32", "labels": "I64"}


@dataclass(frozen=True, kw_only=True)
class EvaluationSet:
    cid: CID
    inputs: np.ndarray
    labels: np.ndarray
    metric: str

    def describe(self) -> dict[str, Any]:
        return {
            "cid": str(self.cid),
            "digest": "0x" + self.cid.digest.hex(),
            "rows": len(self.labels),
            "input_shape": list(self.inputs.shape[1:]),
            "metric": self.metric,
        }


def check_evaluation_bytes(data: bytes) -> SafetensorsSummary:
    """The summary of a valid evaluation set, or InvalidInput saying what is wrong."""
    validator = SafetensorsValidator()
    validator.feed(data)
    summary = validator.finish()
    found = {t.name: t for t in summary.tensors}
    if set(found) != set(_EXPECTED):
        raise InvalidInput(
            f"an evaluation set holds exactly the tensors 'inputs' (F32) and 'labels' (I64); "
            f"this one holds {sorted(found)}"
        )
    for name, dtype in _EXPECTED.items():
        if found[name].dtype != dtype:
            raise InvalidInput(f"evaluation tensor {name!r} is {found[name].dtype}, not {dtype}")
    rows = found["labels"].shape
    shape = found["inputs"].shape
    if len(rows) != 1 or len(shape) < 2 or shape[0] != rows[0] or not 0 < rows[0] <= MAX_ROWS:
        raise InvalidInput(
            f"evaluation 'labels' must be one label per row of 'inputs' (1 to {MAX_ROWS} rows); "
            f"found inputs {list(shape)} and labels {list(rows)}"
        )
    return summary


class EvaluationSets:
    def __init__(self, artifacts: ArtifactService, documents: MetadataDocuments) -> None:
        self.artifacts = artifacts
        self.documents = documents

    @property
    def max_bytes(self) -> int:
        return self.artifacts.settings.max_evaluation_bytes

    def admit(self, *, actor: str, digest: bytes, deadline: int, signature: str) -> Admission:
        """Checked before the body is read, as for a metadata document."""
        return self.documents.admit(
            actor=actor, digest=digest, deadline=deadline, signature=signature
        )

    def store(self, admission: Admission, data: bytes) -> PutResult:
        """Store and pin the set if it is well-formed, has the signed digest and fits the
        actor's quota; otherwise store nothing."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"the evaluation set has {len(data)} bytes; the limit is {self.max_bytes} "
                "(GOVLEDGER_MAX_EVALUATION_BYTES)"
            )
        check_evaluation_bytes(data)
        cid, size = compute_cid(iter_chunks(data))
        if cid.digest != admission.digest:
            raise InvalidInput(
                f"the evaluation set's digest is 0x{cid.digest.hex()}, but the signature covers "
                f"0x{admission.digest.hex()}; nothing was stored"
            )
        now = time.time()
        refund = self.documents.quota.charge(admission.actor, cid.digest, size, now)
        try:
            self.documents.book.note_pinned(str(cid), now)
            put = self.artifacts.backends.store.put(data, pin=True)
        except BaseException:
            refund()
            raise
        self.artifacts.count_bytes("in", put.size)
        return put

    def for_model(self, model: ModelRecord, account: str | None) -> EvaluationSet:
        """The evaluation set the model's metadata document registers, read and checked."""
        doc: dict[str, Any] = {}
        if any(model.metadata_digest):
            doc, _ = self.artifacts.model_metadata(model, account)
        return registered_set(self.artifacts, model, doc)


def registered_set(
    artifacts: ArtifactService, model: ModelRecord, doc: dict[str, Any]
) -> EvaluationSet:
    """The evaluation set ``doc`` (the model's metadata document, already read) registers, read
    from the store and checked; Conflict or NotFound says why there is none to use."""
    max_bytes = artifacts.settings.max_evaluation_bytes
    entry = doc.get("evaluation")
    if not isinstance(entry, dict) or not isinstance(entry.get("cid"), str):
        raise Conflict(
            f"model {model.model_id} registers no evaluation set in its metadata document; add "
            '"evaluation": {"cid": "<CID of a safetensors file of inputs and labels>"} to '
            "it (store the file with POST /v1/evaluation-sets, then set the model's "
            "metadata) so that builds can be measured"
        )
    try:
        cid = parse_cid(entry["cid"])
    except LedgerError as exc:
        raise Conflict(f"model {model.model_id}'s evaluation CID is invalid: {exc}") from exc
    store = artifacts.backends.store
    if not store.has(cid):
        raise NotFound(
            f"the store does not hold model {model.model_id}'s evaluation set {cid}; store it "
            "again with POST /v1/evaluation-sets"
        )
    if store.file_size(cid) > max_bytes:
        raise Conflict(f"the evaluation set {cid} is larger than {max_bytes} bytes")
    data = store.get_bytes(cid)
    try:
        check_evaluation_bytes(data)
    except InvalidInput as exc:
        raise Conflict(
            f"model {model.model_id}'s evaluation set {cid} is unusable: {exc}"
        ) from None
    from safetensors.numpy import load

    tensors = load(data)
    metric = entry.get("metric", "accuracy")
    if metric != "accuracy":
        raise Conflict(f"evaluation metric {metric!r} is not supported; builds use accuracy")
    return EvaluationSet(
        cid=cid, inputs=tensors["inputs"], labels=tensors["labels"], metric="accuracy"
    )
