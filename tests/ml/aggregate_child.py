"""Run every aggregation rule over updates stored as files and write the results as files.

``python -m tests.ml.aggregate_child IN OUT [--reverse]``: IN holds ``manifest.json``
(participant, samples, file per update; and the base file) and the updates' safetensors files;
OUT receives, per rule, the aggregate's canonical safetensors bytes and its record, and the
aggregate version's weights. The determinism test runs this in separate processes and compares
the bytes with its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from service.ml.aggregate import Contribution, apply_update, rule_from
from service.ml.tensors import canonical_safetensors, read_safetensors

#: Every rule the test compares, with parameters that make each one do real work.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("fedavg", {}),
    ("median", {}),
    ("trimmed-mean", {"trim": 2}),
    ("trimmed-mean", {"trim_fraction": 0.2}),
    ("krum", {"f": 2}),
    ("multi-krum", {"f": 2}),
    ("multi-krum", {"f": 1, "m": 3}),
]


def run(source: Path, target: Path, *, reverse: bool = False) -> None:
    """Aggregate the updates in ``source`` with every case; write the results to ``target``."""
    manifest = json.loads((source / "manifest.json").read_text())
    contributions = [
        Contribution(
            participant=entry["participant"],
            samples=entry["samples"],
            tensors=read_safetensors((source / entry["file"]).read_bytes()),
        )
        for entry in manifest["updates"]
    ]
    if reverse:
        contributions.reverse()
    base = read_safetensors((source / manifest["base"]).read_bytes())
    target.mkdir(parents=True, exist_ok=True)
    for index, (name, params) in enumerate(CASES):
        result = rule_from(name, params).aggregate(contributions)
        (target / f"{index}-{name}.safetensors").write_bytes(canonical_safetensors(result.tensors))
        weights = apply_update(base, result.tensors)
        (target / f"{index}-{name}-weights.safetensors").write_bytes(canonical_safetensors(weights))
        record = {
            "included": list(result.included),
            "excluded": [[e.participant, int(e.reason), e.detail] for e in result.excluded],
        }
        (target / f"{index}-{name}.json").write_text(json.dumps(record, sort_keys=True))


if __name__ == "__main__":
    run(Path(sys.argv[1]), Path(sys.argv[2]), reverse="--reverse" in sys.argv[3:])
