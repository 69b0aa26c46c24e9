"""Validation of untrusted ONNX bytes. Pure: no I/O; the bytes are parsed as a protobuf message
and checked, nothing is executed (no ONNX Runtime session, no shape inference run over data).

An ONNX model is one ``ModelProto`` message: the graph (nodes, each an operator of a *domain*
at the model's *opset*), its weights as initializers, and the graph's typed inputs and
outputs. A model can run anywhere only if every operator belongs to the standard domains and
every byte it needs is inside the file, so the validator accepts:

- the default domain (``""`` / ``ai.onnx``) at an opset in ``[MIN_OPSET, MAX_OPSET]`` and
  optionally ``ai.onnx.ml``; no other domain is declared or used (a custom-op domain such as
  ``com.microsoft`` needs a runtime's own kernels, or a shared library loaded into it);
- operators that the ``onnx`` package knows at that opset, in the graph and in any subgraph
  (``If``/``Loop``/``Scan`` bodies);
- no model-local functions (they are how a file defines operators of its own);
- no external data: every tensor (initializers, sparse initializers, constants in attributes)
  holds its bytes inside the file. A runtime resolves external data as *paths* next to the
  model, so a file naming ``/etc/passwd`` as its weights would read that file;
- at most ``MAX_ONNX_BYTES`` (the message is parsed whole) and ``MAX_NODES`` nodes;
- at least one graph input that is not an initializer, and tensor-typed inputs and outputs;
- and what ``onnx.checker.check_model`` checks of the structure.

Bytes that start like a zip (``torch.save``, ``.pt2``) or a pickle are refused on their first
bytes, before the rest is buffered.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, ModelProto, TensorProto

from service.errors import InvalidArtifact

Chunk = bytes | bytearray | memoryview

#: The format name used in the API and in :func:`service.ml.formats.artifact_validator`.
ONNX: Final = "onnx"

#: Largest ONNX file accepted: the message is parsed whole (protobuf's own bound is 2 GiB; a
#: larger model needs external data, which is refused).
MAX_ONNX_BYTES: Final = 512 * 2**20
MAX_NODES: Final = 200_000
MIN_IR_VERSION: Final = 7
MIN_OPSET: Final = 13
#: The newest default-domain opset the installed ``onnx`` package describes.
MAX_OPSET: Final = onnx.defs.onnx_opset_version()
DEFAULT_DOMAINS: Final = frozenset({"", "ai.onnx"})
ML_DOMAIN: Final = "ai.onnx.ml"
ALLOWED_DOMAINS: Final = DEFAULT_DOMAINS | {ML_DOMAIN}
_MAX_DEPTH: Final = 16

#: ONNX element types by their numpy-style names (the ones a served model may take or give).
ELEMENT_TYPES: Final[dict[int, str]] = {
    TensorProto.FLOAT: "float32",
    TensorProto.DOUBLE: "float64",
    TensorProto.FLOAT16: "float16",
    TensorProto.BFLOAT16: "bfloat16",
    TensorProto.INT8: "int8",
    TensorProto.UINT8: "uint8",
    TensorProto.INT16: "int16",
    TensorProto.UINT16: "uint16",
    TensorProto.INT32: "int32",
    TensorProto.UINT32: "uint32",
    TensorProto.INT64: "int64",
    TensorProto.UINT64: "uint64",
    TensorProto.BOOL: "bool",
}


@dataclass(frozen=True)
class TensorSpec:
    """A graph input or output: its name, element type and shape (an int for a fixed
    dimension, a name for a symbolic one such as ``"batch"``, None if unknown)."""

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]


@dataclass(frozen=True)
class OnnxSummary:
    """What a valid ONNX model holds."""

    ir_version: int
    opsets: dict[str, int]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    operators: tuple[str, ...]
    node_count: int
    parameter_count: int
    producer: str
    size: int
    format: str = field(default=ONNX)


def _fail(message: str) -> InvalidArtifact:
    return InvalidArtifact(f"invalid ONNX model: {message}")


class OnnxValidator:
    """Validates an ONNX model fed in chunks; :meth:`finish` parses and checks it whole.

    The bytes are buffered (at most ``max_bytes``); a zip or pickle prefix is refused as soon
    as it arrives. After an error, the validator keeps raising that error.
    """

    format: str = ONNX

    def __init__(self, *, max_bytes: int = MAX_ONNX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._error: InvalidArtifact | None = None
        self._finished = False

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return len(self._buffer)

    def feed(self, chunk: Chunk) -> None:
        """Consume the next bytes; raises InvalidArtifact once they cannot be an ONNX model."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if self._error is not None:
            raise self._error
        before = len(self._buffer)
        self._buffer += memoryview(chunk).cast("B")
        try:
            if before < 2 <= len(self._buffer) or (before == 0 and self._buffer):
                _check_prefix(bytes(self._buffer[:2]))
            if len(self._buffer) > self._max_bytes:
                raise _fail(
                    f"the file is larger than {self._max_bytes} bytes; an ONNX file is parsed "
                    "whole, so its size is bounded (larger models need external data, which "
                    "is refused)"
                )
        except InvalidArtifact as exc:
            self._error = exc
            self._buffer = bytearray()
            raise

    def finish(self) -> OnnxSummary:
        """Parse the model and check it (see the module docstring)."""
        if self._error is not None:
            raise self._error
        self._finished = True
        data = bytes(self._buffer)
        self._buffer = bytearray()
        try:
            return check_model_bytes(data)
        except InvalidArtifact as exc:
            self._error = exc
            raise


