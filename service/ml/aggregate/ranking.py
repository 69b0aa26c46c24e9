"""Per-coordinate ranking, shared by the median and the trimmed mean.

For each block of coordinates, every contribution's values are copied (exactly) into float32
rows (float64 rows for float64 updates), -0.0 is made +0.0, and the rows are sorted elementwise
by a sorting network (:func:`~service.ml.aggregate.numerics.sort_rows`): row ``k`` then holds
each coordinate's ``k``-th smallest value. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.ml.aggregate.base import Inputs, find_non_finite
from service.ml.aggregate.numerics import BLOCK, blocks, sort_rows, work_dtype


def reduce_ranked(
    inputs: Inputs, name: str, reduce: Callable[[list[np.ndarray], np.dtype], np.ndarray]
) -> np.ndarray:
    """Tensor ``name`` reduced per coordinate by ``reduce(sorted_rows, dtype)``, which returns
    the block's values in ``dtype``; flattened, in the tensor's dtype.

    Raises InvalidInput naming the first non-finite value, if any: a NaN spreads through the
    comparators to the smallest row and an infinity sorts to an end, so checking the first
    and last rows covers every value.
    """
    arrays = inputs.arrays(name)
    dtype = inputs.dtypes[name]
    out = np.empty(arrays[0].size, dtype=dtype)
    # n rows and one spare; sort_rows permutes which buffer holds which rank, which is harmless
    # since every block cuts its views afresh
    store = np.empty((len(arrays) + 1, min(BLOCK, out.size)), dtype=work_dtype(dtype))
    zero = store.dtype.type(0)
    for part in blocks(out.size):
        size = part.stop - part.start
        rows = [store[i, :size] for i in range(len(arrays))]
        for row, array in zip(rows, arrays, strict=True):
            np.add(array[part], zero, out=row)  # exact; -0.0 + 0.0 is +0.0
        sort_rows(rows, store[len(arrays), :size])
        if not (np.isfinite(rows[0]).all() and np.isfinite(rows[-1]).all()):
            raise find_non_finite(inputs, [name]) or AssertionError("non-finite rank")
        out[part] = reduce(rows, dtype)
    return out
