"""Streaming validation of untrusted torch.export archives (``.pt2``). Pure: no I/O, nothing is
unpickled or executed, and nothing is decompressed.

A ``.pt2`` archive is a zip written by ``torch.export.save``. With torch 2.13 every entry sits
under one top-level folder (``archive/`` when saved to a buffer, the file's stem when saved to a
path) and a saved program ``<name>`` (``model`` by default) yields::

    <root>/archive_format                           "pt2"
    <root>/archive_version                          "0"
    <root>/models/<name>.json                       the serialized graph (JSON)
    <root>/data/weights/<name>_weights_config.json  weight name -> payload file and tensor meta
    <root>/data/weights/weight_<i>                  raw tensor bytes
    <root>/data/constants/<name>_constants_config.json
    <root>/data/constants/tensor_<i>                raw tensor bytes
    <root>/data/sample_inputs/<name>.pt             the example inputs: a torch.save PICKLE
    <root>/byteorder, <root>/.data/version, <root>/.data/serialization_id

The validator reads the zip's central directory only: it checks the local-file signature at the
start, keeps the last ``tail_bytes`` of the stream, and at the end parses the end-of-central-
directory record (zip64 too) and every central directory entry in the tail. It requires the
entries above that ``torch.export.load`` needs, checks that ``archive_format`` holds ``pt2`` by
its CRC-32 and size, and rejects entries that hold pickled Python objects (``custom_obj_*``,
``opaque_obj_*``).

What it cannot make safe: ``torch.export.load`` unpickles the sample inputs (``torch.load`` with
``weights_only=True``, then falling back to ``weights_only=False``) and any weight saved with
``use_pickle``. A validated archive is therefore stored and served as opaque bytes; the service
never loads an uploaded ``.pt2``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from service.errors import InvalidArtifact

Chunk = bytes | bytearray | memoryview

#: The format name used in the API and in :func:`service.ml.formats.artifact_validator`.
TORCH_EXPORT: Final = "torch-export"

#: How much of the end of the stream is kept to find the central directory.
DEFAULT_TAIL_BYTES: Final = 1 << 20

_LOCAL_MAGIC: Final = b"PK\x03\x04"
_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory record
_EOCD_SIG: Final = b"PK\x05\x06"
_Z64_LOCATOR = struct.Struct("<4sIQI")
_Z64_LOCATOR_SIG: Final = b"PK\x06\x07"
_Z64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_Z64_EOCD_SIG: Final = b"PK\x06\x06"
_CDIR = struct.Struct("<4sHHHHHHIIIHHHHHII")  # central directory file header
_CDIR_SIG: Final = b"PK\x01\x02"
_MAX_COMMENT: Final = 0xFFFF
_PT2_CRC: Final = zlib.crc32(b"pt2")
_PICKLED_OBJECT_PREFIXES: Final = ("custom_obj_", "opaque_obj_")


@dataclass(frozen=True)
class ZipEntry:
    """One central directory entry: what the validator needs of it."""

    name: str
    crc32: int
    compressed_size: int
    size: int
    local_header_offset: int


@dataclass(frozen=True)
class TorchExportSummary:
    """What a valid torch.export archive holds."""

    root: str
    models: tuple[str, ...]
    entries: tuple[str, ...]
    size: int
    format: str = field(default=TORCH_EXPORT)


def _fail(message: str) -> InvalidArtifact:
    return InvalidArtifact(f"invalid torch.export archive: {message}")


class TorchExportValidator:
    """Validates a ``.pt2`` archive fed in chunks of any size; :meth:`finish` returns a summary.

    Memory is bounded by ``tail_bytes``: an archive whose central directory does not fit in
    that many final bytes is rejected. After an error, the validator keeps raising that error.
    """

    format: str = TORCH_EXPORT

    def __init__(self, *, tail_bytes: int = DEFAULT_TAIL_BYTES) -> None:
        if tail_bytes < _EOCD.size + _Z64_LOCATOR.size + _Z64_EOCD.size:
            raise ValueError(f"tail_bytes={tail_bytes} cannot even hold the end records")
        self._tail_limit = tail_bytes
        self._head = bytearray()
        self._tail = bytearray()
        self._size = 0
        self._error: InvalidArtifact | None = None
        self._finished = False

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def feed(self, chunk: Chunk) -> None:
        """Consume the next bytes; raises InvalidArtifact if the stream is not a zip archive."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        if self._error is not None:
            raise self._error
        data = memoryview(chunk).cast("B")
        self._size += len(data)
        if len(self._head) < len(_LOCAL_MAGIC):
            self._head += data[: len(_LOCAL_MAGIC) - len(self._head)]
            try:
                self._check_head(complete=False)
            except InvalidArtifact as exc:
                self._error = exc
                raise
        if len(data) >= self._tail_limit:
            self._tail[:] = data[len(data) - self._tail_limit :]
        else:
            self._tail += data
            excess = len(self._tail) - self._tail_limit
            if excess > 0:
                del self._tail[:excess]

    def finish(self) -> TorchExportSummary:
        """Parse the central directory and check the archive's entries."""
        if self._error is not None:
            raise self._error
        self._finished = True
        self._check_head(complete=True)
        base = self._size - len(self._tail)  # stream offset of self._tail[0]
        tail = bytes(self._tail)
        cd_offset, cd_size, count = _find_directory(tail, base)
        if cd_offset < base:
            raise _fail(
                f"the archive's directory is too large: its central directory starts "
                f"{self._size - cd_offset} bytes before the end of the archive, but only the "
                f"last {self._tail_limit} bytes are kept to read it"
            )
        entries = _read_entries(tail, cd_offset - base, cd_size, count, cd_offset)
        root, models = _check_pt2_entries(entries)
        return TorchExportSummary(
            root=root,
            models=models,
            entries=tuple(e.name for e in entries),
            size=self._size,
        )

    def _check_head(self, *, complete: bool) -> None:
        head = bytes(self._head)
        if not _LOCAL_MAGIC.startswith(head):
            raise _fail(
                f"not a zip archive: it starts with {head!r}, not the zip local-file "
                f"signature {_LOCAL_MAGIC!r}"
            )
        if complete and len(head) < len(_LOCAL_MAGIC):
            raise _fail(f"truncated: the file has only {self._size} bytes")


