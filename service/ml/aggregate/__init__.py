"""Aggregation rules for federated rounds: pure functions from a list of contributions
(participant, sample count, delta tensors) to one aggregated delta. No I/O: the strategy that
fetches, checks and records updates lives elsewhere, as Flower keeps ``aggregate.py`` apart
from its strategies.

Rules (one module each, behind :class:`AggregationRule`): ``fedavg`` (:class:`FedAvg`),
``median`` (:class:`Median`), ``trimmed-mean`` (:class:`TrimmedMean`), ``krum``
(:class:`Krum`), ``multi-krum`` (:class:`MultiKrum`). :func:`rule_from` builds one from its
name and parameters; :func:`rule_id`, :func:`params_document` and :func:`params_digest` say how
it is recorded; :func:`apply_update` turns an aggregated delta into the new version's weights;
:func:`~service.ml.tensors.canonical_safetensors` turns either into bytes.

Determinism: the same contributions give the same bytes, hence the same CID, in any process on
any machine with the same library versions:

1. Inputs are sorted by participant address (lowercase hex) before anything else, and tensors
   are taken in name order; the order of the list passed in never matters.
2. Arithmetic is float64, element by element, in a fixed order: sums across participants run
   left to right in address order (an explicit loop, never ``np.sum``/``np.mean`` over the
   participant axis, whose order is numpy's to choose). IEEE 754 makes each add, multiply and
   divide exact-rounded, the same on every CPU; numpy applies no fused multiply-add.
3. The result is rounded once, to nearest-even, into the update's dtype (float32, float16,
   bfloat16 or float64; :func:`~service.ml.aggregate.numerics.to_dtype`).
4. Ranks (median, trimmed mean) come from sorting each coordinate's values with a comparator
   network; -0.0 is read as +0.0 and non-finite values are refused, so the sorted values are
   unique bit patterns and any correct sort gives the same bits.
5. Krum's distances are sums over coordinates whose order is fixed in numpy's C source (see
   :mod:`~service.ml.aggregate.krum`); no BLAS, whose kernels depend on the CPU.
6. The output bytes are :func:`~service.ml.tensors.canonical_safetensors`: tensors laid out by
   dtype and name, metadata keys sorted.

What may differ across machines: a different numpy (its pairwise summation order, which only
Krum's distances use, or a cast's rounding) or safetensors (its layout) version; platforms
whose float64 is not IEEE 754 binary64 with round-to-nearest (none that numpy supports); and a
process that has switched the CPU to flush subnormals to zero (MXCSR FTZ/DAZ, as
``torch.set_flush_denormal(True)`` or code built with ``-ffast-math`` may do), which changes
results that involve subnormal numbers. Threads, core counts and vector instruction sets do
not matter: nothing here runs in parallel or sums in an order the CPU picks.
"""

from __future__ import annotations

from service.ml.aggregate.apply import aggregate_file, apply_update
from service.ml.aggregate.base import (
    AggregateResult,
    AggregationRule,
    Contribution,
    Exclusion,
    ExclusionReason,
)
from service.ml.aggregate.fedavg import FedAvg
from service.ml.aggregate.krum import Krum
from service.ml.aggregate.median import Median
from service.ml.aggregate.multi_krum import MultiKrum
from service.ml.aggregate.registry import (
    RULES,
    params_digest,
    params_document,
    rule_from,
    rule_id,
    rule_name,
)
from service.ml.aggregate.trimmed_mean import TrimmedMean

__all__ = [
    "RULES",
    "AggregateResult",
    "AggregationRule",
    "Contribution",
    "Exclusion",
    "ExclusionReason",
    "FedAvg",
    "Krum",
    "Median",
    "MultiKrum",
    "TrimmedMean",
    "aggregate_file",
    "apply_update",
    "params_digest",
    "params_document",
    "rule_from",
    "rule_id",
    "rule_name",
]
