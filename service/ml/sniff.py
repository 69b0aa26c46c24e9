"""What a file is, told from its bytes, and what to say when it is not an accepted artifact.

Pure: nothing is loaded, unpickled or executed. Used before an upload, so that a wrong file is
refused on the uploader's machine with a reason, not after its bytes crossed the network.
The client imports it (a download's warning), so ONNX's parser is imported only when a file
needs it: the Flower side's virtualenv runs the client without the ``onnx`` package.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from service.errors import InvalidArtifact
from service.ml.safetensors_format import SAFETENSORS
from service.ml.torch_export_format import (
    TORCH_EXPORT,
    UNSAFE_TO_LOAD,
    is_torch_export_archive,
)

Chunk = bytes | bytearray | memoryview

PICKLES_REFUSED: Final = (
    "The ledger refuses pickles on purpose: unpickling (torch.load without weights_only=True, "
    "pickle.load) runs whatever code the file's author put in it, and every member who loads "
    "an artifact would run it; tensors travel as safetensors, which hold only numbers"
)

#: (first bytes, what the file is) of formats people try to upload instead.
_MAGIC: Final = (
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras .h5)"),
    (b"GGUF", "a GGUF model (llama.cpp)"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF", "a PDF document"),
)


@dataclass(frozen=True, kw_only=True)
class Identified:
    """``format``: an accepted artifact format the bytes look like (None if none);
    ``what``: the file in words; ``pickled``: the file holds pickles (torch.save)."""

    format: str | None
    what: str
    pickled: bool = False


def identify(head: bytes, chunks: Iterable[Chunk] | None = None) -> Identified:
    """What the file starting with ``head`` (its first bytes, at least 16 if it has them) is;
    ``chunks`` (the whole file) tell a torch.export archive from another zip."""
    if len(head) >= 9:
        (length,) = struct.unpack("<Q", head[:8])
        if 2 <= length <= 100_000_000 and head[8:9] == b"{":
            return Identified(format=SAFETENSORS, what="a safetensors file")
    if head.startswith(b"PK\x03\x04"):
        if chunks is not None and is_torch_export_archive(chunks):
            return Identified(format=TORCH_EXPORT, what="a torch.export archive (.pt2)")
        return Identified(
            format=None,
            what="a zip archive as torch.save writes (a checkpoint of pickled tensors)",
            pickled=True,
        )
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return Identified(
            format=None, what="a pickle (torch.save's legacy format, or pickle.dump)", pickled=True
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return Identified(format=None, what=what)
    if head.lstrip()[:1] in (b"{", b"["):
        return Identified(format=None, what="text (JSON?), not model weights")
    if chunks is not None and _is_onnx(chunks):
        from service.ml.onnx_format import ONNX

        return Identified(format=ONNX, what="an ONNX model")
    return Identified(format=None, what="not a format the ledger knows")


def _is_onnx(chunks: Iterable[Chunk]) -> bool:
    """Whether the bytes parse as an ONNX model the ledger accepts (protobuf only; nothing
    runs). ONNX has no magic number: only its parser can tell."""
    from service.ml.formats import validate_artifact
    from service.ml.onnx_format import ONNX

    try:
        validate_artifact(ONNX, chunks)
    except InvalidArtifact:
        return False
    return True


def not_an_artifact(name: str, found: Identified, *, declared: str | None = None) -> str:
    """Why ``name`` cannot be proposed as it is, and what to do instead."""
    article = "an" if declared and declared[0] in "aeiou" else "a"
    claim = f"{name} is not {article} {declared} file: it is" if declared else f"{name} is"
    if found.pickled:
        return (
            f"{claim} {found.what}. {PICKLES_REFUSED}. If it is your own checkpoint, convert "
            f"it on your machine: `govledger convert {name} -o "
            f"{name.rsplit('.', 1)[0]}.safetensors` (it loads with torch.load(weights_only=True) "
            "only), then propose the .safetensors file"
        )
    return (
        f"{claim} {found.what}. The ledger accepts safetensors files, torch.export archives "
        "(.pt2) and ONNX models: save the weights with safetensors "
        "(safetensors.torch.save_file) and propose that file"
    )


def unsafe_to_load(name: str, chunks: Iterable[Chunk]) -> str | None:
    """A warning for whoever downloaded the file ``name`` with these bytes if it is a
    torch.export archive (or any zip, as torch.save writes): loading those unpickles, so may
    run code. None for anything else (safetensors, ONNX). The CLI prints it and the Python
    client returns it with every download."""
    stream = iter(chunks)
    first = b""
    for chunk in stream:
        first += bytes(chunk)
        if len(first) >= 4:
            break
    if not first.startswith(b"PK\x03\x04"):
        return None

    def whole() -> Iterator[Chunk]:
        yield first
        yield from stream

    if is_torch_export_archive(whole()):
        return f"{name} is a torch.export archive (.pt2): {UNSAFE_TO_LOAD}"
    return (
        f"{name} is a zip archive, as torch.save writes: torch.load may unpickle it and run "
        "code; load it only if you trust the account that proposed it, and prefer safetensors"
    )