def _check_prefix(prefix: bytes) -> None:
    if prefix.startswith(b"PK"):
        raise _fail(
            "it is a zip archive (as torch.save and torch.export write), not an ONNX protobuf; "
            "pickled models are never loaded: export the model to ONNX"
        )
    if prefix[:1] == b"\x80" and prefix[1:2] in {b"\x02", b"\x03", b"\x04", b"\x05"}:
        raise _fail("it is a Python pickle, which is never loaded; export the model to ONNX")


def parse_model(data: bytes) -> ModelProto:
    """The ``ModelProto`` in ``data`` (protobuf parsing only), or InvalidArtifact."""
    if not data:
        raise _fail("the file is empty")
    _check_prefix(data[:2])
    model = ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise _fail(f"the bytes are not an ONNX protobuf message ({exc})") from None
    if not model.HasField("graph"):
        raise _fail("the message holds no graph (is it an ONNX model file?)")
    return model


def check_model_bytes(data: bytes) -> OnnxSummary:
    """Parse ``data`` and check it (see the module docstring); return what it holds."""
    if len(data) > MAX_ONNX_BYTES:
        raise _fail(f"the file has {len(data)} bytes, more than the limit of {MAX_ONNX_BYTES}")
    model = parse_model(data)
    opsets = _check_header(model)
    operators: set[str] = set()
    nodes = 0
    for depth, graph in _graphs(model.graph):
        if depth > _MAX_DEPTH:
            raise _fail(f"subgraphs are nested more than {_MAX_DEPTH} deep")
        for node in graph.node:
            nodes += 1
            if nodes > MAX_NODES:
                raise _fail(f"the graph has more than {MAX_NODES} nodes")
            domain = node.domain or ""
            if domain not in ALLOWED_DOMAINS:
                raise _fail(
                    f"node {node.name or node.op_type!r} uses operator {node.op_type!r} of "
                    f"domain {domain!r}; only the standard domains (ai.onnx, ai.onnx.ml) are "
                    "accepted, since a custom-op domain needs code outside the file to run"
                )
            version = opsets["ai.onnx" if domain in DEFAULT_DOMAINS else domain]
            try:
                onnx.defs.get_schema(node.op_type, version, "" if domain == "ai.onnx" else domain)
            except onnx.defs.SchemaError:
                raise _fail(
                    f"operator {node.op_type!r} does not exist in domain "
                    f"{domain or 'ai.onnx'!r} at opset {version}"
                ) from None
            operators.add(node.op_type if domain in DEFAULT_DOMAINS else f"{domain}.{node.op_type}")
            for attribute in node.attribute:
                for tensor in _attribute_tensors(attribute):
                    _check_embedded(tensor, f"a constant of node {node.name or node.op_type!r}")
        for tensor in graph.initializer:
            _check_embedded(tensor, f"initializer {tensor.name!r}")
        for sparse in graph.sparse_initializer:
            _check_embedded(sparse.values, f"sparse initializer {sparse.values.name!r}")
            _check_embedded(sparse.indices, f"sparse initializer {sparse.values.name!r}")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"the ONNX checker refuses it: {first}") from None
    inputs, outputs = graph_signature(model)
    return OnnxSummary(
        ir_version=model.ir_version,
        opsets=opsets,
        inputs=inputs,
        outputs=outputs,
        operators=tuple(sorted(operators)),
        node_count=nodes,
        parameter_count=sum(math.prod(t.dims) for t in model.graph.initializer),
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        size=len(data),
    )


