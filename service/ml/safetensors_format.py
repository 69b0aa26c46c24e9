"""Streaming validation of untrusted safetensors bytes. Pure: no I/O, nothing is executed.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of UTF-8 JSON
(an object: optional ``"__metadata__"`` mapping str to str, and one entry per tensor with
``dtype``, ``shape`` and ``data_offsets``), then the tensors' bytes back to back. The validator
buffers the header only; tensor bytes are counted, never kept, so memory stays bounded by the
header limit whatever the file's size.

It is deliberately stricter than the reference parser (safetensors 0.8) where the reference is
lenient in ways that make a file ambiguous or undocumented: duplicate JSON keys, whitespace
before the opening brace, ``"__metadata__": null`` and unknown fields in a tensor entry are
rejected. Everything it accepts, the reference accepts with the same tensors (a property test
checks this).
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from service.errors import InvalidArtifact

Chunk = bytes | bytearray | memoryview

#: The format name used in the API and in :func:`service.ml.formats.artifact_validator`.
SAFETENSORS: Final = "safetensors"

#: The largest JSON header accepted: 8 MiB. The header is buffered and parsed whole, so this
#: bounds an upload's memory; safetensors' own limit (``MAX_HEADER_SIZE``, 100 MB) let a single
#: upload take ~290 MB. 8 MiB holds about 70,000 tensor entries and costs about 70 MB and 0.6 s
#: to parse (measured); real single-file checkpoints have hundreds to a few thousand tensors
#: (under 1 MiB of header), and the largest sharded models stay under 10,000 per file.
MAX_HEADER_BYTES: Final = 8 * 2**20

#: Bits per element of every dtype the safetensors 0.8 format defines.
DTYPE_BITS: Final[Mapping[str, int]] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

_PREFIX_BYTES: Final = 8
_MAX_U64: Final = 2**64 - 1
_TENSOR_FIELDS: Final = frozenset({"dtype", "shape", "data_offsets"})
_short = reprlib.Repr()  # keyword arguments need Python 3.12
_short.maxstring = _short.maxother = 60
_short.maxlist = 8


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data_offsets: tuple[int, int]

    @property
    def numel(self) -> int:
        """The number of elements (1 for a scalar, 0 if any dimension is 0)."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class SafetensorsSummary:
    """What a valid safetensors file holds; tensors in the order of their bytes in the file."""

    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str]
    parameter_count: int
    header_size: int
    data_size: int
    size: int
    format: str = field(default=SAFETENSORS)

    @property
    def names(self) -> tuple[str, ...]:
        """The tensors' names, in data order."""
        return tuple(t.name for t in self.tensors)


def _fail(message: str) -> InvalidArtifact:
    return InvalidArtifact(f"invalid safetensors file: {message}")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _fail(f"the header names {key!r} twice")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> None:
    raise _fail(f"the header contains {name}, which is not JSON")


def _is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX_U64


def _what_it_looks_like(prefix: bytes) -> str:
    if prefix.startswith(b"PK\x03\x04"):
        return " (it looks like a zip archive: a torch.save pickle or a .pt2 archive)"
    if prefix[:1] == b"\x80" and prefix[1:2] in {b"\x02", b"\x03", b"\x04", b"\x05"}:
        return " (it looks like a Python pickle, which is never loaded)"
    return ""


