"""Multi-Krum (Blanchard et al. 2017, section 5): the ``m`` updates with the best Krum scores,
averaged.

Scores are Krum's (:mod:`service.ml.aggregate.krum`), computed once; the ``m`` lowest are kept
(ties to the lower address) and the rest excluded as NOT_SELECTED. The kept updates are averaged
**plainly**, as in the paper (``(1/m)·Σ Vᵢ``), not weighted by sample counts as Flower's
``aggregate_krum`` does: counts are self-reported, and a selected Byzantine update claiming a
huge count would take over the average, which the paper's resilience argument does not allow
for. The sum runs in float64 in ascending address order, divided by ``m`` and rounded once into
the update's dtype. ``m`` defaults to ``n - f`` (the paper's choice; ``"m": null`` in the
parameters), and must lie in ``1 … n - f``: keeping more than ``n - f`` would keep a Byzantine
update whenever ``f`` are present. ``m = 1`` gives Krum's result.
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
    int_param,
)
from service.ml.aggregate.krum import F_MEANING, not_selected, rank
from service.ml.aggregate.numerics import BLOCK, blocks, store_rounded


class MultiKrum(AggregationRule):
    """Multi-Krum with ``f`` assumed Byzantine updates, keeping ``m`` (default ``n - f``)."""

    name: ClassVar[str] = "multi-krum"
    PARAMS: ClassVar[Mapping[str, str]] = {
        "f": F_MEANING,
        "m": "an integer ≥ 1 or null: how many updates to keep and average, at most n - f; "
        "null keeps n - f",
    }

    def __init__(self, *, f: int, m: int | None = None) -> None:
        self.f = int_param(self.name, {"f": f}, "f", minimum=0)
        self.m = None if m is None else int_param(self.name, {"m": m}, "m", minimum=1)

    @property
    def params(self) -> dict[str, Any]:
        return {"f": self.f, "m": self.m}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MultiKrum:
        check_params(cls.name, params, cls.PARAMS)
        m = params.get("m")
        return cls(
            f=int_param(cls.name, params, "f", minimum=0),
            m=None if m is None else int_param(cls.name, params, "m", minimum=1),
        )

    def _combine(self, inputs: Inputs) -> AggregateResult:
        ranking = rank(inputs, self.f, "Multi-Krum")
        keep = inputs.n - self.f if self.m is None else self.m
        if keep > inputs.n - self.f:
            raise InvalidInput(
                f"Multi-Krum with f={self.f} keeps at most n - f = {inputs.n - self.f} of "
                f"{inputs.n} updates, not m={keep}; lower m or leave it null (n - f)"
            )
        kept = sorted(ranking.order[:keep])  # address order
        tensors = {}
        for name in inputs.names:
            arrays = [inputs.arrays(name)[i] for i in kept]
            tensors[name] = _mean(arrays, inputs.dtypes[name]).reshape(inputs.shapes[name])
        return AggregateResult(
            tensors=tensors,
            included=tuple(inputs.contributions[i].participant for i in kept),
            excluded=not_selected(inputs, ranking, keep, "Multi-Krum"),
        )


def _mean(arrays: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Σ xᵢ / m in float64, left to right, rounded once into ``dtype``."""
    out = np.empty(arrays[0].size, dtype=dtype)
    acc = np.empty(min(BLOCK, out.size))
    for part in blocks(out.size):
        a = acc[: part.stop - part.start]
        np.copyto(a, arrays[0][part], casting="safe")
        for array in arrays[1:]:
            np.add(a, array[part], out=a)
        np.divide(a, float(len(arrays)), out=a)
        store_rounded(a, out[part])
    return out
