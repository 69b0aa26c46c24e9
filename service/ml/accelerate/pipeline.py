"""One build run: the parent's fp32 graph, the recipes' builds, every candidate measured side by
side, and the budget applied.

The parent is safetensors of a known architecture (its module is loaded from code, then
exported to ONNX: the *reference graph*) or ONNX (the reference graph is the parent itself).
A torch.export archive is refused: loading one unpickles. The reference for accuracy and
agreement, and the baseline for speed, is eager PyTorch fp32 when there is a module, otherwise
ONNX Runtime running the parent graph unchanged.

A build is *accepted* when it was built, passes the ONNX validator (it must be as portable as an
upload), and loses at most ``budget_points`` percentage points of accuracy against the
reference; otherwise it is *refused*, with the reason and its measured numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from service.errors import InvalidArtifact, LedgerError
from service.ml.accelerate.measure import (
    Candidate,
    Measurement,
    MeasureSettings,
    MemoryProbe,
    measure,
)
from service.ml.accelerate.recipes import RECIPES, Recipe
from service.ml.accelerate.runtime import load_model
from service.ml.onnx_format import ONNX, OnnxSummary, check_model_bytes
from service.ml.safetensors_format import SAFETENSORS

if TYPE_CHECKING:
    from torch import nn

#: The PyTorch-native alternatives measured beside the builds (never stored: they are not
#: portable artifacts) when asked for; ``eager`` is always measured when there is a module.
#: One that fails gets a row saying why, and the run goes on (``Candidate.optional``).
TORCH_VARIANTS = ("torch-compile", "torchao-int8")


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    parent_format: str
    parent: bytes
    inputs: np.ndarray  # the evaluation inputs, float32, first dimension the rows
    labels: np.ndarray  # int labels, one per row
    recipes: Sequence[str] = tuple(RECIPES)
    budget_points: float = 1.0
    compare_torch: bool = True
    threads: int = 1
    measure: MeasureSettings = field(default_factory=MeasureSettings)


@dataclass(frozen=True)
class Built:
    recipe: Recipe
    data: bytes
    summary: OnnxSummary


@dataclass(frozen=True)
class Decision:
    name: str
    accepted: bool
    reason: str


@dataclass(frozen=True)
class BuildOutcome:
    reference: str
    baseline: str
    architecture: str | None
    graph: bytes  # the fp32 reference graph (the export, or the ONNX parent)
    rows: list[Measurement]
    built: dict[str, Built]
    decisions: list[Decision]

    @property
    def accepted(self) -> list[Built]:
        names = {d.name for d in self.decisions if d.accepted}
        return [b for name, b in self.built.items() if name in names]


Progress = Callable[[str, float], None]


def run_build(
    request: BuildRequest,
    *,
    scratch: Path,
    memory: MemoryProbe | None = None,
    progress: Progress = lambda message, fraction: None,
) -> BuildOutcome:
    """Build, measure and judge every recipe for the parent (see the module docstring)."""
    unknown = [r for r in request.recipes if r not in RECIPES]
    if unknown:
        raise InvalidArtifact(f"unknown build(s) {unknown}; builds are {', '.join(RECIPES)}")
    progress("preparing the reference graph", 0.02)
    module, architecture, graph = _reference(request)
    summary = check_model_bytes(graph)
    inputs = _check_inputs(summary, request.inputs, request.labels)
    calibration = {summary.inputs[0].name: inputs}
    built: dict[str, Built] = {}
    refused: dict[str, str] = {}
    for i, name in enumerate(request.recipes):
        progress(f"building {name}", 0.05 + 0.25 * i / max(1, len(request.recipes)))
        recipe = RECIPES[name]
        work = scratch / name
        work.mkdir(parents=True, exist_ok=True)
        try:
            data = recipe.build(graph, calibration, work)
            built[name] = Built(recipe=recipe, data=data, summary=check_model_bytes(data))
        except LedgerError as exc:
            refused[name] = f"the build is not a portable ONNX model: {exc}"
        except Exception as exc:  # a library failure is this build's refusal, not the run's
            refused[name] = f"the build failed: {type(exc).__name__}: {exc}"
    threads = request.threads
    candidates: list[Candidate] = []
    if module is not None:
        reference = baseline = "pytorch-eager"
        candidates.append(_torch_eager(module, threads))
        if request.compare_torch:
            candidates += [_torch_compile(module, threads), _torchao_int8(module, threads)]
    else:
        reference = baseline = "onnx-parent"
        candidates.append(_ort("onnx-parent", "the parent graph as it is", graph, threads, None))
    for name, b in built.items():
        candidates.append(_ort(f"ort-{name}", b.recipe.summary, b.data, threads, name))
    fraction = iter(np.linspace(0.35, 0.95, 2 * len(candidates) + 8))

    def measured(message: str) -> None:
        progress(message, float(next(fraction, 0.95)))

    with _torch_threads(threads):
        rows = measure(
            candidates,
            inputs,
            request.labels,
            reference=reference,
            baseline=baseline,
            reference_size=len(graph),
            settings=request.measure,
            memory=memory,
            progress=measured,
        )
    decisions = []
    for name in request.recipes:
        if name in refused:
            decisions.append(Decision(name=name, accepted=False, reason=refused[name]))
            continue
        row = next(r for r in rows if r.build == name)
        assert row.accuracy_delta_points is not None  # a build is never optional: it was measured
        drop = -row.accuracy_delta_points
        if drop > request.budget_points:
            decisions.append(
                Decision(
                    name=name,
                    accepted=False,
                    reason=f"accuracy {row.accuracy:.4f} is {drop:.2f} points below the "
                    f"reference's, over the budget of {request.budget_points:g} points "
                    f"(agreement {row.agreement:.4f})",
                )
            )
        else:
            decisions.append(
                Decision(
                    name=name,
                    accepted=True,
                    reason=f"accuracy change {row.accuracy_delta_points:+.2f} points, within "
                    f"the budget of {request.budget_points:g}",
                )
            )
    progress("measured", 1.0)
    return BuildOutcome(
        reference=reference,
        baseline=baseline,
        architecture=architecture,
        graph=graph,
        rows=rows,
        built=built,
        decisions=decisions,
    )


def _reference(request: BuildRequest) -> tuple[nn.Module | None, str | None, bytes]:
    if request.parent_format == SAFETENSORS:
        import torch

        from service.ml.accelerate.architectures import load_module
        from service.ml.accelerate.export import export_onnx

        module, architecture = load_module(request.parent)
        example = torch.from_numpy(np.ascontiguousarray(request.inputs[:4], dtype=np.float32))
        return module, architecture.name, export_onnx(module, example)
    if request.parent_format == ONNX:
        return None, None, request.parent
    raise InvalidArtifact(
        f"a {request.parent_format} parent cannot be built: only safetensors (of a known "
        "architecture) and ONNX parents are; torch.export archives are never loaded, since "
        "loading one unpickles"
    )


def _check_inputs(summary: OnnxSummary, inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if len(summary.inputs) != 1:
        raise InvalidArtifact(
            f"the model takes {len(summary.inputs)} inputs; builds are measured for models "
            "with one input"
        )
    spec = summary.inputs[0]
    if spec.dtype != "float32":
        raise InvalidArtifact(f"the model's input {spec.name!r} is {spec.dtype}, not float32")
    if inputs.ndim != len(spec.shape) or any(
        isinstance(d, int) and d != n for d, n in zip(spec.shape[1:], inputs.shape[1:], strict=True)
    ):
        raise InvalidArtifact(
            f"the evaluation inputs have shape {list(inputs.shape)}; the model's input "
            f"{spec.name!r} has shape {list(spec.shape)}"
        )
    if labels.shape != (len(inputs),):
        raise InvalidArtifact(
            f"the evaluation set has {len(inputs)} inputs but labels of shape {list(labels.shape)}"
        )
    return np.ascontiguousarray(inputs, dtype=np.float32)


def _ort(name: str, description: str, data: bytes, threads: int, build: str | None) -> Candidate:
    def load() -> Callable[[np.ndarray], np.ndarray]:
        model = load_model(data, threads=threads)
        return model.logits

    return Candidate(
        name=name, runtime="onnxruntime", description=description, load=load, size=len(data),
        build=build,
    )  # fmt: skip


def _torch_runner(module: Callable[..., Any]) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(batch))
        result: np.ndarray = out.numpy()
        return result

    return run


def _torch_eager(module: nn.Module, threads: int) -> Candidate:
    return Candidate(
        name="pytorch-eager",
        runtime="pytorch",
        description="the parent in eager PyTorch, fp32 (reference and baseline)",
        load=lambda: _torch_runner(module),
    )


def _torch_compile(module: nn.Module, threads: int) -> Candidate:
    def load() -> Callable[[np.ndarray], np.ndarray]:
        import torch

        return _torch_runner(torch.compile(copy.deepcopy(module), dynamic=False))

    return Candidate(
        name="torch-compile",
        runtime="pytorch",
        description="torch.compile (inductor), fp32; measured, not storable",
        load=load,
        optional=True,
    )


def _torchao_int8(module: nn.Module, threads: int) -> Candidate:
    def load() -> Callable[[np.ndarray], np.ndarray]:
        import torch
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        quantized = copy.deepcopy(module)
        quantize_(quantized, Int8DynamicActivationInt8WeightConfig())
        return _torch_runner(torch.compile(quantized, dynamic=False))

    return Candidate(
        name="torchao-int8",
        runtime="pytorch",
        description="torchao Int8DynamicActivationInt8Weight + torch.compile; measured, not "
        "storable",
        load=load,
        optional=True,
    )


class _torch_threads:
    """PyTorch's intra-op threads set to the run's count for the measurement, then restored
    (ONNX Runtime sessions get the same count through their options)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.previous: int | None = None

    def __enter__(self) -> None:
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return
        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            import torch

            torch.set_num_threads(self.previous)
