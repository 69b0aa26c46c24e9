"""Shared helpers of the aggregation tests: participants and contributions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from eth_utils import to_checksum_address

from service.ml.aggregate import Contribution

#: Eight checksummed addresses, in ascending lowercase order (the aggregation order). Their
#: checksums mix cases, so a case-sensitive sort would put them in another order.
P = [
    to_checksum_address("0x" + pair * 20)
    for pair in ("0b", "1c", "2f", "5a", "aa", "bd", "cd", "ef")
]


def contributions(
    values: Sequence[Mapping[str, Sequence[float] | np.ndarray]],
    *,
    samples: Sequence[int] | None = None,
    dtype: object = np.float32,
) -> list[Contribution]:
    """One contribution per entry of ``values`` (tensor name to values), from P[0], P[1], …"""
    counts = samples or [1] * len(values)
    return [
        Contribution(
            participant=P[i],
            samples=counts[i],
            tensors={name: np.asarray(v, dtype=dtype) for name, v in tensors.items()},
        )
        for i, tensors in enumerate(values)
    ]


def bits(array: np.ndarray) -> bytes:
    """The array's dtype and bytes: equal only if bit for bit equal."""
    return array.dtype.str.encode() + repr(array.shape).encode() + array.tobytes()
