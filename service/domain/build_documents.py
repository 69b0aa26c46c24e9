"""The documents a build run writes: a recipe per build, one report (the measured table) per run,
and a version metadata document per build that names both by CID and digest.

They are canonical JSON (sorted keys, no spaces), so one content has one CID, and each is one
raw block (well under 256 KiB), so its digest is the sha2-256 of its bytes. The version metadata
document's digest is what the proposer signs and the chain records; the recipe and the report
are reached from it by their CIDs, which the reader checks (``GET /v1/versions/{id}/build``).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any, Final

from service.ml.accelerate.measure import BATCH_SIZES, Measurement, MeasureSettings
from service.ml.accelerate.pipeline import BuildOutcome, Built, Decision
from service.store.chunker import iter_chunks
from service.store.cid import CID
from service.store.unixfs import compute_cid

RECIPE_SCHEMA: Final = "govledger/build-recipe/1"
REPORT_SCHEMA: Final = "govledger/build-report/1"
VERSION_SCHEMA: Final = "govledger/accelerated-version/1"
LIBRARIES: Final = ("torch", "onnx", "onnxscript", "onnxruntime", "torchao", "numpy")
_CPU_FLAGS: Final = (
    "avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8",
    "amx_bf16", "f16c", "fma",
)  # fmt: skip


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def cid_of(data: bytes) -> CID:
    cid, _ = compute_cid(iter_chunks(data))
    return cid


def ref(data: bytes) -> dict[str, Any]:
    cid = cid_of(data)
    return {"cid": str(cid), "digest": "0x" + cid.digest.hex(), "size": len(data)}


@cache
def libraries() -> dict[str, str]:
    """Versions of the libraries a build depends on, as installed."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


@cache
def machine() -> dict[str, Any]:
    """The CPU the figures were measured on: model name, core count, the vector extensions
    that decide int8 and half-precision speed."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    if name := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
        model = name.group(1).strip()
    if listed := re.search(r"^flags\s*:\s*(.+)$", text, re.M):
        flags = set(listed.group(1).split())
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "architecture": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "vector_extensions": sorted(f for f in _CPU_FLAGS if f in flags),
        "python_implementation": sys.implementation.name,
    }


def row_summary(row: Measurement) -> dict[str, Any]:
    """The figures a version's metadata repeats from the report."""
    full = row.as_json()
    return {
        k: full[k]
        for k in (
            "accuracy", "accuracy_delta_points", "agreement", "max_abs_diff", "size_bytes",
            "size_ratio", "latency_ms", "throughput_per_s", "speedup_vs_baseline",
        )
    }  # fmt: skip


def report_document(
    *,
    outcome: BuildOutcome,
    parent: dict[str, Any],
    evaluation: dict[str, Any],
    budget_points: float,
    threads: int,
    settings: MeasureSettings,
) -> dict[str, Any]:
    return {
        "schema": REPORT_SCHEMA,
        "parent": parent,
        "evaluation": evaluation,
        "reference": outcome.reference,
        "baseline": outcome.baseline,
        "budget_points": budget_points,
        "machine": machine(),
        "libraries": libraries(),
        "threads": threads,
        "measure": {
            "batch_sizes": list(BATCH_SIZES),
            "seconds_per_candidate_and_batch": settings.seconds,
            "rounds": settings.rounds,
            "warmup_calls": settings.warmup_calls,
            "memory": "growth of the process's peak RSS while loading and evaluating",
        },
        "rows": [r.as_json() for r in outcome.rows],
        "decisions": [decision_json(d) for d in outcome.decisions],
    }


def decision_json(decision: Decision) -> dict[str, Any]:
    return {"build": decision.name, "accepted": decision.accepted, "reason": decision.reason}


def recipe_document(
    *,
    built: Built,
    parent: dict[str, Any],
    source_graph: dict[str, Any],
    evaluation: dict[str, Any],
    threads: int,
) -> dict[str, Any]:
    recipe = built.recipe
    return {
        "schema": RECIPE_SCHEMA,
        "build": recipe.name,
        "precision": recipe.precision,
        "summary": recipe.summary,
        "tool": recipe.tool,
        "options": dict(recipe.options),
        "parent": parent,
        "source_graph": source_graph,
        "evaluation": evaluation,
        "output": {
            "format": "onnx",
            "opsets": built.summary.opsets,
            "operators": list(built.summary.operators),
        },
        "libraries": libraries(),
        "machine": machine(),
        "threads": threads,
    }


def version_document(
    *,
    model_id: int,
    built: Built,
    artifact: dict[str, Any],
    parent: dict[str, Any],
    recipe: dict[str, Any],
    report: dict[str, Any],
    row: Measurement,
) -> dict[str, Any]:
    return {
        "schema": VERSION_SCHEMA,
        "model_id": model_id,
        "build": built.recipe.name,
        "artifact": {**artifact, "format": "onnx"},
        "parent": parent,
        "recipe": {"cid": recipe["cid"], "digest": recipe["digest"]},
        "metrics": {"cid": report["cid"], "digest": report["digest"]},
        "summary": row_summary(row),
    }
