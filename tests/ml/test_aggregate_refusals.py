"""Every refusal of the aggregation package, with its message; the registry (rule_from, rule ids,
parameter documents and their digests); apply_update."""

from __future__ import annotations

import hashlib
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from service.errors import InvalidInput
from service.ml.aggregate import (
    RULES,
    AggregationRule,
    Contribution,
    FedAvg,
    Krum,
    Median,
    MultiKrum,
    TrimmedMean,
    apply_update,
    params_digest,
    params_document,
    rule_from,
    rule_id,
    rule_name,
)
from service.store.cid import CID, RAW
from service.store.unixfs import compute_cid
from tests.ml.aggregate_helpers import P, bits, contributions

ALL_RULES: list[AggregationRule] = [
    FedAvg(),
    Median(),
    TrimmedMean(trim=1),
    Krum(f=1),
    MultiKrum(f=1),
]


def five(**extra: Any) -> list[Contribution]:
    return contributions([{"w": [float(i), 1.0], "b": [0.5]} for i in range(5)], **extra)


def refused(rule: AggregationRule, updates: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        rule.aggregate(updates)
    return str(caught.value)


# ---------------------------------------------------------------- common checks, every rule


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_every_rule_refuses_malformed_input_with_what_to_do(rule: AggregationRule) -> None:
    good = five()
    assert "the list of contributions is empty" in refused(rule, [])
    assert "sequence of Contribution" in refused(rule, good[0])
    assert "expected a Contribution" in refused(rule, [*good[:4], ("x", 1, {})])

    lower = Contribution(P[0].lower(), 1, good[0].tensors)
    assert "not a checksummed Ethereum address" in refused(rule, [lower, *good[1:]])
    assert "to_checksum_address" in refused(rule, [lower, *good[1:]])
    twice = Contribution(P[1], 1, good[0].tensors)
    assert f"participant {P[1]} contributes twice" in refused(rule, [twice, *good[1:]])
    for samples in (0, -1, True, 2.0, 2**53 + 1):
        bad = Contribution(P[0], samples, good[0].tensors)  # type: ignore[arg-type]
        message = refused(rule, [bad, *good[1:]])
        assert "samples must be an integer from 1 to 2**53" in message
    huge = [Contribution(c.participant, 2**52, c.tensors) for c in good]
    assert "more than 2**53" in refused(rule, huge)

    empty = Contribution(P[0], 1, {})
    assert "holds no tensors" in refused(rule, [empty, *good[1:]])
    listed = Contribution(P[0], 1, {"w": [0.0, 1.0], "b": np.zeros(1, np.float32)})  # type: ignore[dict-item]
    assert "tensor 'w' is a list, not a numpy array" in refused(rule, [listed, *good[1:]])
    ints = Contribution(P[0], 1, {"w": np.zeros(2, np.int64), "b": np.zeros(1, np.float32)})
    assert "tensor 'w' has dtype int64; updates are floating point" in refused(
        rule, [ints, *good[1:]]
    )


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_every_rule_refuses_updates_that_disagree_on_layout(rule: AggregationRule) -> None:
    good = five()
    renamed = Contribution(P[3], 1, {"w": good[3].tensors["w"], "c": good[3].tensors["b"]})
    message = refused(rule, [*good[:3], renamed, good[4]])
    assert f"{P[3]} lacks 'b' and has 'c' that {P[0]} does not" in message
    assert "exactly the base's tensors" in message
    extra = Contribution(P[2], 1, {**good[2].tensors, "z": np.zeros(1, np.float32)})
    assert f"{P[2]} has 'z' that {P[0]} does not" in refused(rule, [*good[:2], extra, *good[3:]])
    reshaped = Contribution(P[4], 1, {**good[4].tensors, "w": np.zeros((2, 1), np.float32)})
    assert f"tensor 'w' has shape [2, 1] in {P[4]} but [2] in {P[0]}" in refused(
        rule, [*good[:4], reshaped]
    )
    halved = Contribution(P[1], 1, {**good[1].tensors, "b": np.zeros(1, np.float16)})
    assert f"tensor 'b' is F16 in {P[1]} but F32 in {P[0]}" in refused(
        rule, [good[0], halved, *good[2:]]
    )


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "+inf"), (-np.inf, "-inf")])
@pytest.mark.parametrize("who", [0, 3])
def test_every_rule_refuses_non_finite_values_naming_them(
    rule: AggregationRule, value: float, kind: str, who: int
) -> None:
    updates = five()
    tensors = {name: np.array(a) for name, a in updates[who].tensors.items()}
    tensors["w"][1] = value
    updates[who] = Contribution(P[who], 1, tensors)
    message = refused(rule, updates)
    assert f"contribution from {P[who]}: tensor 'w' holds {kind} at element 1" in message
    assert "INVALID" in message


