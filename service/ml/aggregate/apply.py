"""The aggregate version's weights: the base plus the aggregated delta. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from service.errors import InvalidInput
from service.ml.aggregate.numerics import BLOCK, blocks, to_dtype
from service.ml.tensors import FLOAT_DTYPES, float_dtype_code


def apply_update(
    base: Mapping[str, np.ndarray], delta: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """``base + delta`` per tensor: the sum in float64, rounded once into the base's dtype.

    Both must hold the same tensor names and shapes, all floating point; a sum that leaves the
    base dtype's range (±inf) is refused, since the result would not be a usable model.
    """
    if base.keys() != delta.keys():
        missing = sorted(base.keys() - delta.keys())
        extra = sorted(delta.keys() - base.keys())
        raise InvalidInput(
            "the delta does not hold the base's tensors: "
            + "; ".join(
                ([f"missing {missing[:5]}"] if missing else [])
                + ([f"not in the base {extra[:5]}"] if extra else [])
            )
        )
    weights: dict[str, np.ndarray] = {}
    for name in sorted(base):
        b, d = base[name], delta[name]
        for role, array in (("base", b), ("delta", d)):
            if not isinstance(array, np.ndarray) or float_dtype_code(array.dtype) is None:
                raise InvalidInput(
                    f"{role} tensor {name!r} is not a floating-point numpy array "
                    f"({', '.join(FLOAT_DTYPES)})"
                )
        if b.shape != d.shape:
            raise InvalidInput(
                f"tensor {name!r} has shape {list(d.shape)} in the delta but {list(b.shape)} in "
                "the base"
            )
        dtype = b.dtype.newbyteorder("<")
        flat_b, flat_d = np.ravel(b), np.ravel(d)
        out = np.empty(flat_b.size, dtype=dtype)
        acc = np.empty(min(BLOCK, out.size))
        for part in blocks(out.size):
            a = acc[: part.stop - part.start]
            np.copyto(a, flat_b[part], casting="safe")
            np.add(a, flat_d[part], out=a)
            rounded = to_dtype(a, dtype)
            if not np.isfinite(rounded).all():
                index = part.start + int(np.argmin(np.isfinite(rounded)))
                raise InvalidInput(
                    f"tensor {name!r}: base + delta is not finite in "
                    f"{float_dtype_code(dtype)} at element {index} (base {float(flat_b[index])!r}"
                    f", delta {float(flat_d[index])!r}); the delta is unusable for this base"
                )
            out[part] = rounded
        weights[name] = out.reshape(b.shape)
    return weights


def aggregate_file(base_bytes: bytes, delta: Mapping[str, np.ndarray]) -> bytes:
    """The aggregate version's artifact: ``base + delta`` as canonical safetensors carrying the
    base's ``__metadata__`` (its architecture, say), so the aggregate loads wherever the base
    does. The same base and delta give the same bytes, hence the same CID, anywhere."""
    from service.ml.safetensors_format import SafetensorsValidator
    from service.ml.tensors import canonical_safetensors, read_safetensors

    validator = SafetensorsValidator()
    validator.feed(base_bytes)
    metadata = validator.finish().metadata
    return canonical_safetensors(apply_update(read_safetensors(base_bytes), delta), metadata)
