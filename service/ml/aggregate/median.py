"""The coordinate-wise median (Yin et al. 2018): per coordinate, the middle value of the updates.

Unweighted: sample counts are self-reported, and weighing by them would let one participant
move the median by claiming many samples. For an odd count the median is one of the inputs,
bit for bit (-0.0 is read as +0.0); for an even count it is the float64 mean of the two middle
values, ``(a + b) · 0.5``, rounded once into the update's dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from service.ml.aggregate.base import AggregateResult, AggregationRule, Inputs, check_params
from service.ml.aggregate.numerics import to_dtype
from service.ml.aggregate.ranking import reduce_ranked


class Median(AggregationRule):
    """The coordinate-wise median; no parameters."""

    name: ClassVar[str] = "median"

    @property
    def params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Median:
        check_params(cls.name, params, cls.PARAMS)
        return cls()

    def _combine(self, inputs: Inputs) -> AggregateResult:
        tensors = {
            name: reduce_ranked(inputs, name, _middle).reshape(inputs.shapes[name])
            for name in inputs.names
        }
        return AggregateResult(tensors=tensors, included=inputs.participants)


def _middle(rows: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    n = len(rows)
    if n % 2:
        return rows[n // 2].astype(dtype)  # exact: one of the inputs
    pair = np.add(rows[n // 2 - 1], rows[n // 2], dtype=np.float64)
    return to_dtype(np.multiply(pair, 0.5, out=pair), dtype)
