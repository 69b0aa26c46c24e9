"""ONNX Runtime sessions, made only from bytes that pass the ONNX validator.

What runs is the graph of standard operators the validator accepted: ONNX Runtime's own kernels
for ai.onnx and ai.onnx.ml, on the CPU execution provider. No custom-op library is registered,
external data is refused before the session exists (so no path the file names is opened), and
nothing Python-level is deserialised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from service.errors import InvalidArtifact
from service.ml.onnx_format import OnnxSummary, TensorSpec, check_model_bytes

#: Graph optimisation levels by name, as recipes and settings spell them.
LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session_options(*, threads: int, level: str = "all") -> ort.SessionOptions:
    """Options for a serving or measuring session: ``threads`` intra-op threads, one inter-op
    thread, sequential execution, the given optimisation level (applied in memory at load)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = LEVELS[level]
    options.log_severity_level = 3
    return options


@dataclass
class LoadedModel:
    """A session and the graph signature it was validated with."""

    session: ort.InferenceSession
    summary: OnnxSummary

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self.summary.inputs

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs: list[np.ndarray] = self.session.run(None, feeds)
        return outputs

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """The first output for a batch fed to the only input."""
        return self.run({self.inputs[0].name: batch})[0]


def load_model(data: bytes, *, threads: int = 1, level: str = "all") -> LoadedModel:
    """Validate ``data`` as ONNX, then make a CPU session of it."""
    summary = check_model_bytes(data)
    try:
        session = ort.InferenceSession(
            data, session_options(threads=threads, level=level), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own exception types (Fail, NotImplemented, ...)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArtifact(f"ONNX Runtime cannot run this model: {message}") from exc
    return LoadedModel(session=session, summary=summary)
