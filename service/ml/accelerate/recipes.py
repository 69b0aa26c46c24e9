"""The ONNX Runtime builds, each a function of the fp32 reference graph and a recipe of options
that the build records.

- ``fp32-basic``: ORT's *basic* graph optimisations (constant folding, redundant-node
  elimination), saved;
- ``int8-dynamic``: ``quantize_dynamic``, int8 weights of MatMul/Gemm, activations quantised at
  run time (DynamicQuantizeLinear + MatMulInteger);
- ``int8-static``: ``quantize_static``, QDQ format, S8S8, calibrated on the evaluation inputs;
- ``fp16``: weights and arithmetic in float16, inputs and outputs float32 (ORT's CPU provider
  computes the MatMuls in fp32 through Casts it inserts: the file halves, the speed does not).

Every one writes standard operators only, so it passes the validator like an upload would.

Not built, on purpose: ORT's *extended* and *layout* levels write fused operators of the
``com.microsoft`` domain (``FusedGemm``, ``QLinearAdd``, NCHWc layouts) that only ONNX Runtime,
and for layouts only the CPU it was saved on, can run; the validator refuses such files. The
serving session applies those optimisations in memory at load instead, so nothing is lost by
storing the portable graph. bf16 is not built: ONNX Runtime's CPU provider has no bf16 MatMul or
Gemm kernel ("Could not find an implementation for MatMul(13)"), so a bf16 graph does not load.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import onnx

from service.ml.accelerate.runtime import session_options
from service.ml.onnx_format import DEFAULT_DOMAINS

#: What a recipe gets: the graph, calibration inputs by input name, and a scratch directory.
BuildFunction = Callable[[bytes, Mapping[str, np.ndarray], Path], bytes]


@dataclass(frozen=True)
class Recipe:
    """A named build and the options it records (in the recipe document)."""

    name: str
    precision: str
    summary: str
    tool: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self, graph: bytes, calibration: Mapping[str, np.ndarray], scratch: Path) -> bytes:
        return _BUILDERS[self.name](self, graph, calibration, scratch)


RECIPES: Final[dict[str, Recipe]] = {
    r.name: r
    for r in (
        Recipe(
            name="fp32-basic",
            precision="fp32",
            summary="ONNX Runtime basic graph optimisations (constant folding, redundant nodes)",
            tool="onnxruntime.InferenceSession(optimized_model_filepath=...)",
            options={"graph_optimization_level": "ORT_ENABLE_BASIC"},
        ),
        Recipe(
            name="int8-dynamic",
            precision="int8",
            summary="dynamic quantisation: int8 weights, activations quantised per batch",
            tool="onnxruntime.quantization.quantize_dynamic",
            options={
                "weight_type": "QInt8",
                "per_channel": False,
                "reduce_range": False,
                "op_types_to_quantize": ["MatMul", "Gemm"],
                "extra_options": {"MatMulConstBOnly": True},
            },
        ),
        Recipe(
            name="int8-static",
            precision="int8",
            summary="static quantisation (QDQ, S8S8), calibrated on the evaluation inputs",
            tool="onnxruntime.quantization.quantize_static",
            options={
                "quant_format": "QDQ",
                "activation_type": "QInt8",
                "weight_type": "QInt8",
                "per_channel": True,
                "calibrate_method": "MinMax",
                "op_types_to_quantize": ["MatMul", "Gemm"],
                "calibration_rows": 256,
                "extra_options": {"MatMulConstBOnly": True},
            },
        ),
        Recipe(
            name="fp16",
            precision="fp16",
            summary="float16 weights and arithmetic, float32 inputs and outputs",
            tool="onnxruntime.transformers.float16.convert_float_to_float16",
            options={"keep_io_types": True},
        ),
    )
}


def _fp32_basic(recipe: Recipe, graph: bytes, _: Mapping[str, np.ndarray], scratch: Path) -> bytes:
    import onnxruntime as ort

    out = scratch / "fp32-basic.onnx"
    options = session_options(threads=1, level="basic")
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    return _portable(onnx.load_model(str(out), load_external_data=False))


def _int8_dynamic(
    recipe: Recipe, graph: bytes, _: Mapping[str, np.ndarray], scratch: Path
) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, out = scratch / "int8-dynamic-in.onnx", scratch / "int8-dynamic.onnx"
    source.write_bytes(graph)
    o = recipe.options
    with _quiet():
        quantize_dynamic(
            source,
            out,
            weight_type=QuantType[o["weight_type"]],
            per_channel=o["per_channel"],
            reduce_range=o["reduce_range"],
            op_types_to_quantize=list(o["op_types_to_quantize"]),
            extra_options=dict(o["extra_options"]),
        )
    return _portable(onnx.load_model(str(out), load_external_data=False))


def _int8_static(
    recipe: Recipe, graph: bytes, calibration: Mapping[str, np.ndarray], scratch: Path
) -> bytes:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    o = recipe.options
    rows = int(o["calibration_rows"])

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            name, data = next(iter(calibration.items()))
            self._batches = iter(
                [{name: data[i : i + 32]} for i in range(0, min(rows, len(data)), 32)]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    source, out = scratch / "int8-static-in.onnx", scratch / "int8-static.onnx"
    source.write_bytes(graph)
    with _quiet():
        quantize_static(
            source,
            out,
            Reader(),
            quant_format=QuantFormat[o["quant_format"]],
            activation_type=QuantType[o["activation_type"]],
            weight_type=QuantType[o["weight_type"]],
            per_channel=o["per_channel"],
            calibrate_method=CalibrationMethod[o["calibrate_method"]],
            op_types_to_quantize=list(o["op_types_to_quantize"]),
            extra_options=dict(o["extra_options"]),
        )
    return _portable(onnx.load_model(str(out), load_external_data=False))


def _fp16(recipe: Recipe, graph: bytes, _: Mapping[str, np.ndarray], scratch: Path) -> bytes:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load_model_from_string(graph)
    with _quiet():
        converted = convert_float_to_float16(model, keep_io_types=recipe.options["keep_io_types"])
    _sort_topologically(converted.graph)  # the converter appends its input Casts at the end
    return _portable(converted)


def _sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder the graph's nodes so that each comes after the producers of its inputs (stable:
    nodes already in order keep it)."""
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ValueError("the graph has a cycle or an input nothing produces")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    copied = [onnx.NodeProto() for _ in ordered]
    for target, node in zip(copied, ordered, strict=True):
        target.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copied)


_BUILDERS: Final[dict[str, Callable[[Recipe, bytes, Mapping[str, np.ndarray], Path], bytes]]] = {
    "fp32-basic": _fp32_basic,
    "int8-dynamic": _int8_dynamic,
    "int8-static": _int8_static,
    "fp16": _fp16,
}


def _portable(model: onnx.ModelProto) -> bytes:
    """The model with only the operator domains it uses declared (ONNX Runtime declares every
    domain it knows in what it saves, used or not) and no stale shape hints."""
    used = {node.domain or "" for node in model.graph.node}
    used = {"" if d in DEFAULT_DOMAINS else d for d in used} | {""}
    keep = [
        entry
        for entry in model.opset_import
        if ("" if entry.domain in DEFAULT_DOMAINS else entry.domain) in used
    ]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    del model.graph.value_info[:]
    data: bytes = model.SerializeToString()
    return data


class _quiet:
    """ONNX Runtime's quantiser logs advice on the root logger; keep it out of the service log."""

    def __enter__(self) -> None:
        self._level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().setLevel(self._level)