def test_non_finite_values_are_found_in_large_and_bfloat16_tensors() -> None:
    big = [np.zeros(200_000, dtype=ml_dtypes.bfloat16) for _ in range(5)]
    big[2][150_001] = np.inf
    updates = contributions([{"w": b} for b in big], dtype=ml_dtypes.bfloat16)
    for rule in ALL_RULES:
        assert f"{P[2]}: tensor 'w' holds +inf at element 150001" in refused(rule, updates)


def test_float64_sums_that_overflow_are_refused() -> None:
    updates = contributions([{"w": [1e308]}, {"w": [1e308]}, {"w": [1e308]}], dtype=np.float64)
    assert "overflows float64" in refused(FedAvg(), updates)
    spread = contributions([{"w": [v]} for v in (-1e308, 1e308, 0, 1, 2)], dtype=np.float64)
    assert "overflow float64" in refused(Krum(f=1), spread)


# ---------------------------------------------------------------- rule-specific limits


def test_krum_needs_2f_plus_3_updates() -> None:
    assert (
        "Krum with f=1 needs at least 2f + 3 = 5 contributions, got 4; aggregate more "
        "updates or lower f to at most 0" in refused(Krum(f=1), five()[:4])
    )
    assert "Multi-Krum with f=2 needs at least 2f + 3 = 7 contributions, got 5" in refused(
        MultiKrum(f=2), five()
    )
    assert "(and n ≥ 3 in any case)" in refused(Krum(f=0), five()[:2])
    assert bits(Krum(f=0).aggregate(five()[:3]).tensors["b"]) == bits(np.float32([0.5]))


def test_multi_krum_keeps_at_most_n_minus_f() -> None:
    message = refused(MultiKrum(f=1, m=5), five())
    assert "keeps at most n - f = 4 of 5 updates, not m=5" in message
    assert "leave it null" in message


def test_trimmed_mean_must_leave_a_value() -> None:
    message = refused(TrimmedMean(trim=2), five()[:4])
    assert "trimming 2 at each end of 4 contributions leaves none" in message
    assert "lower trim below 2" in message


# ---------------------------------------------------------------- registry


