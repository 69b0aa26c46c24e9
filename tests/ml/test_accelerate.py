"""Builds of real models, measured against their parent: every build loads, is portable, and
agrees with the parent within the documented tolerance; a build over the budget is refused with
its numbers. Timings are measured (briefly) but never asserted.

Tolerances (docs/ARCHITECTURE.md, "Accelerated builds"): fp32-basic computes what the parent
computes (the same predictions, outputs within 1e-4); fp16 predicts the same on at least 99% of
rows with outputs within 0.05; int8 builds on at least 97% of rows (a dynamic int8 build's
activation scales come from each batch, so its outputs depend on what is batched together).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from service.errors import InvalidArtifact
from service.ml.accelerate.measure import Measurement, MeasureSettings
from service.ml.accelerate.pipeline import BuildOutcome, BuildRequest, run_build
from service.ml.accelerate.runtime import load_model
from service.ml.digits import DigitsMLP, digits_split, save_safetensors
from service.ml.digits_transformer import (
    TransformerSizes,
    train_digits_transformer,
)
from service.ml.digits_transformer import load_safetensors as load_transformer
from service.ml.digits_transformer import save_safetensors as save_transformer
from service.ml.formats import validate_artifact

QUICK = MeasureSettings(seconds=0.1, rounds=2, warmup_calls=2)
TOLERANCE = {  # build -> (least agreement, largest output difference or None)
    "fp32-basic": (1.0, 1e-4),
    "int8-dynamic": (0.97, None),
    "int8-static": (0.97, None),
    "fp16": (0.99, 0.05),
}


def build(parent: bytes, fmt: str, tmp_path: Path, **kw: object) -> BuildOutcome:
    split = digits_split()
    request = BuildRequest(
        parent_format=fmt,
        parent=parent,
        inputs=split.test_x.numpy(),
        labels=split.test_y.numpy(),
        measure=QUICK,
        **{"compare_torch": False, **kw},  # type: ignore[arg-type]
    )
    return run_build(request, scratch=tmp_path)


@pytest.fixture(scope="module")
def mlp_outcome(digits_model: DigitsMLP, tmp_path_factory: pytest.TempPathFactory) -> BuildOutcome:
    return build(save_safetensors(digits_model), "safetensors", tmp_path_factory.mktemp("b"))


def test_every_build_loads_and_agrees_with_the_parent(
    mlp_outcome: BuildOutcome, digits_model: DigitsMLP
) -> None:
    outcome = mlp_outcome
    assert outcome.reference == outcome.baseline == "pytorch-eager"
    assert outcome.architecture == "DigitsMLP"
    assert [d.name for d in outcome.decisions if d.accepted] == list(TOLERANCE)
    split = digits_split()
    with torch.inference_mode():
        parent = digits_model(split.test_x).numpy()
    rows = {r.build: r for r in outcome.rows if r.build}
    for name, (agreement, max_diff) in TOLERANCE.items():
        data = outcome.built[name].data
        assert validate_artifact("onnx", data).inputs[0].shape == ("batch", 64)
        logits = load_model(data).logits(split.test_x.numpy())  # loads on its own, any batch
        agrees = float((logits.argmax(1) == parent.argmax(1)).mean())
        # both over the whole set at once and (in the table) in batches of 64: a dynamic int8
        # build's activation scale depends on the batch, so the two may differ a little
        assert min(agrees, rows[name].agreement) >= agreement, (name, agrees, rows[name])
        if max_diff is not None:
            assert np.max(np.abs(logits - parent)) <= max_diff, name
    assert rows["int8-dynamic"].size_bytes < 0.35 * len(outcome.graph)
    assert rows["fp16"].size_bytes < 0.6 * len(outcome.graph)


def test_the_table_has_every_figure_for_every_candidate(mlp_outcome: BuildOutcome) -> None:
    names = [r.name for r in mlp_outcome.rows]
    assert names == ["pytorch-eager", *(f"ort-{b}" for b in TOLERANCE)]
    for row in mlp_outcome.rows:
        figures = row.as_json()
        assert set(figures["latency_ms"]) == {"1", "64"}
        for batch in ("1", "64"):
            timing = figures["latency_ms"][batch]
            assert timing["calls"] >= 5 and 0 < timing["p50"] <= timing["p95"]
        assert figures["throughput_per_s"] > 0
        assert 0 <= figures["agreement"] <= 1
    eager = mlp_outcome.rows[0]
    assert eager.speedup == {1: 1.0, 64: 1.0} and eager.agreement == 1.0


def compared_with_torch(
    model: DigitsMLP, tmp_path: Path
) -> tuple[BuildOutcome, dict[str, Measurement]]:
    """The int8-dynamic build measured with compare_torch; its outcome and rows by name, in
    the table's order (checked)."""
    outcome = build(
        save_safetensors(model),
        "safetensors",
        tmp_path,
        recipes=("int8-dynamic",),
        compare_torch=True,
    )
    rows = {r.name: r for r in outcome.rows}
    assert list(rows) == ["pytorch-eager", "torch-compile", "torchao-int8", "ort-int8-dynamic"]
    return outcome, rows


