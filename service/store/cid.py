"""Content identifiers: the CIDv1 form this store uses, parsing and the bytes32 digest rule.

Pure code: no I/O. Every CID here is a sha2-256 CID of codec ``raw`` (0x55) or ``dag-pb``
(0x70), the two codecs kubo's ``ipfs add --cid-version=1`` produces for files. Text is always
written as base32 CIDv1 (``bafk…`` for raw, ``bafy…`` for dag-pb), as kubo prints it.

Input is accepted in any multibase (decoded by the ``multiformats`` package) and as CIDv0
(``Qm…``, which is dag-pb over sha2-256); a CIDv0 is normalised to the CIDv1 that names the same
block.

**Digest rule (what the chain stores).** The chain keeps only the 32-byte sha2-256 digest of the
root block (a ``bytes32``). The codec is not in those 32 bytes, so it is rebuilt from the file
size: a file of at most one chunk (262,144 bytes, including the empty file) is a single ``raw``
block; a larger file has a ``dag-pb`` root. :func:`cid_from_digest` applies that rule.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from multiformats import multibase

from service.errors import InvalidCID, UnsupportedCID

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
DIGEST_SIZE = 32
CHUNK_SIZE = 262_144
"""Fixed chunk size of kubo's default chunker (``size-262144``)."""
MAX_BLOCK_SIZE = 1 << 20
"""Largest block accepted from outside (kubo refuses blocks over 1 MiB without
``--allow-big-block``, since bitswap cannot move them)."""

CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}
_MULTIHASH_PREFIX = bytes([SHA2_256, DIGEST_SIZE])
_MAX_VARINT_BYTES = 9


@dataclass(frozen=True, slots=True)
class CID:
    """A CIDv1 over sha2-256: a codec (:data:`RAW` or :data:`DAG_PB`) and a 32-byte digest."""

    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.codec not in CODEC_NAMES:
            raise UnsupportedCID(
                f"codec 0x{self.codec:x} is not supported; this store holds raw (0x55) and "
                "dag-pb (0x70) blocks only"
            )
        if len(self.digest) != DIGEST_SIZE:
            raise InvalidCID(
                f"a sha2-256 digest is {DIGEST_SIZE} bytes, got {len(self.digest)}; pass the "
                "32-byte digest exactly as stored on chain"
            )

    @classmethod
    def of_block(cls, codec: int, data: bytes | memoryview) -> CID:
        """The CID of ``data`` stored as one block of ``codec``."""
        return cls(codec, hashlib.sha256(data).digest())

    @property
    def multihash(self) -> bytes:
        """The sha2-256 multihash (``0x12 0x20`` + digest): the key blocks are stored under."""
        return _MULTIHASH_PREFIX + self.digest

    @property
    def binary(self) -> bytes:
        """Binary CIDv1: version, codec, multihash."""
        return b"\x01" + encode_varint(self.codec) + self.multihash

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def matches(self, data: bytes | memoryview) -> bool:
        """Whether ``data`` hashes to this CID's digest."""
        return hashlib.sha256(data).digest() == self.digest

    def __str__(self) -> str:
        text = base64.b32encode(self.binary).decode("ascii").rstrip("=").lower()
        return "b" + text

    def __repr__(self) -> str:
        return f"CID('{self}')"


def cid_from_digest(digest: bytes, *, file_size: int) -> CID:
    """Rebuild the root CID of a file from its on-chain sha2-256 digest and its size.

    ``raw`` when the file fits in one chunk (``file_size <= 262144``), ``dag-pb`` otherwise.
    """
    if file_size < 0:
        raise InvalidCID(f"file size cannot be negative, got {file_size}")
    return CID(RAW if file_size <= CHUNK_SIZE else DAG_PB, bytes(digest))


