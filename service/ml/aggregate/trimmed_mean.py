"""The coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drop the ``k`` smallest
and the ``k`` largest values, average the rest.

Unweighted, like the median (a participant's claimed sample count must not buy it weight in
a rule meant to bound its influence). ``k`` is given as a count (``trim``) or as a fraction of
the contributions (``trim_fraction``: ``k = floor(fraction · n)`` with the fraction read as the
decimal it prints as, so 0.29 of 100 trims 29). The kept values are summed in float64 from the
smallest to the largest, divided by ``n - 2k`` and rounded once into the update's dtype.
``trim = 0`` is the plain mean.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from service.errors import InvalidInput
from service.ml.aggregate.base import (
    AggregateResult,
    AggregationRule,
    Inputs,
    check_params,
    int_param,
)
from service.ml.aggregate.numerics import to_dtype
from service.ml.aggregate.ranking import reduce_ranked


class TrimmedMean(AggregationRule):
    """The coordinate-wise trimmed mean; exactly one of ``trim`` (count trimmed at each end)
    or ``trim_fraction`` (in [0, 0.5))."""

    name: ClassVar[str] = "trimmed-mean"
    PARAMS: ClassVar[Mapping[str, str]] = {
        "trim": "an integer ≥ 0: how many values to drop at each end of every coordinate",
        "trim_fraction": "a number in [0, 0.5): the fraction of contributions to drop at each "
        "end, rounded down; give trim or trim_fraction, not both",
    }

    def __init__(self, *, trim: int | None = None, trim_fraction: float | None = None) -> None:
        self.trim_count = trim
        self.trim_fraction = trim_fraction
        if (trim is None) == (trim_fraction is None):
            raise InvalidInput(
                f"rule {self.name!r} takes exactly one of trim (a count) and trim_fraction"
            )
        if trim is not None:
            int_param(self.name, {"trim": trim}, "trim", minimum=0)
        if trim_fraction is not None and not (
            type(trim_fraction) in (int, float) and 0 <= trim_fraction < 0.5
        ):
            raise InvalidInput(
                f"rule {self.name!r}: trim_fraction must be a number in [0, 0.5), "
                f"not {trim_fraction!r}"
            )

    @property
    def params(self) -> dict[str, Any]:
        if self.trim_count is not None:
            return {"trim": self.trim_count}
        return {"trim_fraction": float(self.trim_fraction or 0.0)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrimmedMean:
        check_params(cls.name, params, cls.PARAMS)
        return cls(trim=params.get("trim"), trim_fraction=params.get("trim_fraction"))

    def trimmed(self, n: int) -> int:
        """How many values are dropped at each end of a coordinate when ``n`` contribute."""
        if self.trim_count is not None:
            return self.trim_count
        return math.floor(Fraction(repr(float(self.trim_fraction or 0.0))) * n)

    def _combine(self, inputs: Inputs) -> AggregateResult:
        k = self.trimmed(inputs.n)
        if 2 * k >= inputs.n:
            raise InvalidInput(
                f"trimming {k} at each end of {inputs.n} contributions leaves none to average; "
                f"lower trim below {(inputs.n + 1) // 2} or aggregate more updates"
            )

        def kept_mean(rows: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
            kept = rows[k : len(rows) - k]
            acc = kept[0].astype(np.float64)
            for row in kept[1:]:
                np.add(acc, row, out=acc)
            return to_dtype(np.divide(acc, float(len(kept)), out=acc), dtype)

        tensors = {
            name: reduce_ranked(inputs, name, kept_mean).reshape(inputs.shapes[name])
            for name in inputs.names
        }
        return AggregateResult(tensors=tensors, included=inputs.participants)
