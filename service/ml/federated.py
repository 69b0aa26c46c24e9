"""Federated learning on the digits data, as a participant does it with its own data: label-skewed
(non-IID) shards of the training split, local training from a round's base weights, the update
(trained weights minus the base) as canonical safetensors, and a poisoned update for the
scenario's misbehaving participant. Pure: no I/O; training is deterministic per seed on one
thread (see :mod:`service.ml.digits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import torch
from safetensors.numpy import save as safetensors_save
from torch import nn

from service.errors import InvalidInput
from service.ml.digits import (
    NUM_CLASSES,
    DigitsMLP,
    _one_thread,
    _split_arrays,
    digits_split,
    predict,
)
from service.ml.safetensors_format import with_sorted_metadata

UPDATE_KIND: Final = "delta"  # an update is the trained weights minus the base, tensor by tensor


@dataclass(frozen=True)
class Shard:
    """One participant's private training data (features float32 [n, 64], labels int64 [n])."""

    x: np.ndarray
    y: np.ndarray

    @property
    def classes(self) -> tuple[int, ...]:
        return tuple(int(c) for c in np.unique(self.y))

    def __len__(self) -> int:
        return len(self.y)


def label_skewed_shards(participants: int, *, classes_each: int = 4, seed: int = 0) -> list[Shard]:
    """Split the digits training data so that each participant sees only ``classes_each`` of
    the ten digits (participant ``i`` holds digits ``i*k .. i*k + classes_each - 1`` mod 10 with
    ``k`` spreading them over the ten), each digit's samples dealt among the participants that
    hold it. Every digit is held by somebody. Deterministic for a seed."""
    if not 2 <= participants <= 50:
        raise InvalidInput(f"give 2 to 50 participants, not {participants}")
    if not 1 <= classes_each <= NUM_CLASSES:
        raise InvalidInput(f"classes_each must be 1..{NUM_CLASSES}, not {classes_each}")
    if participants * classes_each < NUM_CLASSES:
        raise InvalidInput(
            f"{participants} participants holding {classes_each} digits each cannot cover all "
            f"{NUM_CLASSES}; give more participants or more digits each"
        )
    train_x, train_y, _, _ = _split_arrays()
    step = NUM_CLASSES / participants
    holders: dict[int, list[int]] = {c: [] for c in range(NUM_CLASSES)}
    for p in range(participants):
        start = round(p * step)
        for j in range(classes_each):
            holders[(start + j) % NUM_CLASSES].append(p)
    rng = np.random.default_rng(seed)
    picked: list[list[np.ndarray]] = [[] for _ in range(participants)]
    for digit, owners in holders.items():
        if not owners:  # pragma: no cover - the coverage check above prevents it
            continue
        indices = np.flatnonzero(train_y == digit)
        rng.shuffle(indices)
        for part, owner in zip(np.array_split(indices, len(owners)), owners, strict=True):
            picked[owner].append(part)
    shards = []
    for parts in picked:
        idx = np.sort(np.concatenate(parts))
        shards.append(Shard(x=train_x[idx].copy(), y=train_y[idx].copy()))
    return shards


def sample_shard(size: int, *, seed: int = 1, skip: int = 0) -> Shard:
    """``size`` samples of the training split drawn at random (a permutation seeded by
    ``seed``, from position ``skip``): an organisation's data that is not label-skewed, such as
    the model owner's own small set."""
    train_x, train_y, _, _ = _split_arrays()
    if not size >= 1 or skip < 0 or skip + size > len(train_y):
        raise InvalidInput(f"give 1 to {len(train_y) - skip} samples from position {skip}")
    idx = np.random.default_rng(seed).permutation(len(train_y))[skip : skip + size]
    return Shard(x=train_x[idx].copy(), y=train_y[idx].copy())


def train_base(
    shard: Shard, *, epochs: int = 5, learning_rate: float = 0.1, seed: int = 0
) -> DigitsMLP:
    """A first DigitsMLP trained from its seeded initialisation on ``shard`` alone (SGD)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        initial = DigitsMLP()
    start = {k: v.detach().numpy().copy() for k, v in initial.state_dict().items()}
    delta = local_update(start, shard, epochs=epochs, learning_rate=learning_rate, seed=seed)
    model = model_from_weights({k: start[k] + delta[k] for k in start})
    model.eval()
    return model


def model_from_weights(weights: Mapping[str, np.ndarray]) -> DigitsMLP:
    """A :class:`DigitsMLP` holding ``weights`` (hidden sizes read from their shapes)."""
    hidden = tuple(
        int(weights[name].shape[0])
        for name in sorted(weights, key=_layer_index)
        if name.endswith(".weight")
    )[:-1]
    model = DigitsMLP(hidden)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(np.asarray(v).shape) for k, v in weights.items()}
    if expected != found:
        raise InvalidInput(f"these weights are not a DigitsMLP: expected {expected}, got {found}")
    model.load_state_dict({k: torch.from_numpy(np.array(v, copy=True)) for k, v in weights.items()})
    return model


def local_update(
    base: Mapping[str, np.ndarray],
    shard: Shard,
    *,
    epochs: int = 2,
    learning_rate: float = 0.02,
    batch_size: int = 16,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Train from ``base`` on ``shard`` with plain SGD (FedAvg's local step: an optimiser
    without state, so nothing but the weights carries over between rounds) and return the
    update: trained weights minus ``base``, float32, same names and shapes."""
    model = model_from_weights(base)
    order = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    x, y = torch.from_numpy(shard.x), torch.from_numpy(shard.y)
    with _one_thread():
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(y), generator=order).split(batch_size):
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(x[batch]), y[batch]).backward()
                optimizer.step()
    trained = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return {k: (trained[k].astype(np.float64) - base[k]).astype(np.float32) for k in base}


def poisoned(update: Mapping[str, np.ndarray], *, scale: float = -4.0) -> dict[str, np.ndarray]:
    """A model-poisoning update: the honest one scaled by ``scale`` (negative pushes the model
    away from what the participant's data teaches)."""
    return {
        k: (np.asarray(v, dtype=np.float64) * scale).astype(np.float32) for k, v in update.items()
    }


def l2_norm(update: Mapping[str, np.ndarray]) -> float:
    """The update's L2 norm over all tensors, float64 in name order."""
    total = 0.0
    for name in sorted(update):
        v = np.asarray(update[name], dtype=np.float64)
        total += float(np.dot(v.ravel(), v.ravel()))
    return float(np.sqrt(total))


def accuracy(weights: Mapping[str, np.ndarray]) -> float:
    """Held-out accuracy of a DigitsMLP with ``weights`` (the fixed test split)."""
    model = model_from_weights(weights)
    split = digits_split()
    with _one_thread():
        return float((predict(model, split.test_x) == split.test_y).float().mean())


def update_bytes(update: Mapping[str, np.ndarray], *, round_id: int) -> bytes:
    """Canonical safetensors bytes of an update (sorted metadata: one update, one CID)."""
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in update.items()}
    metadata = {"kind": UPDATE_KIND, "round": str(round_id)}
    return with_sorted_metadata(safetensors_save(arrays, metadata=metadata))


def _layer_index(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0, name)