def test_rules_round_trip_through_name_and_params() -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("fedavg", {}),
        ("median", {}),
        ("trimmed-mean", {"trim": 2}),
        ("trimmed-mean", {"trim_fraction": 0.1}),
        ("krum", {"f": 1}),
        ("multi-krum", {"f": 1, "m": 3}),
        ("multi-krum", {"f": 2, "m": None}),
    ]
    for name, params in cases:
        rule = rule_from(name, params)
        assert rule.name == name
        assert rule.params == params
        assert rule_from(rule.name, rule.params) == rule
    assert set(RULES) == {"fedavg", "median", "trimmed-mean", "krum", "multi-krum"}
    assert rule_from("multi-krum", {"f": 2}).params == {"f": 2, "m": None}
    assert rule_from("trimmed-mean", {"trim_fraction": 0}).params == {"trim_fraction": 0.0}


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("mean", {}, "unknown aggregation rule 'mean'; valid rules are fedavg: no parameters;"),
        ("fedavg", {"f": 1}, "rule 'fedavg' does not take 'f'; it takes no parameters"),
        ("krum", {}, "rule 'krum' needs parameter 'f' (an integer ≥ 0)"),
        ("krum", {"f": -1}, "parameter 'f' must be an integer ≥ 0, not -1"),
        ("krum", {"f": 1.0}, "parameter 'f' must be an integer ≥ 0, not 1.0"),
        ("krum", {"f": True}, "parameter 'f' must be an integer ≥ 0, not True"),
        ("krum", {"f": 1, "m": 2}, "rule 'krum' does not take 'm'; it takes f (an integer"),
        ("multi-krum", {"f": 1, "m": 0}, "parameter 'm' must be an integer ≥ 1, not 0"),
        ("trimmed-mean", {}, "takes exactly one of trim (a count) and trim_fraction"),
        ("trimmed-mean", {"trim": 1, "trim_fraction": 0.1}, "takes exactly one of trim"),
        ("trimmed-mean", {"trim_fraction": 0.5}, "trim_fraction must be a number in [0, 0.5)"),
        ("trimmed-mean", {"trim_fraction": "0.1"}, "must be a number in [0, 0.5), not '0.1'"),
        ("trimmed-mean", {"trim": -1}, "parameter 'trim' must be an integer ≥ 0, not -1"),
        ("median", [], "params of rule 'median' must be a JSON object, not list"),
    ],
)
def test_rule_from_refuses_unknown_rules_and_bad_params(
    name: str, params: Any, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        rule_from(name, params)
    assert message in str(caught.value)


def test_unknown_rule_lists_every_valid_rule_and_its_params() -> None:
    with pytest.raises(InvalidInput) as caught:
        rule_from("avg", {})
    for name in RULES:
        assert name in str(caught.value)
    assert "trim_fraction (a number in [0, 0.5)" in str(caught.value)


def test_rule_ids_are_the_ascii_name_right_padded_to_32_bytes() -> None:
    assert rule_id("fedavg") == b"fedavg" + b"\0" * 26
    assert rule_id("multi-krum") == bytes.fromhex("6d756c74692d6b72756d") + bytes(22)
    for name in RULES:
        assert len(rule_id(name)) == 32
        assert rule_name(rule_id(name)) == name
    with pytest.raises(InvalidInput, match="unknown aggregation rule 'avg'"):
        rule_id("avg")
    with pytest.raises(InvalidInput, match="is not the id of an aggregation rule"):
        rule_name(b"avg".ljust(32, b"\0"))
    with pytest.raises(InvalidInput, match="is not the id of an aggregation rule"):
        rule_name(b"krum")


def test_params_documents_are_canonical_json_and_digests_their_sha256() -> None:
    assert params_document(FedAvg()) == b'{"params":{},"rule":"fedavg"}'
    assert params_document(MultiKrum(f=1, m=3)) == b'{"params":{"f":1,"m":3},"rule":"multi-krum"}'
    assert params_document(MultiKrum(f=1)) == b'{"params":{"f":1,"m":null},"rule":"multi-krum"}'
    assert (
        params_document(TrimmedMean(trim_fraction=0.1))
        == b'{"params":{"trim_fraction":0.1},"rule":"trimmed-mean"}'
    )
    document = params_document(Krum(f=2))
    assert document == b'{"params":{"f":2},"rule":"krum"}'
    assert params_digest(Krum(f=2)) == hashlib.sha256(document).digest()


def test_params_digest_is_the_digest_inside_the_documents_cid() -> None:
    for rule in ALL_RULES:
        document = params_document(rule)
        cid, size = compute_cid([document])  # as the store computes it on put
        assert size == len(document)
        assert cid == CID.of_block(RAW, document)  # a single raw block
        assert cid.digest == params_digest(rule)


# ---------------------------------------------------------------- apply_update


def test_apply_update_adds_in_float64_and_rounds_to_the_base_dtype() -> None:
    base = {"w": np.float32([1, 2**24, -3]), "h": np.float16([1, 2048])}
    delta = {"w": np.float32([0.5, 1, 3]), "h": np.float16([0.25, 1])}
    weights = apply_update(base, delta)
    # 2**24 + 1 is halfway between float32 neighbours 2**24 and 2**24 + 2: ties to even, 2**24
    assert bits(weights["w"]) == bits(np.float32([1.5, 2**24, 0]))
    # 2048 + 1 in float16 (spacing 2 there): halfway, to even 2048
    assert bits(weights["h"]) == bits(np.float16([1.25, 2048]))


def test_apply_update_refuses_mismatches_and_overflow() -> None:
    base = {"w": np.float32([1, 2])}
    with pytest.raises(InvalidInput, match=r"missing \['w'\]; not in the base \['v'\]"):
        apply_update(base, {"v": np.float32([1, 2])})
    with pytest.raises(InvalidInput, match=r"shape \[3\] in the delta but \[2\] in the base"):
        apply_update(base, {"w": np.float32([1, 2, 3])})
    with pytest.raises(InvalidInput, match="delta tensor 'w' is not a floating-point"):
        apply_update(base, {"w": np.int32([1, 2])})
    with pytest.raises(InvalidInput, match="base tensor 'w' is not a floating-point"):
        apply_update({"w": [1.0, 2.0]}, {"w": np.float32([1, 2])})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput) as caught:
        apply_update({"w": np.float16([1, 60000])}, {"w": np.float16([0, 60000])})
    assert "base + delta is not finite in F16 at element 1" in str(caught.value)
