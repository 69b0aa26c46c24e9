"""Tensors as numpy arrays: safetensors bytes in (validated, zero-copy, nothing unpickled) and
canonical safetensors bytes out. Pure: no I/O.

numpy has no bfloat16; ``ml_dtypes.bfloat16`` (a numpy dtype from the JAX project) stands in, so
a BF16 tensor is an ordinary ``np.ndarray`` here. ``safetensors.numpy`` writes such arrays but
cannot read them, which is one reason :func:`read_safetensors` reads the bytes itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import ml_dtypes
import numpy as np
from safetensors.numpy import save as _numpy_save

from service.errors import InvalidArtifact
from service.ml.safetensors_format import SafetensorsValidator, with_sorted_metadata

#: The floating-point dtypes federated updates and aggregates may have, by safetensors code.
FLOAT_DTYPES: Final[Mapping[str, np.dtype]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
}

#: Every safetensors dtype numpy can hold, by safetensors code (little-endian, as in the file).
NUMPY_DTYPES: Final[Mapping[str, np.dtype]] = {
    **FLOAT_DTYPES,
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "C64": np.dtype("<c8"),
}

_BF16: Final = np.dtype(ml_dtypes.bfloat16)


def float_dtype_code(dtype: np.dtype) -> str | None:
    """The safetensors code (``"F32"``, …) of a floating dtype in either byte order, else None."""
    dtype = np.dtype(dtype)
    if dtype == _BF16:
        return "BF16"
    if dtype.kind != "f":
        return None
    native = dtype.newbyteorder("<")
    return next((code for code, d in FLOAT_DTYPES.items() if d == native), None)


def read_safetensors(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, validated first; read-only views of ``data``.

    Raises InvalidArtifact for bytes that are not a valid safetensors file and for a tensor
    whose dtype numpy cannot hold (the 8-, 6- and 4-bit float formats).
    """
    view = memoryview(data).cast("B")
    validator = SafetensorsValidator()
    validator.feed(view)
    summary = validator.finish()
    start = summary.size - summary.data_size
    tensors: dict[str, np.ndarray] = {}
    for info in summary.tensors:
        dtype = NUMPY_DTYPES.get(info.dtype)
        if dtype is None:
            raise InvalidArtifact(
                f"tensor {info.name!r} is {info.dtype}, which numpy cannot hold; "
                f"readable dtypes are {', '.join(NUMPY_DTYPES)}"
            )
        begin, end = info.data_offsets
        array = np.frombuffer(view[start + begin : start + end], dtype=dtype)
        array = array.reshape(info.shape)
        array.flags.writeable = False
        tensors[info.name] = array
    return tensors


def canonical_safetensors(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> bytes:
    """Safetensors bytes that depend only on the tensors (and metadata), never on dict order.

    Written by ``safetensors`` (which lays tensors out by dtype, then name) and passed through
    :func:`~service.ml.safetensors_format.with_sorted_metadata`, the canonical form every
    artifact of the ledger takes.
    """
    arrays = {name: np.require(array, requirements="C") for name, array in sorted(tensors.items())}
    return with_sorted_metadata(_numpy_save(arrays, metadata=dict(metadata or {}) or None))
