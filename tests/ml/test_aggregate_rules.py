"""Each aggregation rule on small hand-written updates, with the expected numbers written out;
Krum and the median against an outlier; the records (included, excluded) a rule returns."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from eth_utils import to_checksum_address

from service.errors import InvalidInput
from service.ml.aggregate import (
    AggregateResult,
    Exclusion,
    ExclusionReason,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    TrimmedMean,
)
from tests.ml.aggregate_helpers import P, bits, contributions


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# ---------------------------------------------------------------- FedAvg


def test_fedavg_is_the_sample_weighted_mean() -> None:
    updates = contributions(
        [{"w": [1, 2, -4, 0.5], "b": [10]}, {"w": [5, 2, 0, -0.5], "b": [-2]}], samples=[1, 3]
    )
    result = FedAvg().aggregate(updates)
    # (1·1 + 3·5)/4 = 4, (2 + 6)/4 = 2, (-4 + 0)/4 = -1, (0.5 - 1.5)/4 = -0.25; (10 - 6)/4 = 1
    assert bits(result.tensors["w"]) == bits(f32(4, 2, -1, -0.25))
    assert bits(result.tensors["b"]) == bits(f32(1))
    assert result.included == (P[0], P[1])
    assert result.excluded == ()


def test_fedavg_rounds_once_from_float64() -> None:
    result = FedAvg().aggregate(contributions([{"w": [1]}, {"w": [0]}, {"w": [0]}]))
    # 1/3 in float64, rounded to the nearest float32: 11184811 · 2**-25
    assert bits(result.tensors["w"]) == bits(f32(11184811 * 2.0**-25))


def test_fedavg_keeps_shapes_and_dtypes() -> None:
    updates = contributions(
        [{"m": [[1, 2], [3, 4]]}, {"m": [[3, 4], [5, 6]]}], samples=[1, 1], dtype=np.float16
    )
    result = FedAvg().aggregate(updates)
    assert bits(result.tensors["m"]) == bits(np.array([[2, 3], [4, 5]], dtype=np.float16))


def test_fedavg_of_bfloat16_updates_rounds_to_bfloat16() -> None:
    updates = contributions([{"w": [1, 1]}, {"w": [1.0078125, 2]}], dtype=ml_dtypes.bfloat16)
    result = FedAvg().aggregate(updates)
    # (1 + 1.0078125)/2 = 1.00390625 lies halfway between the bfloat16 neighbours 1 and
    # 1.0078125: ties go to the even significand, 1. (1 + 2)/2 = 1.5 exactly.
    assert result.tensors["w"].dtype == np.dtype(ml_dtypes.bfloat16)
    assert result.tensors["w"].view(np.uint16).tolist() == [0x3F80, 0x3FC0]


def test_a_scalar_tensor_stays_a_scalar() -> None:
    result = FedAvg().aggregate(contributions([{"s": 2.0}, {"s": 4.0}]))
    assert result.tensors["s"].shape == ()
    assert float(result.tensors["s"]) == 3.0


# ---------------------------------------------------------------- median


def test_median_of_an_odd_count_is_the_middle_value() -> None:
    updates = contributions(
        [
            {"w": [1, -5, 7]},
            {"w": [3, 0, 7]},
            {"w": [2, 100, 7]},
            {"w": [9, -1, 6]},
            {"w": [0, 2, 8]},
        ],
        samples=[1, 1, 1, 1, 1000],  # ignored: the median is unweighted
    )
    # sorted per coordinate: [0,1,2,3,9] -> 2; [-5,-1,0,2,100] -> 0; [6,7,7,7,8] -> 7
    assert bits(Median().aggregate(updates).tensors["w"]) == bits(f32(2, 0, 7))


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    updates = contributions([{"w": [1, 0]}, {"w": [2, 1]}, {"w": [10, 1]}, {"w": [100, 2]}])
    # [1,2,10,100] -> (2 + 10)/2 = 6; [0,1,1,2] -> (1 + 1)/2 = 1
    assert bits(Median().aggregate(updates).tensors["w"]) == bits(f32(6, 1))


def test_median_reads_negative_zero_as_zero() -> None:
    updates = contributions([{"w": [-0.0]}, {"w": [-0.0]}, {"w": [0.0]}])
    assert Median().aggregate(updates).tensors["w"].view(np.uint32).tolist() == [0]


def test_median_does_not_leave_the_honest_range_whatever_one_outlier_sends() -> None:
    rng = np.random.default_rng(7)
    honest = [rng.normal(0, 1, size=200).astype(np.float32) for _ in range(4)]
    low, high = np.min(honest, axis=0), np.max(honest, axis=0)
    for outlier in (honest[0] * 100, np.full(200, 3e38, np.float32), -honest[1] * 1e6):
        updates = contributions([{"w": v} for v in [*honest, outlier]])
        median = Median().aggregate(updates).tensors["w"]
        assert np.all(low <= median) and np.all(median <= high)


# ---------------------------------------------------------------- trimmed mean


def test_trimmed_mean_drops_k_at_each_end_of_every_coordinate() -> None:
    updates = contributions(
        [{"w": [1, -50]}, {"w": [2, 1]}, {"w": [3, 2]}, {"w": [4, 6]}, {"w": [100, 3]}],
        samples=[5, 1, 1, 1, 1],  # ignored: unweighted
    )
    # [1,2,3,4,100] -> (2+3+4)/3 = 3; [-50,1,2,3,6] -> (1+2+3)/3 = 2
    expected = f32(3, 2)
    assert bits(TrimmedMean(trim=1).aggregate(updates).tensors["w"]) == bits(expected)
    # 0.2 of 5 contributions is 1 at each end
    assert bits(TrimmedMean(trim_fraction=0.2).aggregate(updates).tensors["w"]) == bits(expected)
    # trim 2 leaves the median
    assert bits(TrimmedMean(trim=2).aggregate(updates).tensors["w"]) == bits(f32(3, 2))
    # trim 0 is the plain mean: (1+2+3+4+100)/5 = 22, (-50+1+2+6+3)/5 = -7.6 (rounded)
    assert bits(TrimmedMean(trim=0).aggregate(updates).tensors["w"]) == bits(f32(22, -7.6))


def test_a_trim_fraction_is_read_as_the_decimal_it_prints_as() -> None:
    # 0.29 as a binary float is 0.28999999999999998, and floor(0.28999… · 100) would be 28
    assert TrimmedMean(trim_fraction=0.29).trimmed(100) == 29
    assert TrimmedMean(trim_fraction=0.1).trimmed(9) == 0
    assert TrimmedMean(trim_fraction=0.1).trimmed(10) == 1
    assert TrimmedMean(trim=3).trimmed(100) == 3


# ---------------------------------------------------------------- Krum and Multi-Krum

# One coordinate each: 0, 1, 2, 4, 100 from P[0] … P[4]. With f = 1 each score sums the
# n - f - 2 = 2 smallest squared distances to the others:
#   0: 1, 4      -> 5        1: 1, 1 -> 2        2: 1, 4 -> 5
#   4: 4, 9      -> 13       100: 96², 98² = 9216 + 9604 -> 18820
LINE = [0, 1, 2, 4, 100]


def line() -> list:
    return contributions([{"x": [v]} for v in LINE], samples=[1, 1, 1, 1, 10**6])


def test_krum_keeps_the_update_closest_to_its_neighbours() -> None:
    result = Krum(f=1).aggregate(line())
    assert bits(result.tensors["x"]) == bits(f32(1))
    assert result.included == (P[1],)
    assert result.excluded == (
        Exclusion(P[0], ExclusionReason.NOT_SELECTED, _detail("Krum", 5.0, 2, 1)),
        Exclusion(P[2], ExclusionReason.NOT_SELECTED, _detail("Krum", 5.0, 3, 1)),
        Exclusion(P[3], ExclusionReason.NOT_SELECTED, _detail("Krum", 13.0, 4, 1)),
        Exclusion(P[4], ExclusionReason.NOT_SELECTED, _detail("Krum", 18820.0, 5, 1)),
    )


def _detail(rule: str, score: float, rank: int, keep: int) -> str:
    return (
        f"{rule} score {score!r} ranks {rank} of 5 (lower is closer to the others); "
        f"the rule keeps {keep}"
    )


def test_multi_krum_averages_the_best_m_plainly_and_breaks_ties_by_address() -> None:
    # scores 5 (P0, value 0) and 5 (P2, value 2) tie: the lower address, P0, ranks first
    result = MultiKrum(f=1, m=2).aggregate(line())
    assert result.included == (P[0], P[1])
    assert bits(result.tensors["x"]) == bits(f32(0.5))  # (0 + 1)/2, not sample-weighted
    result = MultiKrum(f=1, m=3).aggregate(line())
    assert bits(result.tensors["x"]) == bits(f32(1))  # (0 + 1 + 2)/3
    # m defaults to n - f = 4: everything but the outlier, (0 + 1 + 2 + 4)/4
    result = MultiKrum(f=1).aggregate(line())
    assert result.included == (P[0], P[1], P[2], P[3])
    assert bits(result.tensors["x"]) == bits(f32(1.75))
    assert result.excluded == (
        Exclusion(P[4], ExclusionReason.NOT_SELECTED, _detail("Multi-Krum", 18820.0, 5, 4)),
    )


def test_multi_krum_of_one_is_krum() -> None:
    assert bits(MultiKrum(f=1, m=1).aggregate(line()).tensors["x"]) == bits(
        Krum(f=1).aggregate(line()).tensors["x"]
    )


def test_krum_sums_distances_over_every_tensor() -> None:
    # P0 and P1 agree on "a" but differ by 3 on "b": squared distance 9, not 0
    updates = contributions(
        [
            {"a": [0], "b": [0]},
            {"a": [0], "b": [3]},
            {"a": [1], "b": [1]},
            {"a": [9], "b": [9]},
            {"a": [-9], "b": [9]},
        ]
    )
    # squared distances: P0-P1 9, P0-P2 2, P1-P2 5, P0-P3 162, P1-P3 117, P2-P3 128,
    # P0-P4 162, P1-P4 117, P2-P4 164, P3-P4 324; f = 1: 2 nearest
    # P0: 2 + 9 = 11; P1: 5 + 9 = 14; P2: 2 + 5 = 7; P3: 117 + 128 = 245; P4: 117 + 162 = 279
    result = Krum(f=1).aggregate(updates)
    assert result.included == (P[2],)
    assert [e.detail.split(" ranks")[0] for e in result.excluded] == [
        "Krum score 11.0",
        "Krum score 14.0",
        "Krum score 245.0",
        "Krum score 279.0",
    ]


def honest_and_outlier(seed: int) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    centre = rng.normal(0, 1, size=(3, 50)).astype(np.float32)
    honest = [
        {"w": centre + rng.normal(0, 0.01, size=(3, 50)).astype(np.float32)} for _ in range(5)
    ]
    outlier = {"w": honest[2]["w"] * 100}  # a scaled copy of an honest update
    everyone = contributions([*honest[:2], outlier, *honest[2:]])
    honest_only = [c for i, c in enumerate(everyone) if i != 2]
    return everyone, honest_only


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_krum_excludes_a_scaled_update_and_returns_the_honest_choice(seed: int) -> None:
    everyone, honest = honest_and_outlier(seed)
    result = Krum(f=1).aggregate(everyone)
    outlier = [e for e in result.excluded if e.participant == P[2]]
    assert outlier and outlier[0].reason is ExclusionReason.NOT_SELECTED
    # n - f - 2 = 3 nearest neighbours are honest ones, so the scores are those of the honest
    # updates alone with f = 0 (5 - 0 - 2 = 3), and the choice is the same
    expected = Krum(f=0).aggregate(honest)
    assert result.included == expected.included
    assert bits(result.tensors["w"]) == bits(expected.tensors["w"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_multi_krum_averages_exactly_the_honest_updates(seed: int) -> None:
    everyone, honest = honest_and_outlier(seed)
    result = MultiKrum(f=1).aggregate(everyone)  # keeps n - f = 5
    assert result.included == tuple(c.participant for c in honest)
    assert [(e.participant, e.reason) for e in result.excluded] == [
        (P[2], ExclusionReason.NOT_SELECTED)
    ]
    expected = MultiKrum(f=0, m=5).aggregate(honest)  # the plain mean of the honest five
    assert bits(result.tensors["w"]) == bits(expected.tensors["w"])
    mean = np.mean([c.tensors["w"].astype(np.float64) for c in honest], axis=0)
    np.testing.assert_allclose(result.tensors["w"], mean, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- the result record


def test_results_list_participants_in_ascending_address_order() -> None:
    updates = contributions([{"w": [v]} for v in range(len(P))])
    for rule in (FedAvg(), Median(), TrimmedMean(trim=1), MultiKrum(f=0, m=len(P))):
        result = rule.aggregate(list(reversed(updates)))
        assert result.included == tuple(P)
        assert list(result.included) == sorted(result.included, key=str.lower)
        assert list(result.included) != sorted(result.included)  # case matters to a plain sort


def test_exclusions_made_before_aggregating_join_the_record_in_address_order() -> None:
    result = Krum(f=1).aggregate(line())
    early = to_checksum_address("0x" + "01" * 20)  # sorts before every P
    record = result.with_exclusions([Exclusion(early, ExclusionReason.INVALID, "norm too big")])
    assert record.included == (P[1],)
    assert [e.participant for e in record.excluded] == [early, P[0], P[2], P[3], P[4]]
    assert record.excluded[0].reason is ExclusionReason.INVALID
    with pytest.raises(InvalidInput, match="appears twice"):
        record.with_exclusions([Exclusion(P[1], ExclusionReason.UNAVAILABLE, "gone")])
    with pytest.raises(InvalidInput, match="appears twice"):
        record.with_exclusions([Exclusion(early.lower(), ExclusionReason.UNAVAILABLE, "gone")])


def test_exclusion_codes_are_the_on_chain_uint8_values() -> None:
    assert {reason.name: int(reason) for reason in ExclusionReason} == {
        "NOT_SELECTED": 1,
        "UNAVAILABLE": 2,
        "INVALID": 3,
    }


def test_a_result_is_a_plain_record() -> None:
    result = AggregateResult(tensors={}, included=(P[0],))
    assert result.excluded == ()
