"""A real, small PyTorch model for the end-to-end scenario: an MLP that classifies scikit-learn's
8x8 handwritten digits (``load_digits`` ships inside scikit-learn: no download).

Training is deterministic for a given seed: the weights' initialisation and the batch order come
from generators seeded by ``seed`` (the global RNG is left as it was), and it runs on one
intra-op thread, so float sums, hence the weights, do not depend on the core count. Other CPUs
(another vector instruction set) may still round differently.

Weights travel as canonical safetensors bytes (metadata keys sorted, so one model has one
content address); :func:`load_safetensors` validates the bytes and never unpickles anything.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, TypeVar

import numpy as np
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from torch import nn

from service.errors import InvalidArtifact
from service.ml.safetensors_format import (
    SafetensorsSummary,
    SafetensorsValidator,
    with_sorted_metadata,
)

ModuleT = TypeVar("ModuleT", bound=nn.Module)

ARCHITECTURE: Final = "DigitsMLP"
INPUT_FEATURES: Final = 64  # 8x8 pixels, intensities 0..16
NUM_CLASSES: Final = 10
DEFAULT_HIDDEN: Final = (128, 64)
DEFAULT_SEED: Final = 0
DEFAULT_EPOCHS: Final = 20
_SPLIT_SEED: Final = 1234  # fixed: the held-out split never depends on the training seed
_TEST_FRACTION: Final = 0.25
_MAX_PIXEL: Final = 16.0


class DigitsMLP(nn.Module):
    """Raw pixel intensities (0..16, shape ``[batch, 64]``) -> logits over the 10 digits."""

    def __init__(self, hidden: tuple[int, ...] = DEFAULT_HIDDEN) -> None:
        super().__init__()
        self.hidden = tuple(hidden)
        sizes = (INPUT_FEATURES, *self.hidden)
        layers: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], NUM_CLASSES))
        self.net = nn.Sequential(*layers)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of flattened 8x8 images."""
        return self.net(pixels * (1.0 / _MAX_PIXEL))


@dataclass(frozen=True)
class DigitsSplit:
    """The fixed train/test split of the digits data set (features float32, labels int64)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


@dataclass(frozen=True)
class TrainingMetrics:
    """How a training run went; accuracies are fractions in [0, 1]."""

    seed: int
    epochs: int
    train_size: int
    test_size: int
    final_loss: float
    train_accuracy: float
    test_accuracy: float


@lru_cache(maxsize=1)
def _split_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    parts = train_test_split(x, y, test_size=_TEST_FRACTION, random_state=_SPLIT_SEED, stratify=y)
    train_x, test_x, train_y, test_y = (np.ascontiguousarray(a) for a in parts)
    for array in (train_x, test_x, train_y, test_y):
        array.flags.writeable = False
    return train_x, train_y, test_x, test_y


def digits_split() -> DigitsSplit:
    """The fixed held-out split: 75% train, 25% test, stratified by digit (fresh tensors)."""
    return DigitsSplit(*(torch.tensor(a) for a in _split_arrays()))


def predict(model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The predicted digit for each row of ``pixels``."""
    model.eval()
    with torch.inference_mode():
        return model(pixels).argmax(dim=1)


