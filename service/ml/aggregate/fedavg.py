"""FedAvg: the sample-weighted mean of the updates (McMahan et al. 2017).

Per coordinate: ``(s₁·x₁ + s₂·x₂ + … + sₙ·xₙ) / (s₁ + … + sₙ)`` in float64, the sum taken
left to right in ascending address order, then rounded once into the update's dtype. With
float32/float16/bfloat16 updates and fewer than 2**29 samples in all, every product and every
partial sum over identical updates is exact, so their mean is that update exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.errors import InvalidInput
from service.ml.aggregate.base import (
    AggregateResult,
    AggregationRule,
    Inputs,
    check_params,
    find_non_finite,
)
from service.ml.aggregate.numerics import BLOCK, all_finite, blocks, store_rounded


class FedAvg(AggregationRule):
    """The sample-weighted mean; no parameters."""

    name: ClassVar[str] = "fedavg"

    @property
    def params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FedAvg:
        check_params(cls.name, params, cls.PARAMS)
        return cls()

    def _combine(self, inputs: Inputs) -> AggregateResult:
        weights = [float(c.samples) for c in inputs.contributions]  # exact: ≤ 2**53
        total = float(sum(c.samples for c in inputs.contributions))
        tensors = {
            name: weighted_mean(inputs, name, weights, total).reshape(inputs.shapes[name])
            for name in inputs.names
        }
        return AggregateResult(tensors=tensors, included=inputs.participants)


def weighted_mean(inputs: Inputs, name: str, weights: list[float], total: float) -> np.ndarray:
    """Tensor ``name`` of Σ wᵢ·xᵢ / total, flattened, in its dtype (float64 sum in input
    order)."""
    arrays = inputs.arrays(name)
    dtype = inputs.dtypes[name]
    out = np.empty(arrays[0].size, dtype=dtype)
    acc = np.empty(min(BLOCK, out.size))
    term = np.empty_like(acc)
    for part in blocks(out.size):
        a = acc[: part.stop - part.start]
        t = term[: part.stop - part.start]
        np.copyto(a, arrays[0][part], casting="safe")
        np.multiply(a, weights[0], out=a)
        for array, weight in zip(arrays[1:], weights[1:], strict=True):
            np.copyto(t, array[part], casting="safe")
            np.multiply(t, weight, out=t)
            np.add(a, t, out=a)
        np.divide(a, total, out=a)
        if not all_finite(a):
            raise find_non_finite(inputs, [name]) or _overflow(name)
        store_rounded(a, out[part])
    return out


def _overflow(name: str) -> InvalidInput:
    return InvalidInput(
        f"the weighted sum of tensor {name!r} overflows float64; the updates hold values too "
        "large to average"
    )