def _find_directory(tail: bytes, base: int) -> tuple[int, int, int]:
    """Find the end of central directory record that ends the stream (``tail`` holds its last
    bytes, from stream offset ``base``); return the central directory's offset, size and entry
    count."""
    if len(tail) < _EOCD.size:
        raise _fail(f"truncated: {len(tail)} bytes cannot hold a zip archive's end record")
    lowest = max(0, len(tail) - _EOCD.size - _MAX_COMMENT)
    pos = tail.rfind(_EOCD_SIG, lowest, len(tail) - _EOCD.size + len(_EOCD_SIG))
    while pos >= 0:
        record_end = pos + _EOCD.size + _EOCD.unpack_from(tail, pos)[7]
        if record_end == len(tail):
            return _read_end_records(tail, base, pos)
        if record_end < len(tail):
            try:  # a real end record followed by junk, or the signature inside some entry?
                _read_end_records(tail, base, pos)
            except InvalidArtifact:
                pass
            else:
                raise _fail(f"{len(tail) - record_end} unexpected bytes after the end of the zip")
        pos = tail.rfind(_EOCD_SIG, lowest, pos + len(_EOCD_SIG) - 1)
    raise _fail("truncated or not a zip archive: no end of central directory record at its end")


def _read_end_records(tail: bytes, base: int, pos: int) -> tuple[int, int, int]:
    """Parse the end of central directory record at ``tail[pos:]`` and, before it, the zip64
    locator and record if present; check that the central directory ends right before them."""
    _, disk, cd_disk, disk_count, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, pos)
    directory_end = base + pos  # where the central directory must end
    locator = pos - _Z64_LOCATOR.size
    if locator >= 0 and tail[locator : locator + 4] == _Z64_LOCATOR_SIG:
        _, z64_disk, z64_offset, disks = _Z64_LOCATOR.unpack_from(tail, locator)
        if z64_disk != 0 or disks != 1:
            raise _fail("multi-disk (split) zip archives are not supported")
        record = z64_offset - base
        if not (
            0 <= record <= locator - _Z64_EOCD.size and tail[record : record + 4] == _Z64_EOCD_SIG
        ):
            raise _fail(
                f"the zip64 locator points to offset {z64_offset}, where there is no zip64 end "
                "record: bytes are missing or inserted"
            )
        (_, record_size, _, _, disk, cd_disk, disk_count, count, cd_size, cd_offset) = (
            _Z64_EOCD.unpack_from(tail, record)
        )
        if record + 12 + record_size != locator:
            raise _fail("the zip64 end of central directory record does not end at its locator")
        directory_end = z64_offset
    if disk != 0 or cd_disk != 0 or disk_count != count:
        raise _fail("multi-disk (split) zip archives are not supported")
    if cd_offset + cd_size != directory_end:
        raise _fail(
            f"the central directory (offset {cd_offset}, {cd_size} bytes) does not end where "
            f"the end record starts (offset {directory_end}): bytes are missing or inserted"
        )
    if count == 0:
        raise _fail("the zip archive has no entries")
    return cd_offset, cd_size, count


