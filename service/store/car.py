"""CAR files (Content Addressable aRchives): write CARv1, read CARv1 and CARv2, verifying.

A CARv1 is a varint-prefixed DAG-CBOR header ``{"roots": [...], "version": 1}`` followed by
sections, each ``varint(len(cid) + len(block)) | cid | block``. This is the format
``ipfs dag export`` writes and ``ipfs dag import`` reads. A CARv2 wraps a CARv1 payload behind an
11-byte pragma and a 40-byte header; :class:`CarReader` reads its payload and ignores the index.

Reading streams: only one section is held at a time, and every block is checked against its CID
before it is handed out, so a CAR whose bytes do not match fails with :class:`CarError` naming
the block. No maintained Python package streams CARs (``libipld`` decodes a whole CAR in memory
and does not verify), hence this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from service.errors import CarError, StoreError
from service.store import dagcbor
from service.store.chunker import Readable
from service.store.cid import CID, MAX_BLOCK_SIZE, encode_varint, read_cid

MAX_HEADER_SIZE = 1 << 20
_MAX_SECTION = MAX_BLOCK_SIZE + 64
_V2_HEADER_SIZE = 40
_READ_SIZE = 1 << 16


def car_header(roots: Sequence[CID]) -> bytes:
    """The varint-prefixed CARv1 header naming ``roots``."""
    header = dagcbor.encode_car_header(roots)
    return encode_varint(len(header)) + header


def section_prefix(cid: CID, block_size: int) -> bytes:
    """What goes before a block's bytes in a CAR section: the length varint and the CID."""
    cid_bytes = cid.binary
    return encode_varint(len(cid_bytes) + block_size) + cid_bytes


class _Buffered:
    """Exact reads over any ``read(n)`` stream, counting the bytes consumed."""

    def __init__(self, stream: Readable, limit: int | None = None) -> None:
        self._stream = stream
        self._buf = bytearray()
        self._limit = limit
        self.consumed = 0

    def _fill(self, wanted: int) -> None:
        while len(self._buf) < wanted:
            ask = max(_READ_SIZE, wanted - len(self._buf))
            if self._limit is not None:
                ask = min(ask, self._limit - self.consumed - len(self._buf))
                if ask <= 0:
                    return
            more = self._stream.read(ask)
            if not more:
                return
            self._buf += more

    def take_buffered(self) -> bytes:
        """Hand over what was read ahead but not consumed (to chain another reader)."""
        out = bytes(self._buf)
        self._buf.clear()
        return out

    def at_end(self) -> bool:
        self._fill(1)
        return not self._buf

    def read_exact(self, n: int, what: str) -> bytes:
        self._fill(n)
        if len(self._buf) < n:
            raise CarError(f"CAR truncated: {what} needs {n} bytes, {len(self._buf)} remain")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.consumed += n
        return out

    def read_varint(self, what: str) -> int:
        value = 0
        for index in range(9):
            byte = self.read_exact(1, what)[0]
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                if byte == 0 and index > 0:
                    raise CarError(f"CAR has a non-minimal varint in {what}")
                return value
        raise CarError(f"CAR has a varint longer than 9 bytes in {what}")


class CarReader:
    """Read a CAR from a binary stream: ``roots`` at once, then :meth:`blocks` lazily."""

    def __init__(self, stream: Readable) -> None:
        self._reader = _Buffered(stream)
        version, roots = self._read_header(self._reader)
        if version == 2:
            self._reader = self._enter_v2_payload(stream)
            version, roots = self._read_header(self._reader)
            if version != 1:
                raise CarError(f"the CARv2 payload must be a CARv1, found version {version}")
        elif version != 1:
            raise CarError(f"CAR version {version} is not supported (1 and 2 are)")
        self.roots: tuple[CID, ...] = roots

    @staticmethod
    def _read_header(reader: _Buffered) -> tuple[int, tuple[CID, ...]]:
        size = reader.read_varint("the header length")
        if size == 0 or size > MAX_HEADER_SIZE:
            raise CarError(f"CAR header length {size} is out of range (1..{MAX_HEADER_SIZE})")
        try:
            header = dagcbor.decode(reader.read_exact(size, "the header"))
        except (ValueError, StoreError) as exc:
            raise CarError(f"CAR header is not valid DAG-CBOR: {exc}") from None
        if not isinstance(header, dict) or not isinstance(header.get("version"), int):
            raise CarError("CAR header must be a map with an integer 'version'")
        version = header["version"]
        if version == 2:
            return 2, ()
        if version != 1:
            raise CarError(f"CAR version {version} is not supported (1 and 2 are)")
        roots = header.get("roots")
        if not isinstance(roots, list) or not all(isinstance(root, CID) for root in roots):
            raise CarError("CARv1 header 'roots' must be a list of CIDs")
        return version, tuple(roots)

    def _enter_v2_payload(self, stream: Readable) -> _Buffered:
        fixed = self._reader.read_exact(_V2_HEADER_SIZE, "the CARv2 header")
        data_offset = int.from_bytes(fixed[16:24], "little")
        data_size = int.from_bytes(fixed[24:32], "little")
        skip = data_offset - self._reader.consumed
        if skip < 0:
            raise CarError(f"CARv2 data offset {data_offset} points inside its header")
        self._reader.read_exact(skip, "the padding before the CARv2 payload")
        return _Buffered(_Prepend(self._reader.take_buffered(), stream), limit=data_size)

    def blocks(self) -> Iterator[tuple[CID, bytes]]:
        """Yield each (CID, block) in file order, after checking the block hashes to its CID."""
        reader = self._reader
        index = 0
        while not reader.at_end():
            size = reader.read_varint(f"the length of section {index}")
            if size == 0 or size > _MAX_SECTION:
                raise CarError(
                    f"CAR section {index} is {size} bytes; blocks must be 1 byte to 1 MiB"
                )
            section = reader.read_exact(size, f"section {index}")
            try:
                cid, start = read_cid(section, 0)
            except StoreError as exc:
                raise CarError(
                    f"CAR section {index} does not start with a usable CID: {exc}"
                ) from None
            block = section[start:]
            if not cid.matches(block):
                raise CarError(
                    f"CAR block {index} does not match its CID {cid} (corrupted or forged); "
                    "nothing was imported",
                    cid=str(cid),
                )
            yield cid, block
            index += 1


class _Prepend:
    """A stream that first returns ``head`` and then reads on from ``stream``."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, n: int = -1, /) -> bytes:
        if self._head:
            out, self._head = (self._head, b"") if n < 0 else (self._head[:n], self._head[n:])
            return out
        return self._stream.read(n)
