"""Krum (Blanchard, El Mhamdi, Guerraoui & Stainer, "Machine Learning with Adversaries:
Byzantine Tolerant Gradient Descent", NeurIPS 2017): keep the one update closest to its
neighbours.

With ``n`` updates of which at most ``f`` are Byzantine (``n ≥ 2f + 3``), each update's score
is the sum of its squared Euclidean distances to its ``n - f - 2`` nearest other updates; Krum
returns the update with the lowest score, unchanged. Every other update is excluded as
NOT_SELECTED with its score and rank.

Determinism: the squared distance between two updates is summed over tensors in name order,
over blocks of :data:`~service.ml.aggregate.numerics.BLOCK` coordinates in order (a Python float
running sum), and within a block by ``np.add.reduce`` over a contiguous float64 array of the
squared differences — numpy's pairwise summation, whose order is fixed by numpy's C source
(``pairwise_sum`` in ``loops_utils.h.src``: 8 accumulators over blocks of 128, halves split at
multiples of 8), the same under every CPU instruction set; no BLAS (``np.dot`` and
``np.linalg.norm`` choose kernels by CPU). A score adds the nearest distances smallest first;
ties in score go to the lower address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from service.errors import InvalidInput
from service.ml.aggregate.base import (
    AggregateResult,
    AggregationRule,
    Exclusion,
    ExclusionReason,
    Inputs,
    check_params,
    find_non_finite,
    int_param,
)
from service.ml.aggregate.numerics import BLOCK, blocks

F_MEANING = "an integer ≥ 0: how many of the updates may be Byzantine; needs n ≥ 2f + 3"


@dataclass(frozen=True)
class Ranking:
    """Krum scores (index i: the i-th contribution in address order) and the order they rank in
    (best first, ties to the lower address)."""

    scores: tuple[float, ...]
    order: tuple[int, ...]


def squared_distances(inputs: Inputs) -> np.ndarray:
    """The ``n x n`` matrix of squared Euclidean distances between the updates (float64).

    Raises InvalidInput naming the first non-finite value if an update holds one.
    """
    n = inputs.n
    distances = [[0.0] * n for _ in range(n)]
    rows = np.empty((n, BLOCK))
    diff = np.empty(BLOCK)
    for name in inputs.names:
        arrays = inputs.arrays(name)
        for part in blocks(arrays[0].size):
            size = part.stop - part.start
            for i, array in enumerate(arrays):
                np.copyto(rows[i, :size], array[part], casting="safe")
            d = diff[:size]
            for i in range(n):
                for j in range(i + 1, n):
                    np.subtract(rows[i, :size], rows[j, :size], out=d)
                    np.multiply(d, d, out=d)
                    distances[i][j] += float(np.add.reduce(d))
    matrix = np.array(distances)
    matrix = np.triu(matrix, 1) + np.triu(matrix, 1).T
    if not np.isfinite(matrix).all():
        raise find_non_finite(inputs) or InvalidInput(
            "squared distances between the updates overflow float64; the updates hold values "
            "too large for Krum"
        )
    return matrix


def rank(inputs: Inputs, f: int, rule: str) -> Ranking:
    """Krum scores with ``f`` assumed Byzantine updates, and the ranking."""
    n = inputs.n
    if n < 2 * f + 3:
        raise InvalidInput(
            f"{rule} with f={f} needs at least 2f + 3 = {2 * f + 3} contributions, got {n}; "
            f"aggregate more updates or lower f to at most {max(0, (n - 3) // 2)}"
            + (" (and n ≥ 3 in any case)" if n < 3 else "")
        )
    matrix = squared_distances(inputs)
    neighbours = n - f - 2
    scores = []
    for i in range(n):
        nearest = sorted(float(matrix[i, j]) for j in range(n) if j != i)[:neighbours]
        score = 0.0
        for distance in nearest:  # smallest first
            score += distance
        scores.append(score)
    order = sorted(range(n), key=lambda i: (scores[i], i))  # i is address order
    return Ranking(scores=tuple(scores), order=tuple(order))


def not_selected(inputs: Inputs, ranking: Ranking, keep: int, rule: str) -> tuple[Exclusion, ...]:
    """NOT_SELECTED exclusions for every update ranked below the first ``keep``."""
    position = {index: place for place, index in enumerate(ranking.order, start=1)}
    return tuple(
        Exclusion(
            participant=contribution.participant,
            reason=ExclusionReason.NOT_SELECTED,
            detail=(
                f"{rule} score {ranking.scores[i]!r} ranks {position[i]} of {inputs.n} "
                f"(lower is closer to the others); the rule keeps {keep}"
            ),
        )
        for i, contribution in enumerate(inputs.contributions)
        if position[i] > keep
    )


class Krum(AggregationRule):
    """Krum with ``f`` assumed Byzantine updates: the single update closest to its neighbours."""

    name: ClassVar[str] = "krum"
    PARAMS: ClassVar[Mapping[str, str]] = {"f": F_MEANING}

    def __init__(self, *, f: int) -> None:
        self.f = int_param(self.name, {"f": f}, "f", minimum=0)

    @property
    def params(self) -> dict[str, Any]:
        return {"f": self.f}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Krum:
        check_params(cls.name, params, cls.PARAMS)
        return cls(f=int_param(cls.name, params, "f", minimum=0))

    def _combine(self, inputs: Inputs) -> AggregateResult:
        ranking = rank(inputs, self.f, "Krum")
        chosen = inputs.contributions[ranking.order[0]]
        tensors = {
            name: np.array(chosen.tensors[name], dtype=inputs.dtypes[name], order="C")
            for name in inputs.names
        }
        return AggregateResult(
            tensors=tensors,
            included=(chosen.participant,),
            excluded=not_selected(inputs, ranking, 1, "Krum"),
        )
