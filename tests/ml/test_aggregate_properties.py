"""Invariants of the aggregation rules and their arithmetic, checked by hypothesis: input order
never changes a byte, FedAvg of identical updates is that update, trim 0 is the plain mean, an
odd median is an input, the sorting network sorts, and rounding into float16/bfloat16 is the
correctly rounded value (against independent references)."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import ml_dtypes
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from service.ml.aggregate import (
    AggregationRule,
    Contribution,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    TrimmedMean,
)
from service.ml.aggregate.numerics import sort_rows, sorting_network, to_dtype
from service.ml.tensors import canonical_safetensors
from tests.ml.aggregate_helpers import P, bits

DTYPES = [np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)]
RULES: list[AggregationRule] = [
    FedAvg(),
    Median(),
    TrimmedMean(trim=1),
    TrimmedMean(trim_fraction=0.3),
    Krum(f=1),
    MultiKrum(f=1),
    MultiKrum(f=1, m=2),
]


@st.composite
def updates(draw: st.DrawFn, min_n: int = 5) -> list[Contribution]:
    """``n`` contributions of two tensors, finite values of one float dtype (ties, -0.0,
    subnormals and wide exponents included)."""
    n = draw(st.integers(min_n, len(P)))
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.sampled_from([(3,), (2, 2), (1,), ()]))
    size = math.prod(shape)
    finite = st.floats(-1e4, 1e4, width=32, allow_subnormal=True) | st.sampled_from(
        [0.0, -0.0, 1.0, 1e-40, -3e38, 2.5]
    )
    result = []
    for i in range(n):
        values = draw(st.lists(finite, min_size=size + 2, max_size=size + 2))
        with np.errstate(over="ignore"):
            cast = np.array(values, dtype=np.float32).astype(dtype)
        cast[~np.isfinite(cast)] = 0  # beyond float16's range
        tensors = {"w": cast[:size].reshape(shape), "b": cast[size:]}
        result.append(Contribution(P[i], draw(st.integers(1, 10**6)), tensors))
    return result


def encoded(rule: AggregationRule, contributions: list[Contribution]) -> tuple[bytes, object]:
    result = rule.aggregate(contributions)
    return canonical_safetensors(result.tensors), (result.included, result.excluded)


@settings(max_examples=150, deadline=None)
@given(contributions=updates(), data=st.data())
def test_input_order_never_changes_a_byte(
    contributions: list[Contribution], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(contributions))
    for rule in RULES:
        assert encoded(rule, shuffled) == encoded(rule, contributions), rule


@settings(max_examples=150, deadline=None)
@given(contributions=updates(min_n=1))
def test_fedavg_of_identical_updates_is_that_update(contributions: list[Contribution]) -> None:
    same = contributions[0].tensors
    copies = [Contribution(c.participant, c.samples, same) for c in contributions]
    result = FedAvg().aggregate(copies)
    for name, array in same.items():
        assert bits(result.tensors[name]) == bits(array)  # -0.0 stays -0.0


# Multiples of 2**-10 below 2**11 in magnitude: every float64 sum of up to eight is exact, so
# the order of the sum does not matter and the mean can be written down with fractions.
exact_values = st.integers(-(2**20), 2**20).map(lambda k: k / 1024)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_trimmed_mean_with_trim_zero_is_the_plain_mean(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, len(P)))
    rows = [data.draw(st.lists(exact_values, min_size=4, max_size=4)) for _ in range(n)]
    contributions = [
        Contribution(P[i], data.draw(st.integers(1, 99)), {"w": np.float32(row)})
        for i, row in enumerate(rows)
    ]
    result = TrimmedMean(trim=0).aggregate(contributions).tensors["w"]
    columns = list(zip(*rows, strict=True))
    expected = np.float32([float(sum(map(Fraction, col)) / n) for col in columns])
    assert bits(result) == bits(expected)
    fraction_zero = TrimmedMean(trim_fraction=0.0).aggregate(contributions).tensors["w"]
    assert bits(fraction_zero) == bits(expected)


@settings(max_examples=150, deadline=None)
@given(contributions=updates(min_n=1))
def test_the_median_of_an_odd_count_is_one_of_the_inputs(
    contributions: list[Contribution],
) -> None:
    if len(contributions) % 2 == 0:
        contributions = contributions[:-1]
    median = Median().aggregate(contributions).tensors
    for name, values in median.items():
        stacked = np.stack([np.ravel(c.tensors[name]) for c in contributions]).astype(np.float64)
        for j, value in enumerate(np.ravel(values).astype(np.float64)):
            column = stacked[:, j]
            assert value in column  # == compares -0.0 and 0.0 equal: -0.0 is read as 0.0
            assert np.sum(column < value) <= len(column) // 2
            assert np.sum(column > value) <= len(column) // 2


@settings(max_examples=100, deadline=None)
@given(contributions=updates())
def test_multi_krum_keeps_m_and_excludes_the_rest(contributions: list[Contribution]) -> None:
    result = MultiKrum(f=1, m=2).aggregate(contributions)
    assert len(result.included) == 2
    assert len(result.excluded) == len(contributions) - 2
    everyone = sorted([*result.included, *(e.participant for e in result.excluded)], key=str.lower)
    assert everyone == sorted((c.participant for c in contributions), key=str.lower)


# ---------------------------------------------------------------- the sorting network


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 40).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(-3, 3).map(float) | st.floats(-1e6, 1e6), min_size=5, max_size=5),
            min_size=n,
            max_size=n,
        )
    )
)
def test_the_sorting_network_sorts_every_column(rows: list[list[float]]) -> None:
    arrays = [np.array(row) + 0.0 for row in rows]
    expected = np.sort(np.stack(arrays), axis=0)
    sort_rows(arrays, np.empty(5))
    assert np.array_equal(np.stack(arrays), expected)


def test_sorting_networks_have_batchers_sizes() -> None:
    # Batcher's odd-even merge sort: 19 comparators for 8 wires, 63 for 16; fewer when cut down
    assert len(sorting_network(8)) == 19
    assert len(sorting_network(16)) == 63
    assert len(sorting_network(10)) == 32
    assert sorting_network(1) == ()
    assert sorting_network(2) == ((0, 1),)


# ---------------------------------------------------------------- rounding


def reference_f16(value: float) -> int:
    """CPython's own float -> binary16 packing (round half to even from the double)."""
    try:
        return int.from_bytes(struct.pack("<e", value), "little")
    except OverflowError:
        return 0x7C00 if value > 0 else 0xFC00


