"""The architectures a safetensors parent can be built from.

Safetensors holds weights only; to run them the build needs the module's code. The artifact
names it: ``__metadata__["architecture"]`` in the safetensors header (inside the bytes whose
digest the chain records, so the name is as approved as the weights), with its sizes beside it.
Only architectures listed here are built; anything else must be proposed as ONNX, which carries
its own graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import torch
from torch import nn

from service.errors import InvalidArtifact
from service.ml import digits, digits_transformer
from service.ml.safetensors_format import SafetensorsValidator


@dataclass(frozen=True)
class Architecture:
    """A known architecture: how to load its weights, and its one input."""

    name: str
    load: Callable[[bytes], nn.Module]
    input_name: str
    features: int


KNOWN: Final[dict[str, Architecture]] = {
    a.name: a
    for a in (
        Architecture(
            name=digits.ARCHITECTURE,
            load=digits.load_safetensors,
            input_name="pixels",
            features=digits.INPUT_FEATURES,
        ),
        Architecture(
            name=digits_transformer.ARCHITECTURE,
            load=digits_transformer.load_safetensors,
            input_name="pixels",
            features=digits.INPUT_FEATURES,
        ),
    )
}


def architecture_of(data: bytes) -> Architecture:
    """The known architecture a safetensors artifact names, or InvalidArtifact saying why not."""
    validator = SafetensorsValidator()
    validator.feed(data)
    name = validator.finish().metadata.get("architecture")
    if name is None:
        raise InvalidArtifact(
            "the safetensors parent names no architecture (__metadata__['architecture']), so "
            "its weights cannot be run; propose the model as ONNX, which carries its graph"
        )
    architecture = KNOWN.get(name)
    if architecture is None:
        raise InvalidArtifact(
            f"the safetensors parent names architecture {name!r}, which this service does not "
            f"know (known: {', '.join(sorted(KNOWN))}); propose the model as ONNX instead"
        )
    return architecture


def load_module(data: bytes) -> tuple[nn.Module, Architecture]:
    """The parent's module with its weights (validated; nothing unpickled), in eval mode."""
    architecture = architecture_of(data)
    module = architecture.load(data)
    module.eval()
    return module, architecture


def correct_predictions(data: bytes, inputs: np.ndarray, labels: np.ndarray) -> int:
    """How many rows of ``inputs`` the weights ``data`` (safetensors of a known architecture)
    label as ``labels`` says (the argmax). Computed in float64, so that the count does not
    depend on the order in which a machine's threads sum (it goes into a document whose CID
    should not): torch's thread count is process-wide and a build may be timing with it, so it
    is left as it is. InvalidArtifact if the weights cannot be run on these inputs."""
    module, _ = load_module(data)
    module = module.double()
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float64))
            predicted = module(x).argmax(dim=1)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise InvalidArtifact(
            f"the evaluation set's inputs of shape {tuple(inputs.shape)} cannot be run through "
            f"these weights: {exc}"
        ) from None
    if predicted.shape != labels.shape:
        raise InvalidArtifact(
            f"the evaluation set has {len(labels)} labels for {predicted.shape[0]} predictions"
        )
    return int((predicted.numpy() == labels).sum())
