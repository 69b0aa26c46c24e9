"""The scenario's digits MLP: deterministic training, a sensible accuracy, safetensors round
trips that unpickle nothing, and a real torch.export archive."""

from __future__ import annotations

import io
import json
import pickle

import pytest
import torch
from safetensors.torch import save as torch_save

from service.errors import InvalidArtifact
from service.ml.digits import (
    ARCHITECTURE,
    DigitsMLP,
    digits_split,
    evaluate,
    export_archive,
    load_safetensors,
    predict,
    save_safetensors,
    train_digits_mlp,
)
from service.ml.formats import SafetensorsSummary, validate_artifact

UNPICKLED: list[str] = []


def _record_unpickling() -> None:
    """Called only if something unpickles :class:`Booby`."""
    UNPICKLED.append("unpickled")


class Booby:
    """A pickle payload that records it was loaded."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _record_unpickling, ()


def test_the_split_is_fixed_and_stratified() -> None:
    first, second = digits_split(), digits_split()
    assert (len(first.train_y), len(first.test_y)) == (1347, 450)
    assert first.train_x.shape == (1347, 64) and first.train_x.dtype == torch.float32
    assert torch.equal(first.test_x, second.test_x) and torch.equal(first.test_y, second.test_y)
    per_digit = torch.bincount(torch.cat([first.train_y, first.test_y]))
    held_out = torch.bincount(first.test_y)
    assert ((held_out - per_digit * 0.25).abs() <= 1).all()  # stratified: a quarter of each digit
    first.test_x.zero_()  # callers get fresh tensors
    assert not torch.equal(first.test_x, digits_split().test_x)


def test_training_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    state = torch.get_rng_state()
    first, metrics = train_digits_mlp(seed=3, epochs=4)
    assert torch.equal(torch.get_rng_state(), state)
    second, again = train_digits_mlp(seed=3, epochs=4)
    assert save_safetensors(first) == save_safetensors(second)
    assert metrics == again
    other, _ = train_digits_mlp(seed=4, epochs=4)
    assert save_safetensors(other) != save_safetensors(first)


def test_training_does_not_depend_on_the_callers_thread_count() -> None:
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two, _ = train_digits_mlp(seed=5, epochs=3)
        assert torch.get_num_threads() == 2  # restored after training on one thread
        torch.set_num_threads(1)
        one, _ = train_digits_mlp(seed=5, epochs=3)
    finally:
        torch.set_num_threads(previous)
    assert save_safetensors(two) == save_safetensors(one)


def test_accuracy_is_well_above_chance() -> None:
    model, metrics = train_digits_mlp()
    assert metrics.test_accuracy > 0.93
    assert metrics.train_accuracy >= metrics.test_accuracy - 0.02
    assert metrics.test_accuracy == evaluate(model)
    run = (metrics.seed, metrics.epochs, metrics.train_size, metrics.test_size)
    assert run == (0, 20, 1347, 450)
    assert 0 < metrics.final_loss < 0.5


def test_saved_weights_are_a_valid_safetensors_file_describing_the_model(
    digits_model: DigitsMLP, model_safetensors: bytes
) -> None:
    summary = validate_artifact("safetensors", model_safetensors)
    assert isinstance(summary, SafetensorsSummary)
    assert summary.metadata == {
        "architecture": ARCHITECTURE,
        "input_features": "64",
        "hidden_sizes": "128,64",
        "num_classes": "10",
        "input": "float32[batch, 64] raw pixel intensities 0..16",
    }
    assert {t.name: (t.dtype, t.shape) for t in summary.tensors} == {
        "net.0.weight": ("F32", (128, 64)),
        "net.0.bias": ("F32", (128,)),
        "net.2.weight": ("F32", (64, 128)),
        "net.2.bias": ("F32", (64,)),
        "net.4.weight": ("F32", (10, 64)),
        "net.4.bias": ("F32", (10,)),
    }
    assert summary.parameter_count == sum(p.numel() for p in digits_model.parameters())
    assert summary.parameter_count == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10


def test_save_and_load_round_trip_gives_identical_predictions(
    digits_model: DigitsMLP, model_safetensors: bytes
) -> None:
    loaded = load_safetensors(model_safetensors)
    for name, tensor in digits_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    test_x = digits_split().test_x
    assert torch.equal(predict(loaded, test_x), predict(digits_model, test_x))
    assert evaluate(loaded) == evaluate(digits_model)
    assert save_safetensors(loaded) == model_safetensors


def test_other_architectures_round_trip_too() -> None:
    model, _ = train_digits_mlp(hidden=(32,), epochs=2)
    loaded = load_safetensors(save_safetensors(model))
    assert loaded.hidden == (32,)
    test_x = digits_split().test_x
    assert torch.equal(predict(loaded, test_x), predict(model, test_x))


def _rewrite_metadata(data: bytes, **changes: str) -> bytes:
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"].update(changes)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data[8 + length :]


def test_loading_rejects_weights_that_are_not_this_model(model_safetensors: bytes) -> None:
    with pytest.raises(InvalidArtifact, match="declares architecture 'ResNet18', not 'DigitsMLP'"):
        load_safetensors(_rewrite_metadata(model_safetensors, architecture="ResNet18"))
    with pytest.raises(InvalidArtifact, match="'hidden_sizes' must be comma-separated sizes"):
        load_safetensors(_rewrite_metadata(model_safetensors, hidden_sizes="lots"))
    with pytest.raises(InvalidArtifact, match=r"net.0.weight: expected \('F32', \(100, 64\)\)"):
        load_safetensors(_rewrite_metadata(model_safetensors, hidden_sizes="100,64"))
    state = {k: v.double() for k, v in DigitsMLP().state_dict().items()}
    doubles = torch_save(state, metadata={"architecture": ARCHITECTURE, "hidden_sizes": "128,64"})
    with pytest.raises(InvalidArtifact, match=r"expected \('F32', .* found \('F64'"):
        load_safetensors(doubles)
    with pytest.raises(InvalidArtifact, match="truncated"):
        load_safetensors(model_safetensors[:-4])


def test_loading_a_pickle_never_unpickles_it() -> None:
    buffer = io.BytesIO()
    torch.save({"net.0.weight": Booby()}, buffer)
    for payload in (buffer.getvalue(), pickle.dumps(Booby())):
        with pytest.raises(InvalidArtifact):
            load_safetensors(payload)
        with pytest.raises(InvalidArtifact):
            validate_artifact("safetensors", payload)
        with pytest.raises(InvalidArtifact):
            validate_artifact("torch-export", payload)
    assert UNPICKLED == []
    pickle.loads(pickle.dumps(Booby()))  # the payload does work when unpickled
    assert UNPICKLED == ["unpickled"]
    UNPICKLED.clear()


def test_export_archive_is_a_real_program_that_predicts_like_the_model(
    digits_model: DigitsMLP, model_pt2: bytes
) -> None:
    assert validate_artifact("torch-export", model_pt2).size == len(model_pt2)
    # Our own trusted bytes: loading them here shows the archive is a working program.
    program = torch.export.load(io.BytesIO(model_pt2))
    test_x = digits_split().test_x
    exported = program.module()(test_x).argmax(dim=1)  # any batch size: dynamic dimension
    assert torch.equal(exported, predict(digits_model, test_x))


def test_exporting_the_same_model_twice_gives_the_same_bytes(
    digits_model: DigitsMLP, model_pt2: bytes
) -> None:
    assert export_archive(digits_model) == model_pt2  # one model, one content address
