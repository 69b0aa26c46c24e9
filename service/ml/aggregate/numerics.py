"""The arithmetic the rules share, written so that every result is fixed bit for bit.

- :func:`to_dtype`: a float64 result rounded once, to nearest-even, into the update's dtype.
- :func:`sorting_network`: a comparator network that sorts ``n`` rows elementwise; the rules
  that rank values per coordinate (median, trimmed mean) sort with it, vectorised over a block
  of coordinates.
- :data:`BLOCK`: the number of coordinates processed at a time; results never depend on it
  except where a rule says so (Krum's distance sums, which use exactly this constant).

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache
from typing import Final

import ml_dtypes
import numpy as np

#: Coordinates per block. Large enough that numpy's per-call cost vanishes, small enough that
#: a block of every contribution stays in the core's cache (10 x 64 Ki x 8 bytes = 5 MiB).
BLOCK: Final = 65_536

_F64: Final = np.dtype("<f8")
_F32: Final = np.dtype("<f4")
_F16: Final = np.dtype("<f2")
_BF16: Final = np.dtype(ml_dtypes.bfloat16)


def blocks(size: int, block: int = BLOCK) -> Iterator[slice]:
    """Consecutive slices of ``range(size)`` of ``block`` elements (the last may be shorter)."""
    for start in range(0, size, block):
        yield slice(start, min(size, start + block))


def work_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype values are ranked in: float32 holds float32, float16 and bfloat16 exactly."""
    return _F64 if np.dtype(dtype) == _F64 else _F32


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` (float64) rounded to nearest, ties to even, into ``dtype`` (F64, F32, F16 or
    BF16), each value rounded once.

    float32 is numpy's cast (IEEE round to nearest). float16 and bfloat16 go through float32
    rounded *to odd*, then numpy's float32→float16 cast or the usual bfloat16 bit rounding: with
    at least two more bits in the intermediate than in the target, round-to-odd followed by
    round-to-nearest equals rounding the float64 directly (Boldo & Melquiond 2008), which a
    plain double cast through float32 would not guarantee. Values beyond the target's range
    become ±inf, as IEEE rounding makes them.
    """
    dtype = np.dtype(dtype)
    if dtype == _F64:
        return np.array(values, dtype=_F64)
    with np.errstate(over="ignore"):
        if dtype == _F32:
            return values.astype(_F32)
        odd = _round_to_odd_float32(values)
        if dtype == _F16:
            return odd.astype(_F16)
    if dtype != _BF16:
        raise ValueError(f"no rounding into {dtype}")
    bits = odd.view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))) >> 16
    return rounded.astype(np.uint16).view(_BF16)


def store_rounded(values: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = to_dtype(values, out.dtype)``, without a temporary for float32 and float64."""
    if out.dtype in (_F32, _F64):
        with np.errstate(over="ignore"):
            np.copyto(out, values, casting="same_kind")
    else:
        out[...] = to_dtype(values, out.dtype)


def all_finite(values: np.ndarray) -> bool:
    """Whether every float64 value is finite: one pass, no temporary. A NaN or an infinity
    makes the sum NaN or infinite; a finite sum that overflowed is told apart by the slow
    check."""
    total = float(np.add.reduce(values))
    return math.isfinite(total) or bool(np.isfinite(values).all())


def _round_to_odd_float32(values: np.ndarray) -> np.ndarray:
    """float64 → float32 rounded to odd: truncate, then set the last bit if anything was lost."""
    nearest = values.astype(_F32)
    back = nearest.astype(_F64)
    overshot = np.abs(back) > np.abs(values)
    truncated = np.where(overshot, np.nextafter(nearest, np.float32(0)), nearest)
    bits = truncated.view(np.uint32)
    bits |= (back != values).astype(np.uint32)
    return truncated


@lru_cache(maxsize=64)
def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort for ``n`` wires: comparators ``(i, j)``, ``i < j``, applied
    in order, each leaving the smaller value on wire ``i``.

    Built for the next power of two; comparators that touch a wire ``≥ n`` are dropped, which
    is exact (those wires would hold +inf and never move). 32 comparators for n = 10.
    """
    if n < 1:
        raise ValueError("a sorting network needs at least one wire")
    size = 1
    while size < n:
        size *= 2
    network: list[tuple[int, int]] = []
    span = 1
    while span < size:
        step = span
        while step >= 1:
            for j in range(step % span, size - step, 2 * step):
                for i in range(min(step, size - j - step)):
                    a, b = i + j, i + j + step
                    if a // (2 * span) == b // (2 * span) and b < n:
                        network.append((a, b))
            step //= 2
        span *= 2
    return tuple(network)


def sort_rows(rows: list[np.ndarray], spare: np.ndarray) -> np.ndarray:
    """Sort the rows elementwise in place (``rows[0]`` smallest) with :func:`sorting_network`;
    returns the buffer left over, to be passed as ``spare`` next time.

    Values must be comparable: no NaN, and no -0.0 beside +0.0 (callers add 0.0 first, which
    turns -0.0 into +0.0). Then every coordinate's sorted values are unique bit patterns, so
    any correct sort gives the same bits; ``np.minimum``/``np.maximum`` only pick values.
    """
    for a, b in sorting_network(len(rows)):
        low, high = rows[a], rows[b]
        np.minimum(low, high, out=spare)
        np.maximum(low, high, out=high)
        rows[a], spare = spare, low
    return spare