def evaluate(model: nn.Module) -> float:
    """Accuracy on the held-out test split."""
    split = digits_split()
    return float((predict(model, split.test_x) == split.test_y).float().mean())


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one intra-op thread, then restore the previous count. For a model this small,
    more threads only add synchronisation (on a busy 2-core machine, 10x slower) and make the
    order of float sums, so the trained weights, depend on the machine's core count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_digits_mlp(
    *,
    seed: int = DEFAULT_SEED,
    epochs: int = DEFAULT_EPOCHS,
    hidden: tuple[int, ...] = DEFAULT_HIDDEN,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
) -> tuple[DigitsMLP, TrainingMetrics]:
    """Train a :class:`DigitsMLP` with Adam; the same arguments give the same weights."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        model = DigitsMLP(hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    return model, fit(model, optimizer, seed=seed, epochs=epochs, batch_size=batch_size)


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
) -> TrainingMetrics:
    """Train ``model`` on the training split with cross-entropy, in an order drawn from
    ``seed``, on one thread; returns its metrics, the model left in eval mode."""
    split = digits_split()
    order = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    loss = torch.tensor(float("nan"))
    with _one_thread():
        model.train()
        for _ in range(epochs):
            permutation = torch.randperm(len(split.train_y), generator=order)
            for batch in permutation.split(batch_size):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(split.train_x[batch]), split.train_y[batch])
                loss.backward()
                optimizer.step()
        train_accuracy = float((predict(model, split.train_x) == split.train_y).float().mean())
        test_accuracy = evaluate(model)
    model.eval()
    return TrainingMetrics(
        seed=seed,
        epochs=epochs,
        train_size=len(split.train_y),
        test_size=len(split.test_y),
        final_loss=float(loss.detach()),
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
    )


def save_safetensors(model: DigitsMLP) -> bytes:
    """The model's weights as canonical safetensors bytes, its architecture in ``__metadata__``."""
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {
        "architecture": ARCHITECTURE,
        "input_features": str(INPUT_FEATURES),
        "hidden_sizes": ",".join(map(str, model.hidden)),
        "num_classes": str(NUM_CLASSES),
        "input": "float32[batch, 64] raw pixel intensities 0..16",
    }
    # safetensors writes metadata in a random order; sorted, the bytes depend on the model only
    return with_sorted_metadata(safetensors_save(state, metadata=metadata))


def load_safetensors(data: bytes) -> DigitsMLP:
    """A :class:`DigitsMLP` from bytes written by :func:`save_safetensors`.

    The bytes are validated first and must declare this architecture and hold exactly its
    float32 weights; otherwise InvalidArtifact says what differs. Nothing is unpickled.
    """
    validator = SafetensorsValidator()
    validator.feed(data)
    summary = validator.finish()
    return load_weights(DigitsMLP(_hidden_sizes(summary)), summary, data, ARCHITECTURE)


def load_weights(
    model: ModuleT, summary: SafetensorsSummary, data: bytes, architecture: str
) -> ModuleT:
    """Load ``data`` (already parsed into ``summary``) into ``model`` if its tensors are exactly
    the model's, float32; otherwise InvalidArtifact names what differs. Nothing is unpickled."""
    expected = {name: ("F32", tuple(t.shape)) for name, t in model.state_dict().items()}
    found = {t.name: (t.dtype, t.shape) for t in summary.tensors}
    if found != expected:
        diff = sorted(
            f"{name}: expected {expected.get(name)}, found {found.get(name)}"
            for name in expected.keys() | found.keys()
            if expected.get(name) != found.get(name)
        )
        raise InvalidArtifact(f"weights do not match {architecture}: {'; '.join(diff[:5])}")
    model.load_state_dict(safetensors_load(data), strict=True)
    model.eval()
    return model


def _hidden_sizes(summary: SafetensorsSummary) -> tuple[int, ...]:
    metadata = summary.metadata
    if metadata.get("architecture") != ARCHITECTURE:
        raise InvalidArtifact(
            f"the artifact's metadata declares architecture {metadata.get('architecture')!r}, "
            f"not {ARCHITECTURE!r}"
        )
    try:
        hidden = tuple(int(size) for size in metadata.get("hidden_sizes", "").split(","))
    except ValueError:
        hidden = ()
    if not hidden or not all(0 < size <= 4096 for size in hidden):
        raise InvalidArtifact(
            f"metadata 'hidden_sizes' must be comma-separated sizes in 1..4096, "
            f"not {metadata.get('hidden_sizes')!r}"
        )
    return hidden


def export_archive(model: DigitsMLP) -> bytes:
    """The model as a ``torch.export`` archive (.pt2) with a dynamic batch dimension."""
    model.eval()
    example = digits_split().test_x[:4]
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()
