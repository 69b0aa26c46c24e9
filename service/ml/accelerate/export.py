"""PyTorch -> ONNX: one self-contained file (weights inside), a dynamic batch dimension.

``torch.onnx.export(..., dynamo=True)`` traces the module with ``torch.export`` and translates
the graph with onnxscript. The result is validated like an upload
(:func:`service.ml.onnx_format.check_model_bytes`). The exporter's intermediate ``value_info``
shapes are dropped: they are hints, and ONNX Runtime's quantiser trips over stale ones (it
transposes Gemm weights and then finds the recorded shape differs). So are the exporter's
provenance notes (``metadata_props`` naming each node's PyTorch source and stack): they do not
change what the graph computes, and in a small model they are a tenth of the file.
"""

from __future__ import annotations

import contextlib
import io
import logging

import onnx
import torch
from torch import nn

from service.errors import InvalidArtifact
from service.ml.onnx_format import check_model_bytes

#: The default-domain opset exports are written in (ONNX Runtime 1.22+ runs it).
EXPORT_OPSET = 20


def export_onnx(module: nn.Module, example: torch.Tensor, *, input_name: str = "pixels") -> bytes:
    """``module`` as ONNX bytes with a dynamic first (batch) dimension."""
    module.eval()
    batch = torch.export.Dim("batch", min=1)
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(quiet), torch.inference_mode(False):
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                dynamic_shapes={input_name: {0: batch}},
                opset_version=EXPORT_OPSET,
                external_data=False,
                optimize=True,
                verbose=False,
                report=False,
            )
    except Exception as exc:  # the exporter raises many kinds; say which step failed
        raise InvalidArtifact(f"the model could not be exported to ONNX: {exc}") from exc
    if program is None:
        raise InvalidArtifact("the ONNX exporter returned nothing")
    model = program.model_proto
    del model.graph.value_info[:]
    _strip_provenance(model)
    data: bytes = model.SerializeToString()
    check_model_bytes(data)
    return data


def _strip_provenance(model: onnx.ModelProto) -> None:
    del model.metadata_props[:]
    for node in model.graph.node:
        del node.metadata_props[:]
    for value in (*model.graph.input, *model.graph.output, *model.graph.initializer):
        del value.metadata_props[:]
