"""The participant's side of federated learning on the digits: non-IID shards, local training
from a base, the update, a poisoned update (service/ml/federated.py)."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import InvalidInput
from service.ml.digits import DigitsMLP, _split_arrays
from service.ml.federated import (
    accuracy,
    l2_norm,
    label_skewed_shards,
    local_update,
    model_from_weights,
    poisoned,
    update_bytes,
)
from service.ml.safetensors_format import SafetensorsValidator


def initial_weights() -> dict[str, np.ndarray]:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = DigitsMLP()
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_shards_are_label_skewed_disjoint_and_cover_the_training_split() -> None:
    shards = label_skewed_shards(5, classes_each=4, seed=3)
    train_x, train_y, _, _ = _split_arrays()
    assert [s.classes for s in shards] == [
        (0, 1, 2, 3),
        (2, 3, 4, 5),
        (4, 5, 6, 7),
        (6, 7, 8, 9),
        (0, 1, 8, 9),
    ]
    assert sum(len(s) for s in shards) == len(train_y)
    rows = {tuple(r) for s in shards for r in np.column_stack([s.x, s.y])}
    assert len(rows) == len({tuple(r) for r in np.column_stack([train_x, train_y])})
    again = label_skewed_shards(5, classes_each=4, seed=3)
    assert all(np.array_equal(a.x, b.x) for a, b in zip(shards, again, strict=True))


@pytest.mark.parametrize(
    ("participants", "classes_each", "mention"),
    [(1, 4, "2 to 50"), (3, 2, "cannot cover"), (4, 11, "classes_each")],
)
def test_impossible_splits_are_refused(participants: int, classes_each: int, mention: str) -> None:
    with pytest.raises(InvalidInput, match=mention):
        label_skewed_shards(participants, classes_each=classes_each)


def test_a_local_update_is_a_deterministic_delta_that_teaches_the_shard() -> None:
    base = initial_weights()
    shard = label_skewed_shards(5)[0]
    update = local_update(base, shard, seed=7)
    assert {k: (v.shape, v.dtype) for k, v in update.items()} == {
        k: (v.shape, np.dtype(np.float32)) for k, v in base.items()
    }
    again = local_update(base, shard, seed=7)
    assert update_bytes(update, round_id=1) == update_bytes(again, round_id=1)

    def on_shard(weights: dict[str, np.ndarray]) -> float:
        import torch

        with torch.inference_mode():
            logits = model_from_weights(weights)(torch.from_numpy(shard.x))
        return float((logits.argmax(dim=1).numpy() == shard.y).mean())

    trained = {k: base[k] + update[k] for k in base}
    assert on_shard(trained) > on_shard(base) + 0.05  # it learned something of its own digits


def test_a_poisoned_update_is_the_honest_one_scaled() -> None:
    update = {"w": np.array([1.0, -2.0, 2.0], dtype=np.float32)}
    bad = poisoned(update, scale=-4.0)
    assert bad["w"].tolist() == [-4.0, 8.0, -8.0]
    assert l2_norm(update) == 3.0
    assert l2_norm(bad) == 12.0


def test_update_bytes_are_canonical_safetensors() -> None:
    update = {"b": np.zeros(2, np.float32), "a": np.ones((2, 2), np.float32)}
    data = update_bytes(update, round_id=4)
    validator = SafetensorsValidator()
    validator.feed(data)
    summary = validator.finish()
    assert summary.metadata == {"kind": "delta", "round": "4"}
    assert summary.names == ("a", "b")
    assert update_bytes(dict(reversed(update.items())), round_id=4) == data


def test_accuracy_of_a_random_model_is_near_chance() -> None:
    assert 0.0 <= accuracy(initial_weights()) < 0.3