def test_torch_compile_and_torchao_are_measured_beside_the_builds(
    digits_model: DigitsMLP, tmp_path: Path
) -> None:
    """compare_torch: eager fp32, torch.compile and torchao int8 in the same table as the ONNX
    Runtime builds (about 10 s here with inductor's cache warm, 30 s cold: compiling is most of
    it)."""
    outcome, rows = compared_with_torch(digits_model, tmp_path)
    for name in ("torch-compile", "torchao-int8"):
        row = rows[name]
        assert row.error is None, row.error
        assert row.runtime == "pytorch" and row.build is None and row.size_bytes is None
        figures = row.as_json()
        assert set(figures["latency_ms"]) == set(figures["speedup_vs_baseline"]) == {"1", "64"}
        assert figures["latency_ms"]["64"]["calls"] >= 5 and figures["throughput_per_s"] > 0
        assert figures["agreement"] >= TOLERANCE["int8-dynamic"][0]
    assert rows["torch-compile"].agreement == 1.0  # the same fp32 computation, compiled
    assert [d.accepted for d in outcome.decisions] == [True]


@pytest.mark.parametrize(
    ("failure", "step"),
    [("load", "loading and evaluating it"), ("batch-1", "warming it up at batch sizes 1 and 64")],
)
def test_a_torch_alternative_that_fails_is_a_row_not_the_runs_failure(
    digits_model: DigitsMLP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str,
    step: str,
) -> None:  # fmt: skip
    """torch.compile fails as it does on a machine without a working C++ compiler: when asked
    to compile, or at the first call of a new shape (batch 1 is compiled after batch 64)."""

    def broken_compile(module: torch.nn.Module, **_: object) -> object:
        if failure == "load":
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(details)")

        def run(x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] == 1:
                raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
            return module(x)

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    outcome, rows = compared_with_torch(digits_model, tmp_path)
    for name in ("torch-compile", "torchao-int8"):
        failed = rows[name].as_json()
        assert failed["error"] == (
            f"failed while {step}: RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
        )
        assert failed["accuracy"] is None and failed["latency_ms"] == {}
        assert failed["throughput_per_s"] is None and failed["speedup_vs_baseline"] == {}
    for name in ("pytorch-eager", "ort-int8-dynamic"):  # the others are measured as usual
        assert rows[name].error is None and rows[name].as_json()["throughput_per_s"] > 0
    assert [d.accepted for d in outcome.decisions] == [True]


def test_an_onnx_parent_is_built_from_its_own_graph(
    mlp_outcome: BuildOutcome, tmp_path: Path
) -> None:
    outcome = build(mlp_outcome.graph, "onnx", tmp_path, recipes=("int8-dynamic",))
    assert outcome.reference == "onnx-parent" and outcome.architecture is None
    assert outcome.graph == mlp_outcome.graph
    assert [d.accepted for d in outcome.decisions] == [True]
    assert outcome.rows[1].agreement >= 0.97


def test_a_build_over_the_budget_is_refused_with_its_numbers(
    digits_model: DigitsMLP, tmp_path: Path
) -> None:
    """One huge weight on pixel 0, which is 0 in every digits image: the fp32 model computes
    exactly what it did, but per-tensor int8 scales every other weight of the layer to 0."""
    fragile = DigitsMLP(digits_model.hidden)
    fragile.load_state_dict(digits_model.state_dict())
    with torch.no_grad():
        fragile.net[0].weight[0, 0] = 1000.0
    assert float(digits_split().test_x[:, 0].abs().max()) == 0.0
    outcome = build(
        save_safetensors(fragile),
        "safetensors",
        tmp_path,
        recipes=("fp32-basic", "int8-dynamic"),
        budget_points=1.0,
    )
    decisions = {d.name: d for d in outcome.decisions}
    assert decisions["fp32-basic"].accepted
    refused = decisions["int8-dynamic"]
    row = next(r for r in outcome.rows if r.build == "int8-dynamic")
    assert not refused.accepted
    assert row.accuracy_delta_points < -1.0
    assert f"{row.accuracy:.4f}" in refused.reason
    assert f"{-row.accuracy_delta_points:.2f} points below" in refused.reason
    assert "budget of 1 points" in refused.reason
    assert [b.recipe.name for b in outcome.accepted] == ["fp32-basic"]


def test_a_torch_export_parent_is_refused_without_loading_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidArtifact, match="never loaded"):
        build(b"PK\x03\x04 whatever", "torch-export", tmp_path)


def test_the_transformer_round_trips_and_its_int8_build_agrees(tmp_path: Path) -> None:
    sizes = TransformerSizes(width=32, heads=2, layers=1, ffn=64)
    model, metrics = train_digits_transformer(sizes=sizes, epochs=8)
    assert metrics.test_accuracy > 0.85
    data = save_transformer(model)
    restored = load_transformer(data)
    x = digits_split().test_x[:8]
    with torch.inference_mode():
        assert torch.equal(restored(x), model(x))
    outcome = build(data, "safetensors", tmp_path, recipes=("int8-dynamic",), budget_points=1.0)
    assert outcome.architecture == "DigitsTransformer"
    assert [d.accepted for d in outcome.decisions] == [True]  # at most the 1 point it aims at
    int8 = next(r for r in outcome.rows if r.build == "int8-dynamic")
    # held to the documented int8 tolerance, like the MLP's (measured here: 0.993 in batches of
    # 64, 0.998 over the whole set at once; 0.993 to 1.0 over seeds 0 to 3)
    least = TOLERANCE["int8-dynamic"][0]
    with torch.inference_mode():
        parent = model(digits_split().test_x).argmax(1).numpy()
    whole = load_model(outcome.built["int8-dynamic"].data).logits(digits_split().test_x.numpy())
    assert min(int8.agreement, float((whole.argmax(1) == parent).mean())) >= least, int8
    assert (
        "MatMulInteger" in validate_artifact("onnx", outcome.built["int8-dynamic"].data).operators
    )