def _read_entries(tail: bytes, start: int, size: int, count: int, cd_offset: int) -> list[ZipEntry]:
    entries: list[ZipEntry] = []
    pos, end = start, start + size
    for index in range(count):
        if pos + _CDIR.size > end or tail[pos : pos + 4] != _CDIR_SIG:
            raise _fail(f"central directory entry {index} of {count} is missing or malformed")
        fields = _CDIR.unpack_from(tail, pos)
        flags, crc, csize, usize = fields[3], fields[7], fields[8], fields[9]
        name_len, extra_len, comment_len, offset = fields[10], fields[11], fields[12], fields[16]
        name_at = pos + _CDIR.size
        extra_at = name_at + name_len
        pos = extra_at + extra_len + comment_len
        if pos > end:
            raise _fail(f"central directory entry {index} runs past the end of the directory")
        try:
            name = tail[name_at:extra_at].decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(f"the name of entry {index} is not UTF-8") from None
        if flags & 0x1:
            raise _fail(f"entry {name!r} is encrypted")
        extra = tail[extra_at : extra_at + extra_len]
        usize, csize, offset = _zip64_sizes(extra, (usize, csize, offset), name)
        if offset >= cd_offset:
            raise _fail(f"entry {name!r} claims data at offset {offset}, inside the directory")
        entries.append(ZipEntry(name, crc, csize, usize, offset))
    if pos != end:
        raise _fail(f"the central directory has {end - pos} bytes after its last entry")
    return entries


def _zip64_sizes(extra: bytes, values: tuple[int, int, int], name: str) -> tuple[int, int, int]:
    """Replace the 0xFFFFFFFF placeholders among (size, compressed size, local header offset)
    with the 8-byte values the zip64 extra field (id 1) holds, in that order."""
    wanted = [v == 0xFFFFFFFF for v in values]
    if not any(wanted):
        return values
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001 and len(body) == length and length >= 8 * sum(wanted):
            wide = iter(struct.unpack_from(f"<{sum(wanted)}Q", body))
            pairs = zip(wanted, values, strict=True)
            size, csize, offset = (next(wide) if w else v for w, v in pairs)
            return size, csize, offset
        pos += 4 + length
    raise _fail(f"entry {name!r} lacks the zip64 sizes its directory entry announces")


def _check_pt2_entries(entries: list[ZipEntry]) -> tuple[str, tuple[str, ...]]:
    """Check names and the entries torch.export.load needs; return the root and model names."""
    by_name: dict[str, ZipEntry] = {}
    for entry in entries:
        name = entry.name
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or "\x00" in name or ".." in parts:
            raise _fail(f"entry name {name!r} is unsafe (absolute, '..', backslash or NUL)")
        if name in by_name:
            raise _fail(f"entry {name!r} appears twice")
        by_name[name] = entry
    roots = sorted({e.name.split("/")[0] for e in entries if "/" in e.name})
    if len(roots) != 1 or any("/" not in name for name in by_name):
        raise _fail(
            "a torch.export archive keeps every entry under one top-level folder; this one "
            f"has top-level {', '.join(repr(r + '/') for r in roots) or 'files only'}"
        )
    root = roots[0]
    fmt = by_name.get(f"{root}/archive_format")
    if fmt is None:
        hint = " (it looks like a torch.save pickle)" if f"{root}/data.pkl" in by_name else ""
        raise _fail(f"no '{root}/archive_format' entry: not written by torch.export.save{hint}")
    if fmt.size != 3 or fmt.crc32 != _PT2_CRC:
        raise _fail(f"'{root}/archive_format' does not hold 'pt2'")
    prefix, suffix = f"{root}/models/", ".json"
    models = tuple(
        sorted(
            name[len(prefix) : -len(suffix)]
            for name in by_name
            if name.startswith(prefix) and name.endswith(suffix) and "/" not in name[len(prefix) :]
        )
    )
    if not models:
        raise _fail(f"no exported program: no '{prefix}<name>{suffix}' entry")
    for model in models:
        needed = (
            f"{root}/data/sample_inputs/{model}.pt",
            f"{root}/data/weights/{model}_weights_config.json",
            f"{root}/data/constants/{model}_constants_config.json",
        )
        missing = [n for n in needed if n not in by_name]
        if missing:
            raise _fail(f"program {model!r} is incomplete: missing {', '.join(map(repr, missing))}")
    for name in by_name:
        if name.rsplit("/", 1)[-1].startswith(_PICKLED_OBJECT_PREFIXES):
            raise _fail(f"entry {name!r} holds a pickled Python object; such archives are refused")
    return root, models


#: What to tell whoever downloads a ``.pt2``: loading it is not safe the way safetensors is.
UNSAFE_TO_LOAD: Final = (
    "torch.export.load unpickles parts of a .pt2 archive (its sample inputs, falling back to "
    "weights_only=False, and any weight saved with pickle), which runs whatever code its author "
    "put there; load it only if you trust the account that proposed it, and prefer safetensors"
)


def is_torch_export_archive(chunks: Iterable[Chunk]) -> bool:
    """Whether the bytes are a torch.export archive, told by its zip directory alone (nothing
    is decompressed or unpickled)."""
    validator = TorchExportValidator()
    try:
        for chunk in chunks:
            validator.feed(chunk)
        validator.finish()
    except InvalidArtifact:
        return False
    return True