class SafetensorsValidator:
    """Validates a safetensors file fed in chunks of any size; :meth:`finish` returns a summary.

    Only the JSON header is buffered (at most ``max_header_bytes``); a header length beyond that
    is rejected as soon as its 8 bytes arrive, and bytes past the declared end as soon as they
    arrive. After an error, the validator keeps raising that error.
    """

    format: str = SAFETENSORS

    def __init__(self, *, max_header_bytes: int = MAX_HEADER_BYTES) -> None:
        self._max_header_bytes = max_header_bytes
        self._prefix = bytearray()
        self._header = bytearray()
        self._header_len: int | None = None
        self._summary: SafetensorsSummary | None = None  # set once the header is parsed
        self._data_seen = 0
        self._size = 0
        self._error: InvalidArtifact | None = None
        self._finished = False

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    @property
    def header(self) -> SafetensorsSummary | None:
        """What the header declares, once all of it has arrived and passed the checks (the data
        section may still be incomplete: :meth:`finish` checks that)."""
        return self._summary

    def feed(self, chunk: Chunk) -> None:
        """Consume the next bytes of the file; raises InvalidArtifact as soon as they are wrong."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if self._error is not None:
            raise self._error
        data = memoryview(chunk).cast("B")
        self._size += len(data)
        try:
            self._consume(data)
        except InvalidArtifact as exc:
            self._error = exc
            raise

    def finish(self) -> SafetensorsSummary:
        """Check that the file is complete and return what it holds."""
        if self._error is not None:
            raise self._error
        self._finished = True
        if self._header_len is None:
            raise _fail(
                f"truncated: the file has {self._size} bytes, fewer than the 8-byte header "
                "length that starts a safetensors file"
            )
        summary = self._summary
        if summary is None:
            raise _fail(
                f"truncated: the header length says {self._header_len} bytes of JSON follow, "
                f"but the file ends after {len(self._header)} of them"
            )
        if self._data_seen < summary.data_size:
            raise _fail(
                f"truncated: the header declares {summary.data_size} bytes of tensor data, "
                f"but the file holds only {self._data_seen}"
            )
        return summary

    def _consume(self, data: memoryview) -> None:
        pos = 0
        if self._header_len is None:
            pos = min(_PREFIX_BYTES - len(self._prefix), len(data))
            self._prefix += data[:pos]
            if len(self._prefix) < _PREFIX_BYTES:
                return
            self._header_len = self._check_header_len(bytes(self._prefix))
        if self._summary is None:
            take = min(self._header_len - len(self._header), len(data) - pos)
            self._header += data[pos : pos + take]
            pos += take
            if len(self._header) < self._header_len:
                return
            self._summary = self._parse_header(bytes(self._header))
            self._header = bytearray()  # parsed: free it
        self._data_seen += len(data) - pos
        if self._data_seen > self._summary.data_size:
            raise _fail(
                f"unexpected bytes after the end of the tensor data: the header declares "
                f"{self._summary.data_size} data bytes, but at least "
                f"{self._data_seen - self._summary.data_size} more follow"
            )

    def _check_header_len(self, prefix: bytes) -> int:
        header_len = int.from_bytes(prefix, "little")
        if header_len > self._max_header_bytes:
            raise _fail(
                f"the header length {header_len} exceeds the limit of {self._max_header_bytes} "
                f"bytes{_what_it_looks_like(prefix)}; the service parses the JSON header whole, "
                "so it bounds its size (a real model's header is far smaller)"
            )
        if header_len < 2:
            raise _fail(f"the header length {header_len} is too small for a JSON object")
        return header_len

    def _parse_header(self, raw: bytes) -> SafetensorsSummary:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(f"the header is not valid UTF-8 (at header byte {exc.start})") from None
        if not text.startswith("{"):
            raise _fail(f"the header must be a JSON object starting with '{{', not {text[:20]!r}")
        try:
            obj = json.loads(
                text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant
            )
        except json.JSONDecodeError as exc:
            reason = f"{exc.msg} at header byte {exc.pos}"
            raise _fail(f"the header is not valid JSON: {reason}") from None
        except RecursionError:
            raise _fail("the header's JSON is nested too deeply") from None
        if not isinstance(obj, dict):
            raise _fail("the header must be a JSON object")
        metadata = _check_metadata(obj.pop("__metadata__", {}))
        tensors = sorted(
            (_check_tensor(name, entry) for name, entry in obj.items()),
            key=lambda t: (t.data_offsets, t.name),
        )
        data_size = _check_layout(tensors)
        return SafetensorsSummary(
            tensors=tuple(tensors),
            metadata=metadata,
            parameter_count=sum(t.numel for t in tensors),
            header_size=len(raw),
            data_size=data_size,
            size=_PREFIX_BYTES + len(raw) + data_size,
        )


def with_sorted_metadata(data: bytes) -> bytes:
    """The same safetensors file with its ``__metadata__`` keys in sorted order (canonical bytes).

    safetensors 0.8 writes ``__metadata__`` from a Rust ``HashMap``, whose order changes from
    one call to the next: the same tensors and metadata give different bytes, and so different
    content addresses. Rewriting the header with sorted metadata makes the bytes a function of
    the content. The tensor entries keep their order and the data section is unchanged.
    """
    validator = SafetensorsValidator()
    validator.feed(data)
    summary = validator.finish()
    header = json.loads(data[_PREFIX_BYTES : _PREFIX_BYTES + summary.header_size])
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
    metadata = {"__metadata__": dict(sorted(summary.metadata.items()))} if summary.metadata else {}
    canonical = {**metadata, **tensors}
    text = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # as safetensors does: tensor data starts 8-byte aligned
    tensor_data = data[len(data) - summary.data_size :]
    return len(text).to_bytes(_PREFIX_BYTES, "little") + text + tensor_data


def _check_str(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(f"{what} {value!r} is not valid Unicode (lone surrogate)") from None


def _check_metadata(metadata: object) -> dict[str, str]:
    if not isinstance(metadata, dict):
        raise _fail(f"'__metadata__' must be an object of strings, not {_short.repr(metadata)}")
    for key, value in metadata.items():
        _check_str(key, "the metadata key")
        if not isinstance(value, str):
            raise _fail(f"metadata value for {key!r} must be a string, not {_short.repr(value)}")
        _check_str(value, f"the metadata value for {key!r}")
    return metadata


def _check_tensor(name: str, entry: object) -> TensorInfo:
    _check_str(name, "the tensor name")
    if not isinstance(entry, dict):
        raise _fail(f"tensor {name!r} must be an object, not {_short.repr(entry)}")
    missing = sorted(_TENSOR_FIELDS - entry.keys())
    if missing:
        raise _fail(f"tensor {name!r} has no {', '.join(map(repr, missing))}")
    unexpected = sorted(entry.keys() - _TENSOR_FIELDS)
    if unexpected:
        raise _fail(f"tensor {name!r} has unexpected field(s) {', '.join(map(repr, unexpected))}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _fail(
            f"tensor {name!r} has unknown dtype {_short.repr(dtype)}; "
            f"safetensors dtypes are {', '.join(DTYPE_BITS)}"
        )
    if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
        raise _fail(
            f"tensor {name!r} shape must be a list of non-negative integers, "
            f"not {_short.repr(shape)}"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_u64, offsets))):
        raise _fail(
            f"tensor {name!r} data_offsets must be [begin, end] (non-negative integers), "
            f"not {_short.repr(offsets)}"
        )
    begin, end = offsets
    if end < begin:
        raise _fail(f"tensor {name!r} data_offsets [{begin}, {end}] end before they begin")
    bits = DTYPE_BITS[dtype] * math.prod(shape)
    if bits % 8:
        raise _fail(
            f"tensor {name!r} ({dtype}, shape {shape}) does not fill a whole number of bytes"
        )
    if end - begin != bits // 8:
        raise _fail(
            f"tensor {name!r} ({dtype}, shape {shape}) needs {bits // 8} bytes, but its "
            f"data_offsets [{begin}, {end}] span {end - begin}"
        )
    return TensorInfo(name=name, dtype=dtype, shape=tuple(shape), data_offsets=(begin, end))


def _check_layout(tensors: list[TensorInfo]) -> int:
    """Check that the tensors (sorted by offsets) tile the data section from byte 0; return its
    size."""
    end = 0
    previous: TensorInfo | None = None
    for tensor in tensors:
        begin = tensor.data_offsets[0]
        if begin < end:
            assert previous is not None
            raise _fail(
                f"tensor {tensor.name!r} (data_offsets {list(tensor.data_offsets)}) overlaps "
                f"tensor {previous.name!r} (data_offsets {list(previous.data_offsets)})"
            )
        if begin > end:
            raise _fail(
                f"gap in the tensor data: bytes {end} to {begin} belong to no tensor "
                f"(tensor {tensor.name!r} starts at {begin})"
            )
        end = tensor.data_offsets[1]
        previous = tensor
    return end
