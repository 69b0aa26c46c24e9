"""Tensors as numpy arrays: safetensors bytes in and canonical bytes out, bfloat16 included."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.torch import load as torch_load
from safetensors.torch import save as torch_save

from service.errors import InvalidArtifact
from service.ml.tensors import (
    FLOAT_DTYPES,
    canonical_safetensors,
    float_dtype_code,
    read_safetensors,
)


def test_every_float_dtype_round_trips_bit_for_bit() -> None:
    tensors = {
        "a64": np.array([1.5, -0.0, 1e-310], dtype=np.float64),
        "a32": np.array([[1.5, -0.0], [1e-40, 3e38]], dtype=np.float32),
        "a16": np.array([65504, -6e-8], dtype=np.float16),
        "bf": np.array([1.0078125, -3e38], dtype=ml_dtypes.bfloat16),
        "scalar": np.array(2.0, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    back = read_safetensors(canonical_safetensors(tensors))
    assert back.keys() == tensors.keys()
    for name, array in tensors.items():
        assert back[name].dtype == array.dtype
        assert back[name].shape == array.shape
        assert back[name].tobytes() == array.tobytes()
        assert not back[name].flags.writeable


def test_bfloat16_is_what_torch_writes_and_reads() -> None:
    values = torch.tensor([1.0, -2.5, 3.140625, 1e-39], dtype=torch.bfloat16)
    ours = read_safetensors(torch_save({"x": values}))["x"]
    assert ours.dtype == np.dtype(ml_dtypes.bfloat16)
    assert (
        ours.view(np.uint16).tolist() == values.view(torch.int16).numpy().view(np.uint16).tolist()
    )
    again = torch_load(canonical_safetensors({"x": ours}))["x"]
    assert torch.equal(again.view(torch.int16), values.view(torch.int16))


def test_canonical_bytes_do_not_depend_on_dict_or_metadata_order() -> None:
    a = {"b": np.ones(2, np.float32), "a": np.zeros(3, np.float16)}
    b = {"a": np.zeros(3, np.float16), "b": np.ones(2, np.float32)}
    assert canonical_safetensors(a, {"x": "1", "y": "2"}) == canonical_safetensors(
        b, {"y": "2", "x": "1"}
    )
    # a big-endian or strided array gives the same bytes as its little-endian contiguous copy
    big = np.arange(6, dtype=">f4").reshape(2, 3).T
    assert canonical_safetensors({"t": big}) == canonical_safetensors(
        {"t": np.ascontiguousarray(big, dtype="<f4")}
    )


def test_float_dtype_codes() -> None:
    assert {code: float_dtype_code(dtype) for code, dtype in FLOAT_DTYPES.items()} == {
        code: code for code in FLOAT_DTYPES
    }
    assert float_dtype_code(np.dtype(">f4")) == "F32"
    assert float_dtype_code(np.dtype(np.int32)) is None
    assert float_dtype_code(np.dtype(np.longdouble)) is None


def test_reading_refuses_bad_bytes_and_dtypes_numpy_cannot_hold() -> None:
    with pytest.raises(InvalidArtifact, match="truncated"):
        read_safetensors(canonical_safetensors({"x": np.ones(4, np.float32)})[:-1])
    fp8 = torch_save({"q": torch.zeros(2, dtype=torch.float8_e4m3fn)})
    with pytest.raises(InvalidArtifact, match="tensor 'q' is F8_E4M3, which numpy cannot hold"):
        read_safetensors(fp8)
