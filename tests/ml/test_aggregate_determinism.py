"""Bit-exact determinism: the same updates give the same aggregate bytes in this process and in
two separate processes that differ in hash seed, thread settings and input order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

from service.ml.tensors import canonical_safetensors
from tests.ml.aggregate_child import CASES, run
from tests.ml.aggregate_helpers import P

ROOT = Path(__file__).resolve().parents[2]


def awkward_values(rng: np.random.Generator, size: int) -> np.ndarray:
    """float64 values across many exponents, with repeats, zeros of both signs and subnormals."""
    values = rng.standard_normal(size) * 10.0 ** rng.integers(-30, 30, size)
    values[rng.integers(0, size, size // 10)] = 0.0
    values[rng.integers(0, size, size // 10)] = -0.0
    values[rng.integers(0, size, size // 20)] = 1e-41  # a float32 subnormal
    values[rng.integers(0, size, size // 10)] = 0.75  # ties across updates
    return values


def write_inputs(directory: Path) -> None:
    """Seven updates of a float32 tensor longer than one block (65,536), a bfloat16 and a
    float16 tensor, and a base; with a manifest."""
    rng = np.random.default_rng(2017)
    entries = []
    for i in range(7):
        tensors = {
            "layer.weight": awkward_values(rng, 70_001).astype(np.float32),
            "layer.bias": (rng.standard_normal(300) * 3).astype(ml_dtypes.bfloat16),
            "head": np.clip(awkward_values(rng, 15), -6e4, 6e4).astype(np.float16).reshape(3, 5),
        }
        name = f"update-{i}.safetensors"
        (directory / name).write_bytes(canonical_safetensors(tensors))
        entries.append({"participant": P[i], "samples": int(rng.integers(1, 5000)), "file": name})
    base = {
        "layer.weight": rng.standard_normal(70_001).astype(np.float32),
        "layer.bias": rng.standard_normal(300).astype(ml_dtypes.bfloat16),
        "head": rng.standard_normal((3, 5)).astype(np.float16),
    }
    (directory / "base.safetensors").write_bytes(canonical_safetensors(base))
    manifest = {"updates": entries, "base": "base.safetensors"}
    (directory / "manifest.json").write_text(json.dumps(manifest))


def child(source: Path, target: Path, env: dict[str, str], *extra: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.ml.aggregate_child", str(source), str(target), *extra],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=300,
    )


def test_two_processes_and_this_one_write_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    write_inputs(source)
    run(source, tmp_path / "here")
    child(source, tmp_path / "one", {"PYTHONHASHSEED": "1", "OMP_NUM_THREADS": "1"})
    child(
        source,
        tmp_path / "two",
        {"PYTHONHASHSEED": "4242", "OPENBLAS_NUM_THREADS": "2"},
        "--reverse",
    )
    here = sorted(p.name for p in (tmp_path / "here").iterdir())
    assert len(here) == 3 * len(CASES)
    for name in here:
        ours = (tmp_path / "here" / name).read_bytes()
        assert (tmp_path / "one" / name).read_bytes() == ours, name
        assert (tmp_path / "two" / name).read_bytes() == ours, name
    # the rules do differ, so equal bytes are not equal by accident
    aggregates = {(tmp_path / "here" / n).read_bytes() for n in here if n[-12:] == ".safetensors"}
    assert len(aggregates) == 2 * len(CASES)
    krum = json.loads((tmp_path / "here" / "4-krum.json").read_text())
    assert len(krum["included"]) == 1 and len(krum["excluded"]) == 6