def reference_bf16(value: float) -> int:
    """Round ``value`` to bfloat16 with fractions: 8 significant bits, exponent ≥ -126
    (subnormals spaced 2**-133), half to even, ±inf beyond the largest finite."""
    sign = 0x8000 if math.copysign(1.0, value) < 0 else 0
    magnitude = Fraction(abs(value))
    if magnitude == 0:
        return sign
    exponent = max(math.frexp(abs(value))[1] - 8, -133)  # the spacing of bfloat16 there
    quantum = Fraction(2) ** exponent
    rounded = round(magnitude / quantum) * quantum  # round() of a Fraction: half to even
    if rounded >= Fraction(2) ** 128:
        return sign | 0x7F80
    as_f32 = np.float32(float(rounded))  # exact: rounded is a bfloat16 value
    return sign | int(as_f32.view(np.uint32)) >> 16


doubles = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(-70000, 70000)
    | st.floats(-1e-3, 1e-3)
    # halfway cases: a bfloat16/float16 value plus half its spacing, and neighbours
    | st.integers(-(2**16), 2**16).map(lambda k: (2 * k + 1) * 2.0**-9)
    | st.integers(-(2**16), 2**16).map(lambda k: (2 * k + 1) * 2.0**-9 + 2.0**-40)
)


@settings(max_examples=2000, deadline=None)
@given(value=doubles)
def test_rounding_into_float16_is_correct(value: float) -> None:
    rounded = to_dtype(np.array([value]), np.dtype(np.float16))
    assert int(rounded.view(np.uint16)[0]) == reference_f16(value)


@settings(max_examples=2000, deadline=None)
@given(value=doubles | st.floats(-1e-38, 1e-38) | st.floats(3.38e38, 3.41e38))
def test_rounding_into_bfloat16_is_correct(value: float) -> None:
    rounded = to_dtype(np.array([value]), np.dtype(ml_dtypes.bfloat16))
    assert int(rounded.view(np.uint16)[0]) == reference_bf16(value)


def test_rounding_is_direct_not_through_float32() -> None:
    # 1 + 2**-8 + 2**-30 is just above the bfloat16 halfway point 1 + 2**-8; through float32
    # it would first round to 1 + 2**-8 exactly, then tie to even (1.0). Directly: 1 + 2**-7.
    value = 1 + 2.0**-8 + 2.0**-30
    assert to_dtype(np.array([value]), np.dtype(ml_dtypes.bfloat16)).view(np.uint16)[0] == 0x3F81
    assert np.float32(value).astype(ml_dtypes.bfloat16).view(np.uint16) == 0x3F80
    value16 = 1 + 2.0**-11 + 2.0**-40  # the same for float16 (halfway 1 + 2**-11)
    assert to_dtype(np.array([value16]), np.dtype(np.float16)).view(np.uint16)[0] == 0x3C01
