"""A larger model built from code, for the acceleration benchmark: a small transformer encoder
over scikit-learn's 8x8 digits, each image read as a sequence of 8 rows of 8 pixels.

Written with plain operators (Linear, matmul, softmax, LayerNorm, GELU) rather than
``nn.TransformerEncoderLayer``, whose inference fast path is a fused kernel: the exported ONNX
graph is then made of standard operators only, and most of its work is in MatMuls, which is
what int8 builds speed up. Training is deterministic for a seed and runs on one thread, like
:mod:`service.ml.digits`; weights travel as canonical safetensors with the architecture and its
sizes in ``__metadata__``, and :func:`load_safetensors` never unpickles anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import torch
from safetensors.torch import save as safetensors_save
from torch import nn
from torch.nn import functional

from service.errors import InvalidArtifact
from service.ml.digits import NUM_CLASSES, TrainingMetrics, fit, load_weights
from service.ml.safetensors_format import SafetensorsValidator, with_sorted_metadata

ARCHITECTURE: Final = "DigitsTransformer"
_ROWS: Final = 8
_MAX_PIXEL: Final = 16.0


@dataclass(frozen=True)
class TransformerSizes:
    """The encoder's sizes: model width, heads, layers, feed-forward width."""

    width: int = 128
    heads: int = 4
    layers: int = 2
    ffn: int = 512

    def check(self) -> None:
        if not (0 < self.width <= 2048 and 0 < self.heads <= 64 and 0 < self.layers <= 48):
            raise InvalidArtifact(f"transformer sizes out of range: {self}")
        if not 0 < self.ffn <= 8192 or self.width % self.heads:
            raise InvalidArtifact(f"transformer sizes inconsistent: {self}")

    def metadata(self) -> dict[str, str]:
        return {k: str(v) for k, v in vars(self).items()}


class _Block(nn.Module):
    def __init__(self, sizes: TransformerSizes) -> None:
        super().__init__()
        self.heads = sizes.heads
        self.norm1 = nn.LayerNorm(sizes.width)
        self.qkv = nn.Linear(sizes.width, 3 * sizes.width)
        self.proj = nn.Linear(sizes.width, sizes.width)
        self.norm2 = nn.LayerNorm(sizes.width)
        self.up = nn.Linear(sizes.width, sizes.ffn)
        self.down = nn.Linear(sizes.ffn, sizes.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        head = width // self.heads
        qkv = self.qkv(self.norm1(x)).reshape(batch, tokens, 3, self.heads, head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, tokens, head]
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
        mixed = torch.matmul(scores.softmax(dim=-1), v).transpose(1, 2).reshape(x.shape)
        x = x + self.proj(mixed)
        return x + self.down(functional.gelu(self.up(self.norm2(x))))


class DigitsTransformer(nn.Module):
    """Raw pixel intensities (0..16, shape ``[batch, 64]``) -> logits over the 10 digits."""

    def __init__(self, sizes: TransformerSizes | None = None) -> None:
        super().__init__()
        self.sizes = sizes or TransformerSizes()
        self.sizes.check()
        width = self.sizes.width
        self.embed = nn.Linear(_ROWS, width)
        self.position = nn.Parameter(torch.zeros(_ROWS, width))
        self.blocks = nn.ModuleList(_Block(self.sizes) for _ in range(self.sizes.layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, NUM_CLASSES)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of flattened 8x8 images."""
        x = self.embed(pixels.reshape(-1, _ROWS, _ROWS) * (1.0 / _MAX_PIXEL)) + self.position
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(dim=1))


def train_digits_transformer(
    *,
    sizes: TransformerSizes | None = None,
    seed: int = 0,
    epochs: int = 12,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
) -> tuple[DigitsTransformer, TrainingMetrics]:
    """Train a :class:`DigitsTransformer` with AdamW; the same arguments give the same weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsTransformer(sizes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    return model, fit(model, optimizer, seed=seed, epochs=epochs, batch_size=batch_size)


def save_safetensors(model: DigitsTransformer) -> bytes:
    """The weights as canonical safetensors bytes, the architecture and sizes in metadata."""
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {
        "architecture": ARCHITECTURE,
        **model.sizes.metadata(),
        "input": "float32[batch, 64] raw pixel intensities 0..16",
    }
    return with_sorted_metadata(safetensors_save(state, metadata=metadata))


def load_safetensors(data: bytes) -> DigitsTransformer:
    """A :class:`DigitsTransformer` from :func:`save_safetensors` bytes (validated first; the
    tensors must be exactly the architecture's float32 weights). Nothing is unpickled."""
    validator = SafetensorsValidator()
    validator.feed(data)
    summary = validator.finish()
    metadata = summary.metadata
    if metadata.get("architecture") != ARCHITECTURE:
        raise InvalidArtifact(
            f"the artifact declares architecture {metadata.get('architecture')!r}, "
            f"not {ARCHITECTURE!r}"
        )
    try:
        sizes = TransformerSizes(
            **{k: int(metadata[k]) for k in ("width", "heads", "layers", "ffn")}
        )
    except (KeyError, ValueError):
        raise InvalidArtifact(
            "a DigitsTransformer's metadata must give integer width, heads, layers and ffn"
        ) from None
    return load_weights(DigitsTransformer(sizes), summary, data, ARCHITECTURE)
