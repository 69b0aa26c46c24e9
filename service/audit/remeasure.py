"""``--remeasure``: each accelerated build's accuracy re-run here on the evaluation set its
recipe names, in ONNX Runtime on this CPU, against the accuracy its version document records.

The build's artifact, its documents and the evaluation set are read from the content source
and verified against their digests first. Rows are fed in batches of 64, the last one padded
with copies of its last row, as the measuring did (``ml/accelerate/measure.py``). The recorded
accuracy is rounded to 6 digits, and another CPU may pick other kernels and flip a borderline
prediction, so the tolerance is one row of the set (plus the rounding): a build whose recorded
accuracy is off by more than one row's worth is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from service.audit.content import ContentProblem, read_verified
from service.audit.context import AuditContext
from service.audit.findings import Finding, failed, passed
from service.audit.naming import Names
from service.chain.types import VersionKind
from service.errors import InvalidArtifact, InvalidCID, InvalidInput, UnsupportedCID
from service.ml.tensors import read_safetensors
from service.store.cid import parse_cid

BATCH = 64
ROUNDING = 5e-7


class _Unmeasurable(Exception):
    pass


class RemeasureCheck:
    name = "remeasure"
    title = "accelerated builds' accuracy re-run on their evaluation sets"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        names = Names.of(ctx)
        for e in ctx.named("VersionProposed"):
            if not ctx.in_scope(e) or int(e.args["kind"]) != VersionKind.ACCELERATED:
                continue
            record = f"{names.version(int(e.args['versionId']))} accuracy"
            try:
                recorded, measured, rows = _remeasure(ctx, e.args)
            except _Unmeasurable as exc:
                yield failed(self.name, record, f"cannot be re-measured: {exc}")
                continue
            tolerance = 1 / rows + ROUNDING
            what = (
                f"{measured:.6f} measured here on {rows} rows, {recorded:.6f} recorded "
                f"(tolerance {tolerance:.6f}: one row)"
            )
            if abs(measured - recorded) <= tolerance:
                yield passed(self.name, record, what)
            else:
                yield failed(self.name, record, what)


def _remeasure(ctx: AuditContext, proposed: dict[str, Any]) -> tuple[float, float, int]:
    """(recorded accuracy, accuracy measured here, rows of the evaluation set)."""
    from service.ml.accelerate.runtime import load_model  # ONNX Runtime: only when asked

    try:
        document = _json(ctx, bytes(proposed["metadataDigest"]))
        recorded = float(document["summary"]["accuracy"])
        recipe = _json(ctx, parse_cid(document["recipe"]["cid"]).digest)
        evaluation = recipe["evaluation"]
        tensors = read_safetensors(
            read_verified(ctx.store, parse_cid(evaluation["cid"]).digest).data
        )
        inputs = np.asarray(tensors["inputs"], dtype=np.float32)
        labels = np.asarray(tensors["labels"])
        artifact = read_verified(ctx.store, bytes(proposed["artifactDigest"])).data
        model = load_model(artifact, threads=1)
    except ContentProblem as exc:
        raise _Unmeasurable(str(exc)) from exc
    except (KeyError, TypeError, ValueError, InvalidCID, UnsupportedCID) as exc:
        raise _Unmeasurable(
            f"its documents do not name a recorded accuracy and evaluation set: {exc!r}"
        ) from exc
    except (InvalidArtifact, InvalidInput) as exc:
        raise _Unmeasurable(str(exc)) from exc
    if len(inputs) == 0 or len(inputs) != len(labels):
        raise _Unmeasurable(f"the evaluation set has {len(inputs)} inputs, {len(labels)} labels")
    outputs = []
    for start in range(0, len(inputs), BATCH):
        batch = inputs[start : start + BATCH]
        n = len(batch)
        if n < BATCH:
            batch = np.concatenate([batch, np.repeat(batch[-1:], BATCH - n, axis=0)])
        outputs.append(np.asarray(model.logits(batch), dtype=np.float32)[:n])
    predictions = np.concatenate(outputs).argmax(axis=1)
    return recorded, float((predictions == labels).mean()), len(labels)


def _json(ctx: AuditContext, digest: bytes) -> dict[str, Any]:
    document = json.loads(read_verified(ctx.store, digest).data)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document
