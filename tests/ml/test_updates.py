"""The update validator on real, hand-made safetensors files: what it accepts (whatever the
chunking), every refusal with its message, how early it refuses, and the memory it keeps."""

from __future__ import annotations

import json
import math
import struct
import tracemalloc
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from service.errors import InvalidArtifact, InvalidInput
from service.ml.safetensors_format import SafetensorsSummary, SafetensorsValidator
from service.ml.tensors import canonical_safetensors, read_safetensors
from service.ml.updates import UpdateSummary, UpdateValidator, compute_update, expected_size

# The base: b (F32 [3]), w (F32 [2, 3]), e (BF16 [2]), h (F16 [1]), laid out in this order.
BASE_LAYOUT = [("b", "F32", [3]), ("w", "F32", [2, 3]), ("e", "BF16", [2]), ("h", "F16", [1])]
PACK = {"F32": "<f", "F16": "<e", "F64": "<d"}


def encode(dtype: str, values: list[float]) -> bytes:
    if dtype == "BF16":
        return np.array(values, dtype=ml_dtypes.bfloat16).tobytes()
    return b"".join(struct.pack(PACK[dtype], v) for v in values)


def st_file(
    tensors: list[tuple[str, str, list[int], list[float]]], metadata: dict[str, str] | None = None
) -> bytes:
    """A safetensors file written by hand: tensors in the order given, back to back."""
    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    data = b""
    for name, dtype, shape, values in tensors:
        raw = encode(dtype, values)
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def summary_of(data: bytes) -> SafetensorsSummary:
    validator = SafetensorsValidator()
    validator.feed(data)
    return validator.finish()


BASE = summary_of(st_file([(n, d, s, [1.0] * math.prod(s)) for n, d, s in BASE_LAYOUT]))