def _check_header(model: ModelProto) -> dict[str, int]:
    if not MIN_IR_VERSION <= model.ir_version <= onnx.IR_VERSION:
        raise _fail(
            f"IR version {model.ir_version} is outside the accepted range "
            f"{MIN_IR_VERSION}..{onnx.IR_VERSION}"
        )
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "ai.onnx" if entry.domain in DEFAULT_DOMAINS else entry.domain
        if domain not in ("ai.onnx", ML_DOMAIN):
            raise _fail(
                f"it declares operator domain {entry.domain!r}; only the standard domains "
                "(ai.onnx, ai.onnx.ml) are accepted"
            )
        if domain in opsets:
            raise _fail(f"it declares domain {domain!r} twice")
        opsets[domain] = int(entry.version)
    default = opsets.get("ai.onnx")
    if default is None:
        raise _fail("it declares no opset of the default domain (ai.onnx)")
    if not MIN_OPSET <= default <= MAX_OPSET:
        raise _fail(
            f"opset {default} of the default domain is outside the accepted range "
            f"{MIN_OPSET}..{MAX_OPSET}; export with an opset in that range"
        )
    ml = opsets.get(ML_DOMAIN)
    ml_max = _ml_opset_max()
    if ml is not None and not 1 <= ml <= ml_max:
        raise _fail(f"opset {ml} of ai.onnx.ml is outside the accepted range 1..{ml_max}")
    if model.functions:
        names = ", ".join(sorted({f"{f.domain}.{f.name}" for f in model.functions})[:5])
        raise _fail(
            f"it defines model-local functions ({names}); operators a file defines itself are "
            "not accepted: export with functions inlined"
        )
    return opsets


@functools.cache
def _ml_opset_max() -> int:
    """The newest ai.onnx.ml opset the installed ``onnx`` package describes."""
    schemas = onnx.defs.get_all_schemas_with_history()
    return max((s.since_version for s in schemas if s.domain == ML_DOMAIN), default=1)


def _graphs(graph: GraphProto, depth: int = 0) -> Iterator[tuple[int, GraphProto]]:
    yield depth, graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                yield from _graphs(attribute.g, depth + 1)
            elif attribute.type == AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    yield from _graphs(sub, depth + 1)


def _attribute_tensors(attribute: AttributeProto) -> Iterator[TensorProto]:
    if attribute.type == AttributeProto.TENSOR:
        yield attribute.t
    elif attribute.type == AttributeProto.TENSORS:
        yield from attribute.tensors
    elif attribute.type == AttributeProto.SPARSE_TENSOR:
        yield attribute.sparse_tensor.values
        yield attribute.sparse_tensor.indices
    elif attribute.type == AttributeProto.SPARSE_TENSORS:
        for sparse in attribute.sparse_tensors:
            yield sparse.values
            yield sparse.indices


def _check_embedded(tensor: TensorProto, what: str) -> None:
    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
        raise _fail(
            f"{what} keeps its data outside the file (external data at {location!r}); a "
            "runtime would read that path on the serving machine, so only self-contained "
            "models are accepted: save with all tensors inside the file"
        )


def graph_signature(model: ModelProto) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The graph's inputs (initializers excluded) and outputs, each tensor-typed."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = tuple(_spec(v, "input") for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_spec(v, "output") for v in model.graph.output)
    if not inputs:
        raise _fail("the graph has no inputs besides its weights")
    if not outputs:
        raise _fail("the graph has no outputs")
    return inputs, outputs


def _spec(value: onnx.ValueInfoProto, role: str) -> TensorSpec:
    if value.type.WhichOneof("value") != "tensor_type":
        raise _fail(f"graph {role} {value.name!r} is not a tensor")
    tensor = value.type.tensor_type
    dtype = ELEMENT_TYPES.get(tensor.elem_type)
    if dtype is None:
        raise _fail(
            f"graph {role} {value.name!r} has element type {tensor.elem_type}, not one served"
        )
    shape: list[int | str | None] = []
    if tensor.HasField("shape"):
        for dim in tensor.shape.dim:
            kind = dim.WhichOneof("value")
            shape.append(
                dim.dim_value
                if kind == "dim_value"
                else dim.dim_param
                if kind == "dim_param"
                else None
            )
    return TensorSpec(name=value.name, dtype=dtype, shape=tuple(shape))
