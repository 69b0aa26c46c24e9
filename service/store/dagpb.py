"""The dag-pb codec (PBNode / PBLink protobuf) and a minimal protobuf reader. Pure code.

Encoding follows the dag-pb spec's canonical form, which kubo (boxo) and ``@ipld/dag-pb``
both produce: every link first (field 2: Hash = 1, Name = 2, Tsize = 3), then Data (field 1).
File links carry an empty Name, encoded as a present, zero-length string.

No maintained Python package encodes dag-pb (``ipld-dag-pb`` on PyPI is a 0.0.1 placeholder), so
this is hand-written; the tests check its output byte for byte against ``@ipld/dag-pb`` through
``ipfs-unixfs-importer``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from service.store.cid import CID, decode_varint, encode_varint, read_cid

_VARINT = 0
_LEN = 2


class DagPbError(ValueError):
    """Bytes that are not a well-formed dag-pb node."""


@dataclass(frozen=True, slots=True)
class PBLink:
    """A link of a dag-pb node: the child CID and the cumulative size of its DAG."""

    cid: CID
    tsize: int
    name: str = ""


@dataclass(frozen=True, slots=True)
class PBNode:
    """A decoded dag-pb node."""

    links: tuple[PBLink, ...]
    data: bytes | None


def encode_node(links: Sequence[PBLink], data: bytes | None) -> bytes:
    """Encode a dag-pb node in canonical form (links, then data)."""
    out = bytearray()
    for link in links:
        body = len_field(1, link.cid.binary) + len_field(2, link.name.encode("utf-8"))
        body += varint_field(3, link.tsize)
        out += len_field(2, body)
    if data is not None:
        out += len_field(1, data)
    return bytes(out)


def decode_node(block: bytes | memoryview) -> PBNode:
    """Decode a dag-pb node; raises :class:`DagPbError` on anything malformed."""
    links: list[PBLink] = []
    data: bytes | None = None
    for field, value in iter_fields(block):
        if field == 2 and isinstance(value, memoryview):
            links.append(_decode_link(value))
        elif field == 1 and isinstance(value, memoryview):
            if data is not None:
                raise DagPbError("dag-pb node has two Data fields")
            data = bytes(value)
        else:
            raise DagPbError(f"unexpected field {field} in a dag-pb node")
    return PBNode(tuple(links), data)


def _decode_link(buf: memoryview) -> PBLink:
    cid: CID | None = None
    name = ""
    tsize = 0
    for field, value in iter_fields(buf):
        if field == 1 and isinstance(value, memoryview):
            parsed, end = read_cid(value, 0)
            if end != len(value):
                raise DagPbError("trailing bytes after a link's CID")
            cid = parsed
        elif field == 2 and isinstance(value, memoryview):
            try:
                name = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise DagPbError("a link's Name is not UTF-8") from None
        elif field == 3 and isinstance(value, int):
            tsize = value
        else:
            raise DagPbError(f"unexpected field {field} in a dag-pb link")
    if cid is None:
        raise DagPbError("dag-pb link without a Hash")
    return PBLink(cid, tsize, name)


Field = tuple[int, int | memoryview]
"""A decoded protobuf field: its number and its value (an int for a varint, a memoryview
slice for a length-delimited field)."""


def iter_fields(buf: bytes | memoryview) -> Iterator[Field]:
    """Yield the (field number, value) pairs of a protobuf message, in wire order.

    Only the two wire types dag-pb and UnixFS use (varint and length-delimited) are accepted.
    """
    view = memoryview(buf)
    pos = 0
    try:
        while pos < len(view):
            key, pos = decode_varint(view, pos)
            field, wire = key >> 3, key & 7
            if field == 0:
                raise DagPbError("protobuf field number 0")
            if wire == _VARINT:
                number, pos = decode_varint(view, pos)
                yield field, number
            elif wire == _LEN:
                length, pos = decode_varint(view, pos)
                if pos + length > len(view):
                    raise DagPbError("length-delimited field runs past the end of the block")
                yield field, view[pos : pos + length]
                pos += length
            else:
                raise DagPbError(f"unsupported protobuf wire type {wire}")
    except DagPbError:
        raise
    except ValueError as exc:
        raise DagPbError(f"malformed protobuf: {exc}") from None


def len_field(number: int, payload: bytes) -> bytes:
    """Encode a protobuf length-delimited field."""
    return encode_varint(number << 3 | _LEN) + encode_varint(len(payload)) + payload


def varint_field(number: int, value: int) -> bytes:
    """Encode a protobuf varint field."""
    return encode_varint(number << 3 | _VARINT) + encode_varint(value)
