"""Cut a byte source into fixed-size chunks, whatever shape it arrives in.

Accepts bytes-like objects (sliced without copying), binary streams (anything with ``read``)
and iterables of bytes (for example an HTTP request body). Chunks are exactly ``size`` bytes
except the last; an empty source gives one empty chunk, as kubo's and ipfs-unixfs-importer's
fixed-size chunkers do. Only one chunk (plus the caller's reads) is held at a time.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

from service.store.cid import CHUNK_SIZE


@runtime_checkable
class Readable(Protocol):
    """A binary stream: ``read(n)`` returns at most ``n`` bytes, ``b""`` at the end."""

    def read(self, n: int = -1, /) -> bytes: ...


ByteSource = bytes | bytearray | memoryview | Readable | Iterable[bytes]
"""What ``put`` accepts: bytes, a binary stream, or an iterable of byte strings."""


def iter_chunks(source: ByteSource, size: int = CHUNK_SIZE) -> Iterator[bytes | memoryview]:
    """Yield the chunks of ``source``: each ``size`` bytes long but the last."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield from _chunks_of_buffer(memoryview(source).cast("B"), size)
    elif isinstance(source, Readable):
        yield from _chunks_of_stream(source, size)
    elif isinstance(source, Iterable):
        yield from _chunks_of_iterable(source, size)
    else:
        raise TypeError(
            f"cannot read bytes from a {type(source).__name__}; pass bytes, a binary file "
            "object or an iterable of bytes"
        )


def _chunks_of_buffer(view: memoryview, size: int) -> Iterator[memoryview]:
    if len(view) == 0:
        yield view
        return
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _chunks_of_stream(stream: Readable, size: int) -> Iterator[bytes]:
    emitted = False
    while True:
        chunk = stream.read(size)
        if not isinstance(chunk, bytes | bytearray):
            raise TypeError(
                f"the stream returned {type(chunk).__name__}, not bytes; open files in binary "
                "mode ('rb')"
            )
        if 0 < len(chunk) < size:
            chunk = bytes(_fill(stream, bytearray(chunk), size))
        if not chunk:
            break
        emitted = True
        yield bytes(chunk)
        if len(chunk) < size:
            return
    if not emitted:
        yield b""


def _fill(stream: Readable, buf: bytearray, size: int) -> bytearray:
    """Keep reading a short-reading stream (a pipe, a socket) until ``size`` bytes or EOF."""
    while len(buf) < size:
        more = stream.read(size - len(buf))
        if not more:
            break
        buf += more
    return buf


def _chunks_of_iterable(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    buf = bytearray()
    emitted = False
    for piece in pieces:
        if not isinstance(piece, bytes | bytearray | memoryview):
            raise TypeError(
                f"the iterable yielded {type(piece).__name__}, not bytes; yield byte strings"
            )
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            emitted = True
            del buf[:size]
    if buf or not emitted:
        yield bytes(buf)


class IterReader:
    """A binary stream over an iterable of byte strings (for example an HTTP body)."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self._pieces = iter(pieces)
        self._buf = b""
        self._pos = 0

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            rest = self._buf[self._pos :] + b"".join(self._pieces)
            self._buf, self._pos = b"", 0
            return rest
        while self._pos >= len(self._buf):
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._buf, self._pos = bytes(piece), 0
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def as_readable(source: ByteSource) -> Readable:
    """Present any :data:`ByteSource` as a binary stream."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    if isinstance(source, Readable):
        return source
    return IterReader(source)
