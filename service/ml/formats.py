"""Validation of untrusted model artifacts, streamed: pick a validator by format name, feed it
the bytes as they arrive, then call ``finish()``. Pure: no I/O, nothing unpickled or executed.

Formats: ``"safetensors"`` (:mod:`service.ml.safetensors_format`), ``"torch-export"``, a
``torch.export.save`` archive (:mod:`service.ml.torch_export_format`), and ``"onnx"``, a
self-contained ONNX model of standard operators (:mod:`service.ml.onnx_format`). Every failure
raises :class:`service.errors.InvalidArtifact` with a message naming what is wrong.

Usage::

    validator = artifact_validator("safetensors")
    for chunk in request_body:
        validator.feed(chunk)  # raises InvalidArtifact as early as the bytes are known bad
    summary = validator.finish()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from service.errors import InvalidArtifact
from service.ml.onnx_format import ONNX, OnnxSummary, OnnxValidator
from service.ml.safetensors_format import (
    DTYPE_BITS,
    MAX_HEADER_BYTES,
    SAFETENSORS,
    SafetensorsSummary,
    SafetensorsValidator,
    TensorInfo,
    with_sorted_metadata,
)
from service.ml.torch_export_format import TORCH_EXPORT, TorchExportSummary, TorchExportValidator

__all__ = [
    "ARTIFACT_FORMATS",
    "DTYPE_BITS",
    "MAX_HEADER_BYTES",
    "ONNX",
    "SAFETENSORS",
    "TORCH_EXPORT",
    "ArtifactSummary",
    "ArtifactValidator",
    "Chunk",
    "OnnxSummary",
    "OnnxValidator",
    "SafetensorsSummary",
    "SafetensorsValidator",
    "TensorInfo",
    "TorchExportSummary",
    "TorchExportValidator",
    "artifact_validator",
    "format_of",
    "validate_artifact",
    "with_sorted_metadata",
]

Chunk = bytes | bytearray | memoryview
ArtifactSummary = SafetensorsSummary | TorchExportSummary | OnnxSummary

#: The artifact formats the ledger accepts, by the names the API uses.
ARTIFACT_FORMATS: Final = (SAFETENSORS, TORCH_EXPORT, ONNX)


class ArtifactValidator(Protocol):
    """A streaming validator: ``feed`` raises as soon as the bytes are known to be wrong;
    ``finish`` checks completeness and returns the summary."""

    @property
    def format(self) -> str:
        """The format name this validator checks."""
        ...

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        ...

    def feed(self, chunk: Chunk) -> None:
        """Consume the next bytes of the artifact."""
        ...

    def finish(self) -> ArtifactSummary:
        """Check that the artifact is complete and well-formed; return what it holds."""
        ...


def artifact_validator(format: str) -> ArtifactValidator:
    """A fresh validator for ``format`` (``"safetensors"``, ``"torch-export"`` or ``"onnx"``)."""
    if format == SAFETENSORS:
        return SafetensorsValidator()
    if format == TORCH_EXPORT:
        return TorchExportValidator()
    if format == ONNX:
        return OnnxValidator()
    raise InvalidArtifact(
        f"unknown artifact format {format!r}; accepted formats are {', '.join(ARTIFACT_FORMATS)}"
    )


def format_of(data: bytes) -> str | None:
    """The format whose validator accepts ``data`` (safetensors, ONNX, torch.export), or None.
    Nothing is loaded: the chain records only a digest, so the bytes say what they are."""
    for name in (SAFETENSORS, ONNX, TORCH_EXPORT):
        try:
            validate_artifact(name, data)
        except InvalidArtifact:
            continue
        return name
    return None


def validate_artifact(format: str, data: Chunk | Iterable[Chunk]) -> ArtifactSummary:
    """Validate a whole artifact given as bytes or as an iterable of chunks."""
    validator = artifact_validator(format)
    chunks = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
    for chunk in chunks:
        validator.feed(chunk)
    return validator.finish()