def parse_cid(value: str | bytes | CID) -> CID:
    """Parse a CID given as text (any multibase, or CIDv0 ``Qm…``) or as binary.

    Raises :class:`InvalidCID` for input that is not a CID at all and :class:`UnsupportedCID`
    for a real CID this store cannot hold (another hash function or codec).
    """
    if isinstance(value, CID):
        return value
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        cid, end = read_cid(raw, 0)
        if end != len(raw):
            raise InvalidCID(
                f"{len(raw) - end} trailing bytes after the CID; pass exactly one binary CID"
            )
        return cid
    raise InvalidCID(f"a CID is text or bytes, got {type(value).__name__}")


def _parse_text(text: str) -> CID:
    stripped = text.strip()
    shown = stripped if len(stripped) <= 100 else stripped[:100] + "…"
    if not stripped:
        raise InvalidCID("empty CID; pass a CID such as bafkrei… or Qm…")
    if len(stripped) == 46 and stripped.startswith("Qm"):
        decoded = _decode_multibase("z" + stripped, shown)
    else:
        decoded = _decode_multibase(stripped, shown)
    try:
        cid, end = read_cid(decoded, 0)
    except (InvalidCID, UnsupportedCID) as exc:
        raise type(exc)(f"{shown!r}: {exc}") from None
    if end != len(decoded):
        raise InvalidCID(f"{shown!r} has {len(decoded) - end} trailing bytes after the CID")
    return cid


def _decode_multibase(text: str, shown: str) -> bytes:
    try:
        return bytes(multibase.decode(text))
    except (ValueError, KeyError) as exc:
        raise InvalidCID(
            f"{shown!r} is not a multibase-encoded CID ({exc}); expected base32 CIDv1 "
            "(bafk…/bafy…) or base58 CIDv0 (Qm…)"
        ) from None


def read_cid(buf: bytes | memoryview, offset: int) -> tuple[CID, int]:
    """Decode one binary CID (v1, or v0 = a bare sha2-256 multihash) at ``offset``.

    Returns the CID and the offset just past it.
    """
    if offset + 2 <= len(buf) and buf[offset] == SHA2_256 and buf[offset + 1] == DIGEST_SIZE:
        end = offset + 2 + DIGEST_SIZE
        if end > len(buf):
            raise InvalidCID("truncated CIDv0 multihash")
        return CID(DAG_PB, bytes(buf[offset + 2 : end])), end
    try:
        version, pos = decode_varint(buf, offset)
        if version == 0:
            raise InvalidCID(
                "the bytes start with a version prefix 0, but a CIDv0 has no prefix: it is a "
                "bare sha2-256 multihash (0x12 0x20 then 32 bytes); a prefixed CID is version 1"
            )
        if version != 1:
            raise InvalidCID(
                f"CID version {version} does not exist: a binary CID is version 1 (prefixed "
                "0x01) or version 0 (a bare sha2-256 multihash, 0x12 0x20 then 32 bytes)"
            )
        codec, pos = decode_varint(buf, pos)
        hash_code, pos = decode_varint(buf, pos)
        length, pos = decode_varint(buf, pos)
    except ValueError as exc:
        raise InvalidCID(f"malformed binary CID: {exc}") from None
    if pos + length > len(buf):
        raise InvalidCID(f"the multihash declares {length} digest bytes but fewer follow")
    if hash_code != SHA2_256:
        raise UnsupportedCID(
            f"hash function 0x{hash_code:x} is not supported; this store uses sha2-256 (0x12)"
        )
    if length != DIGEST_SIZE:
        raise InvalidCID(f"a sha2-256 digest is {DIGEST_SIZE} bytes, the CID declares {length}")
    return CID(codec, bytes(buf[pos : pos + length])), pos + length


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128, as multiformats and protobuf use."""
    if value < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes | memoryview, offset: int) -> tuple[int, int]:
    """Decode an unsigned LEB128 varint at ``offset``; returns (value, next offset).

    Raises ValueError for truncated, over-long (more than 9 bytes) and non-minimal encodings.
    """
    value = 0
    shift = 0
    pos = offset
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and pos - offset > 1:
                raise ValueError("non-minimal varint encoding")
            return value, pos
        shift += 7
        if pos - offset >= _MAX_VARINT_BYTES:
            raise ValueError("varint longer than 9 bytes")
