"""Real artifacts for the ML tests, built once per session: a trained digits model, its
safetensors bytes, its torch.export archive, and a torch.save pickle of the same weights."""

from __future__ import annotations

import io

import pytest
import torch

from service.ml.digits import DigitsMLP, export_archive, save_safetensors, train_digits_mlp


@pytest.fixture(scope="session")
def digits_model() -> DigitsMLP:
    """A digits MLP trained with the default seed (a few hundred ms)."""
    model, _ = train_digits_mlp(epochs=5)
    return model


@pytest.fixture(scope="session")
def model_safetensors(digits_model: DigitsMLP) -> bytes:
    """The digits model's weights written by safetensors."""
    return save_safetensors(digits_model)


@pytest.fixture(scope="session")
def model_pt2(digits_model: DigitsMLP) -> bytes:
    """The digits model as a real torch.export archive."""
    return export_archive(digits_model)


@pytest.fixture(scope="session")
def model_pickle(digits_model: DigitsMLP) -> bytes:
    """The digits model's state dict written by torch.save (a zip holding a pickle)."""
    buffer = io.BytesIO()
    torch.save(digits_model.state_dict(), buffer)
    return buffer.getvalue()