def update(
    b: list[float] | None = None,
    w: list[float] | None = None,
    e: list[float] | None = None,
    h: list[float] | None = None,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """An update of BASE; by default b = [0, 4, 0], w = [3, 0, …], e = h = 0 (norm exactly 5)."""
    values = {
        "b": b if b is not None else [0, 4, 0],
        "w": w if w is not None else [3, 0, 0, 0, 0, 0],
        "e": e if e is not None else [0, 0],
        "h": h if h is not None else [0],
    }
    return st_file([(n, d, s, values[n]) for n, d, s in BASE_LAYOUT], metadata)


def validate(data: bytes, bound: float = 10.0, chunk: int | None = None) -> UpdateSummary:
    validator = UpdateValidator(BASE, norm_bound=bound)
    step = chunk or max(1, len(data))
    for start in range(0, len(data), step):
        validator.feed(data[start : start + step])
    return validator.finish()


def refusal(data: bytes, bound: float = 10.0, chunk: int | None = None) -> str:
    with pytest.raises(InvalidArtifact) as caught:
        validate(data, bound, chunk)
    message = str(caught.value)
    assert message.startswith("invalid update: ") or message.startswith(
        "invalid safetensors file: "
    )
    return message


# ---------------------------------------------------------------- what it accepts


def test_a_valid_update_gives_its_norm_and_layout() -> None:
    data = update(metadata={"round": "7", "client": "x"})  # the metadata may differ from the base
    summary = validate(data)
    assert summary.norm == 5.0  # sqrt(4² + 3²)
    assert [t.name for t in summary.tensors] == ["b", "w", "e", "h"]
    assert summary.metadata == {"round": "7", "client": "x"}
    assert summary.parameter_count == 12
    assert summary.size == len(data)
    assert summary.data_size == expected_size(BASE) == 3 * 4 + 6 * 4 + 2 * 2 + 1 * 2


def test_every_float_dtype_counts_in_the_norm() -> None:
    # 1² + 2² (F32) + 2² (BF16) + 4² (F16) = 25
    assert validate(update(b=[1, 0, 0], w=[0, 0, 0, 0, 2, 0], e=[0, 2], h=[4])).norm == 5.0
    big = [(n, "F64", s, [0.5] * math.prod(s)) for n, _, s in BASE_LAYOUT]
    base64 = summary_of(st_file(big))
    validator = UpdateValidator(base64, norm_bound=10)
    validator.feed(st_file(big))
    assert validator.finish().norm == math.sqrt(12 * 0.25)


def test_any_split_of_the_file_gives_the_same_summary() -> None:
    data = update(b=[0.1, -0.2, 0.3], w=[1e-3, 2, -3, 4, 0, 1e-40], e=[0.5, -1], h=[0.25])
    whole = validate(data)
    for cut in range(len(data) + 1):
        validator = UpdateValidator(BASE, norm_bound=10)
        validator.feed(data[:cut])
        validator.feed(data[cut:])
        assert validator.finish() == whole, cut
    for size in (1, 2, 3, 5, 7):
        assert validate(data, chunk=size) == whole


def test_the_norm_is_one_left_to_right_float64_sum_whatever_the_chunking() -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal(200_003).astype(np.float32)
    layout = [("big", "F32", [200_003])]
    data = canonical_safetensors({"big": values})
    base = summary_of(st_file([(n, d, s, [0.0] * s[0]) for n, d, s in layout]))
    expected = 0.0
    for v in values.astype(np.float64):
        expected += v * v
    for chunk in (4096, 100_000, 1 << 20, 333):
        validator = UpdateValidator(base, norm_bound=1e6)
        for start in range(0, len(data), chunk):
            validator.feed(data[start : start + chunk])
        assert validator.finish().norm == math.sqrt(expected)


def test_the_total_size_is_known_from_the_first_8_bytes() -> None:
    data = update(metadata={"a": "b"})
    validator = UpdateValidator(BASE, norm_bound=10)
    validator.feed(data[:7])
    assert validator.expected_total_size is None
    validator.feed(data[7:8])
    assert validator.expected_total_size == len(data)
    assert validator.size == 8


# ---------------------------------------------------------------- the norm bound


def test_a_norm_at_the_bound_passes_and_just_above_is_refused() -> None:
    assert validate(update(), bound=5.0).norm == 5.0
    below = math.nextafter(5.0, 0.0)
    message = refusal(update(), bound=below)
    assert message == (
        f"invalid update: its L2 norm passes the round's bound {below!r} at element 0 of tensor "
        "'w', where it reaches 5.0; clip the update to the bound and submit it again"
    )
    # the smallest float32 step above 3 in w[0] takes the norm above 5
    assert "passes the round's bound 5.0" in refusal(
        update(w=[float(np.nextafter(np.float32(3), np.float32(4)))] + [0] * 5), bound=5.0
    )


def test_the_norm_is_refused_as_soon_as_it_passes_the_bound() -> None:
    data = update(b=[0, 0, 100])  # passes a bound of 10 at b[2], long before the end
    validator = UpdateValidator(BASE, norm_bound=10)
    start = len(data) - expected_size(BASE)
    validator.feed(data[: start + 8])  # b[0], b[1]
    with pytest.raises(InvalidArtifact, match="at element 2 of tensor 'b', where it reaches 100"):
        validator.feed(data[start + 8 : start + 12])


def test_a_zero_bound_takes_only_zero_updates() -> None:
    assert validate(update(b=[0, 0, 0], w=[0] * 6), bound=0).norm == 0.0
    assert "passes the round's bound 0.0" in refusal(update(), bound=0)


# ---------------------------------------------------------------- refusals


def test_refuses_a_tensor_the_base_does_not_have() -> None:
    data = st_file(
        [*((n, d, s, [0.0] * math.prod(s)) for n, d, s in BASE_LAYOUT), ("x", "F32", [1], [0])]
    )
    assert refusal(data) == "invalid update: it holds tensor 'x', which the base does not have"


def test_refuses_a_renamed_tensor() -> None:
    layout = [("b", "F32", [3]), ("W", "F32", [2, 3]), ("e", "BF16", [2]), ("h", "F16", [1])]
    data = st_file([(n, d, s, [0.0] * math.prod(s)) for n, d, s in layout])
    assert refusal(data) == "invalid update: it holds tensor 'W', which the base does not have"


def test_refuses_a_missing_tensor() -> None:
    data = st_file([(n, d, s, [0.0] * math.prod(s)) for n, d, s in BASE_LAYOUT[:3]])
    assert refusal(data) == (
        "invalid update: it lacks tensor 'h' (F16, shape [1]), which the base has; an update "
        "holds the delta of every base tensor"
    )


def test_refuses_a_wrong_shape() -> None:
    layout = [("b", "F32", [3]), ("w", "F32", [3, 2]), ("e", "BF16", [2]), ("h", "F16", [1])]
    data = st_file([(n, d, s, [0.0] * math.prod(s)) for n, d, s in layout])
    assert refusal(data) == (
        "invalid update: tensor 'w' has shape [3, 2], but the base's is [2, 3]"
    )


def test_refuses_a_wrong_dtype() -> None:
    layout = [("b", "F16", [3]), ("w", "F32", [2, 3]), ("e", "BF16", [2]), ("h", "F16", [1])]
    data = st_file([(n, d, s, [0.0] * math.prod(s)) for n, d, s in layout])
    assert refusal(data) == (
        "invalid update: tensor 'b' is F16, but the base's is F32; an update has the base's dtypes"
    )


@pytest.mark.parametrize(
    ("values", "tensor", "message"),
    [
        ({"w": [0, 0, 0, 0, math.nan, 0]}, "w", "holds NaN at element 4"),
        ({"b": [0, math.inf, 0]}, "b", "holds +inf at element 1"),
        ({"e": [0, -math.inf]}, "e", "holds -inf at element 1"),
        ({"h": [math.nan]}, "h", "holds NaN at element 0"),
    ],
)
def test_refuses_non_finite_values_naming_tensor_and_element(
    values: dict[str, list[float]], tensor: str, message: str
) -> None:
    data = update(**values)  # type: ignore[arg-type]
    for chunk in (None, 1, 3):
        assert refusal(data, bound=1e30, chunk=chunk) == (
            f"invalid update: tensor {tensor!r} {message}; every value of an update must be finite"
        )


def test_refuses_a_truncated_update_at_finish() -> None:
    data = update()
    for cut in range(len(data)):
        validator = UpdateValidator(BASE, norm_bound=10)
        validator.feed(data[:cut])
        with pytest.raises(InvalidArtifact, match="truncated"):
            validator.finish()


def test_refuses_bytes_after_the_end_as_they_arrive() -> None:
    validator = UpdateValidator(BASE, norm_bound=10)
    validator.feed(update())
    with pytest.raises(InvalidArtifact, match="unexpected bytes after the end of the tensor data"):
        validator.feed(b"\0")


def test_refuses_what_is_not_safetensors() -> None:
    assert "zip archive" in refusal(b"PK\x03\x04" + bytes(100))
    assert "Python pickle" in refusal(b"\x80\x04\x95" + bytes(100))


def test_an_error_sticks() -> None:
    validator = UpdateValidator(BASE, norm_bound=1)
    with pytest.raises(InvalidArtifact, match="passes the round's bound") as first:
        validator.feed(update())
    with pytest.raises(InvalidArtifact) as again:
        validator.feed(b"")
    assert again.value is first.value
    with pytest.raises(InvalidArtifact) as at_finish:
        validator.finish()
    assert at_finish.value is first.value


def test_bases_and_bounds_it_cannot_work_with_are_refused_up_front() -> None:
    counted = summary_of(st_file([("w", "F32", [1], [0]), ("steps", "I64", [0], [])]))
    with pytest.raises(InvalidInput, match="the base's tensor 'steps' is I64; federated updates"):
        UpdateValidator(counted, norm_bound=1)
    with pytest.raises(InvalidInput, match="so this base cannot take updates"):
        expected_size(counted)
    for bound in (-1, math.inf, math.nan, "5", True):
        with pytest.raises(InvalidInput, match="the norm bound must be a finite number ≥ 0"):
            UpdateValidator(BASE, norm_bound=bound)  # type: ignore[arg-type]


# ---------------------------------------------------------------- memory


def test_memory_does_not_grow_with_the_update() -> None:
    """tracemalloc sees numpy's buffers: the peak while validating a 32 MiB update fed in
    1 MiB chunks stays a few MiB (the chunk's temporaries), not the update's size."""
    values = np.ones(8 * 2**20, dtype=np.float32)
    data = canonical_safetensors({"big": values})
    base = summary_of(canonical_safetensors({"big": np.zeros_like(values)}))
    view = memoryview(data)
    tracemalloc.start()
    try:
        validator = UpdateValidator(base, norm_bound=1e9)
        for start in range(0, len(view), 2**20):
            validator.feed(view[start : start + 2**20])
        summary = validator.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.norm == math.sqrt(8 * 2**20)
    assert peak < 4 * 2**20, peak


# ---------------------------------------------------------------- computing an update


def test_an_update_computed_from_trained_weights_passes_the_gate_and_adds_back() -> None:
    """compute_update over every float dtype: the result is what UpdateValidator admits for
    that base, base + update gives the trained weights back (each difference rounded once
    into the base's dtype), and the same weights give the same bytes whatever their order."""
    rng = np.random.default_rng(3)
    base_arrays = {
        "w": rng.standard_normal((2, 3)).astype(np.float32),
        "e": rng.standard_normal(2).astype(ml_dtypes.bfloat16),
        "h": rng.standard_normal(1).astype(np.float16),
        "d": rng.standard_normal(4).astype(np.float64),
    }
    base = canonical_safetensors(base_arrays)
    trained = {k: (v.astype(np.float64) + 0.25).astype(v.dtype) for k, v in base_arrays.items()}
    data = compute_update(base, trained)
    assert compute_update(base, dict(reversed(list(trained.items())))) == data

    validator = UpdateValidator(summary_of(base), norm_bound=10.0)
    validator.feed(data)
    validator.finish()
    update = read_safetensors(data)
    for name, array in base_arrays.items():
        assert update[name].dtype == array.dtype
        back = array.astype(np.float64) + update[name].astype(np.float64)
        assert np.allclose(back, trained[name].astype(np.float64), atol=0.02)


@pytest.mark.parametrize(
    ("trained", "mention"),
    [
        ({"w": np.zeros((2, 3), np.float32)}, "'b' is in the base but not in the trained"),
        ({"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32),
          "x": np.zeros(1, np.float32)}, "'x' is in the trained weights but not in the base"),
        ({"w": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float32)},
         "'w' has shape [3, 2] here, [2, 3] in the base"),
        ({"w": np.zeros((2, 3), np.float16), "b": np.zeros(3, np.float32)},
         "'w' is F16 here but F32 in the base"),
        ({"w": np.zeros((2, 3), np.int32), "b": np.zeros(3, np.float32)},
         "'w' is int32 here but F32 in the base"),
        ({"w": np.full((2, 3), np.inf, np.float32), "b": np.zeros(3, np.float32)},
         "'w' holds values that are not finite"),
    ],
    ids=["missing", "extra", "shape", "dtype", "integer", "inf"],
)  # fmt: skip
def test_an_update_is_not_computed_from_weights_that_do_not_fit(
    trained: dict[str, Any], mention: str
) -> None:
    base = canonical_safetensors({"w": np.ones((2, 3), np.float32), "b": np.ones(3, np.float32)})
    with pytest.raises(InvalidInput) as refused:
        compute_update(base, trained)
    assert mention in str(refused.value)
