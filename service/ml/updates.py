"""Streaming validation of an uploaded federated update against the round's base version.

An update is a safetensors file holding the delta of every base tensor: exactly the base's
tensor names, shapes and dtypes (floating point; the header's ``__metadata__`` is free), every
value finite, and an L2 norm within the round's bound. :class:`UpdateValidator` checks all of it
while the bytes stream in and refuses at the first byte that settles it; it keeps the JSON
header (bounded) and fewer bytes than one element between chunks, and unpickles nothing.

The norm is ``sqrt(Σ x²)`` over every element of every tensor in file order (tensors by their
data offsets, elements in storage order), each square and each addition in float64, strictly
left to right (``np.add.accumulate``). So it is one number whatever the chunking, and since the
running sum only grows, an update is refused as soon as its norm so far passes the bound. Pure:
no I/O.

Usage::

    validator = UpdateValidator(base_summary, norm_bound=10.0)
    for chunk in request_body:
        validator.feed(chunk)  # raises InvalidArtifact as soon as the update is known bad
    summary = validator.finish()  # summary.norm
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.errors import InvalidArtifact, InvalidInput
from service.ml.safetensors_format import (
    MAX_HEADER_BYTES,
    Chunk,
    SafetensorsSummary,
    SafetensorsValidator,
    TensorInfo,
)
from service.ml.tensors import (
    FLOAT_DTYPES,
    canonical_safetensors,
    float_dtype_code,
    read_safetensors,
)

#: The dtypes an update's tensors may have (safetensors codes) and how many bytes an element is.
UPDATE_DTYPES: Final = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}

#: Elements squared and summed per numpy call: bounds the temporaries (about 1.5 MiB) whatever
#: the chunk size.
_ELEMENTS_PER_STEP: Final = 65_536
_PREFIX_BYTES: Final = 8


@dataclass(frozen=True)
class UpdateSummary:
    """A valid update: its L2 norm, its tensors in file order and its layout."""

    norm: float
    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str]
    parameter_count: int
    header_size: int
    data_size: int
    size: int


def _fail(message: str) -> InvalidArtifact:
    return InvalidArtifact(f"invalid update: {message}")


def _check_base(base: SafetensorsSummary) -> None:
    for tensor in base.tensors:
        if tensor.dtype not in UPDATE_DTYPES:
            raise InvalidInput(
                f"the base's tensor {tensor.name!r} is {tensor.dtype}; federated updates cover "
                f"floating-point tensors only ({', '.join(UPDATE_DTYPES)}), so this base "
                "cannot take updates"
            )


def expected_size(base_summary: SafetensorsSummary) -> int:
    """The exact size in bytes of the tensor data of every valid update of this base.

    The whole file is 8 bytes, the JSON header (whose length its first 8 bytes give; only the
    metadata and the key order may make it differ from the base's) and then exactly this many
    bytes. :attr:`UpdateValidator.expected_total_size` gives the total once the length is read.
    """
    _check_base(base_summary)
    return base_summary.data_size


class UpdateValidator:
    """Validates one update of ``base`` fed in chunks of any size; :meth:`finish` returns its
    summary. After an error, it keeps raising that error."""

    def __init__(
        self,
        base: SafetensorsSummary,
        *,
        norm_bound: float,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        _check_base(base)
        if not (type(norm_bound) in (int, float) and math.isfinite(norm_bound) and norm_bound >= 0):
            raise InvalidInput(f"the norm bound must be a finite number ≥ 0, not {norm_bound!r}")
        self._base = {t.name: t for t in base.tensors}
        self._data_size = base.data_size
        self._bound = float(norm_bound)
        self._inner = SafetensorsValidator(max_header_bytes=max_header_bytes)
        self._prefix = bytearray()
        self._tensors: tuple[TensorInfo, ...] | None = None  # the update's, once checked
        self._data_start = 0
        self._index = 0  # tensor being read
        self._offset = 0  # bytes of it read
        self._carry = bytearray()  # the start of an element split between chunks
        self._sum_of_squares = 0.0
        self._steps = np.empty(_ELEMENTS_PER_STEP + 1)
        self._error: InvalidArtifact | None = None

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._inner.size

    @property
    def expected_total_size(self) -> int | None:
        """The exact size of the whole file once its first 8 bytes are in, else None."""
        if len(self._prefix) < _PREFIX_BYTES:
            return None
        return _PREFIX_BYTES + int.from_bytes(self._prefix, "little") + self._data_size

    @property
    def norm(self) -> float:
        """The L2 norm of the elements read so far."""
        return math.sqrt(self._sum_of_squares)

    def feed(self, chunk: Chunk) -> None:
        """Consume the next bytes of the update; raises InvalidArtifact as soon as it is bad."""
        if self._error is not None:
            raise self._error
        data = memoryview(chunk).cast("B")
        before = self._inner.size
        try:
            self._inner.feed(data)
            if len(self._prefix) < _PREFIX_BYTES:
                self._prefix += data[: _PREFIX_BYTES - len(self._prefix)]
            header = self._inner.header
            if header is None:
                return
            if self._tensors is None:
                self._tensors = self._check_header(header)
                self._data_start = header.size - header.data_size
            skip = max(0, self._data_start - before)
            self._consume(data[skip:])
        except InvalidArtifact as exc:
            self._error = exc
            raise

    def finish(self) -> UpdateSummary:
        """Check that the update is complete and return its summary."""
        if self._error is not None:
            raise self._error
        summary = self._inner.finish()
        return UpdateSummary(
            norm=self.norm,
            tensors=summary.tensors,
            metadata=summary.metadata,
            parameter_count=summary.parameter_count,
            header_size=summary.header_size,
            data_size=summary.data_size,
            size=summary.size,
        )

    def _check_header(self, header: SafetensorsSummary) -> tuple[TensorInfo, ...]:
        found = {t.name: t for t in header.tensors}
        extra = sorted(found.keys() - self._base.keys())
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise _fail(f"it holds tensor {extra[0]!r}{more}, which the base does not have")
        missing = sorted(self._base.keys() - found.keys())
        if missing:
            want = self._base[missing[0]]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise _fail(
                f"it lacks tensor {want.name!r} ({want.dtype}, shape {list(want.shape)}){more}, "
                "which the base has; an update holds the delta of every base tensor"
            )
        for name in sorted(found):
            got, want = found[name], self._base[name]
            if got.dtype != want.dtype:
                raise _fail(
                    f"tensor {name!r} is {got.dtype}, but the base's is {want.dtype}; an update "
                    "has the base's dtypes"
                )
            if got.shape != want.shape:
                raise _fail(
                    f"tensor {name!r} has shape {list(got.shape)}, but the base's is "
                    f"{list(want.shape)}"
                )
        return header.tensors

    def _consume(self, data: memoryview) -> None:
        tensors = self._tensors
        assert tensors is not None
        while True:
            while self._index < len(tensors) and self._offset == _nbytes(tensors[self._index]):
                self._index += 1
                self._offset = 0
            if not data:
                return
            tensor = tensors[self._index]  # the inner validator refused bytes past the end
            piece = data[: _nbytes(tensor) - self._offset]
            data = data[len(piece) :]
            self._tensor_bytes(tensor, piece)
            self._offset += len(piece)

    def _tensor_bytes(self, tensor: TensorInfo, piece: memoryview) -> None:
        item = UPDATE_DTYPES[tensor.dtype]
        first = self._offset // item  # index of the first element that starts in this piece
        if self._carry:
            need = item - len(self._carry)
            self._carry += piece[:need]
            piece = piece[need:]
            if len(self._carry) < item:
                return
            self._values(tensor, memoryview(bytes(self._carry)), first)
            self._carry.clear()
            first += 1
        whole = len(piece) - len(piece) % item
        step = _ELEMENTS_PER_STEP * item
        for start in range(0, whole, step):
            stop = min(whole, start + step)
            self._values(tensor, piece[start:stop], first + start // item)
        self._carry += piece[whole:]

    def _values(self, tensor: TensorInfo, raw: memoryview, first: int) -> None:
        values = _decode(tensor.dtype, raw)
        finite = np.isfinite(values)
        if not finite.all():
            index = int(np.argmin(finite))
            value = float(values[index])
            kind = "NaN" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
            raise _fail(
                f"tensor {tensor.name!r} holds {kind} at element {first + index}; every value "
                "of an update must be finite"
            )
        steps = self._steps[: len(values) + 1]
        steps[0] = self._sum_of_squares
        with np.errstate(over="ignore"):  # a float64 square may overflow: inf is refused below
            np.multiply(values, values, out=steps[1:], dtype=np.float64)
            np.add.accumulate(steps, out=steps)
        self._sum_of_squares = float(steps[-1])
        if math.sqrt(self._sum_of_squares) > self._bound:
            # the first element at which the running norm passes the bound
            at = int(np.argmax(np.sqrt(steps[1:]) > self._bound))
            raise _fail(
                f"its L2 norm passes the round's bound {self._bound!r} at element {first + at} "
                f"of tensor {tensor.name!r}, where it reaches {math.sqrt(steps[1 + at])!r}; "
                "clip the update to the bound and submit it again"
            )


def _nbytes(tensor: TensorInfo) -> int:
    return tensor.data_offsets[1] - tensor.data_offsets[0]


def _decode(dtype: str, raw: memoryview) -> np.ndarray:
    """Little-endian elements as float64 (F64) or float32 (the others, exactly)."""
    if dtype == "BF16":
        high = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return high.view(np.float32)
    return np.frombuffer(raw, dtype={"F64": "<f8", "F32": "<f4", "F16": "<f2"}[dtype])


# ---------------------------------------------------------------- computing an update


def compute_update(base: bytes, trained: Mapping[str, np.ndarray]) -> bytes:
    """The update a participant submits: ``trained`` (the weights after local training, as
    arrays) minus ``base`` (the round's base, safetensors bytes), tensor by tensor, as
    canonical safetensors (``__metadata__`` ``{"kind": "delta"}``), so the same weights give the
    same bytes, hence the same CID, on every machine.

    Each difference is taken in float64 and rounded once into the base's dtype, the way the
    aggregate is added back. Refused with InvalidInput, before anything is computed, unless
    ``trained`` has exactly the base's tensor names, shapes and dtypes and only finite values:
    the gate would refuse such an update after its upload, and a mismatch usually means the
    wrong checkpoint or the wrong base."""

    base_tensors = read_safetensors(base)
    problems = []
    for name in sorted(base_tensors.keys() | trained.keys()):
        if name not in trained:
            problems.append(f"{name!r} is in the base but not in the trained weights")
            continue
        if name not in base_tensors:
            problems.append(f"{name!r} is in the trained weights but not in the base")
            continue
        want, got = base_tensors[name], np.asarray(trained[name])
        want_code, got_code = float_dtype_code(want.dtype), float_dtype_code(got.dtype)
        if want_code is None or want_code not in UPDATE_DTYPES:
            problems.append(f"the base's {name!r} is {want.dtype}, not floating point")
        elif got_code != want_code:
            problems.append(f"{name!r} is {got_code or got.dtype} here but {want_code} in the base")
        if got.shape != want.shape:
            problems.append(
                f"{name!r} has shape {list(got.shape)} here, {list(want.shape)} in the base"
            )
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InvalidInput(
            "the trained weights do not match the base: "
            + "; ".join(problems[:5])
            + more
            + ". Train from the round's base (govledger rounds base ROUND) and keep its "
            "tensors' names, shapes and dtypes"
        )
    delta: dict[str, np.ndarray] = {}
    for name, want in base_tensors.items():
        got = np.asarray(trained[name])
        if not np.isfinite(got.astype(np.float64)).all():
            raise InvalidInput(f"the trained weights' {name!r} holds values that are not finite")
        dtype = FLOAT_DTYPES[str(float_dtype_code(want.dtype))]
        delta[name] = (got.astype(np.float64) - want.astype(np.float64)).astype(dtype)
    return canonical_safetensors(delta, {"kind": "delta"})
