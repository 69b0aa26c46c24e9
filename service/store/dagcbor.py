"""Just enough DAG-CBOR for CAR headers: ``{"roots": [CID, ...], "version": 1}``. Pure code.

Encoding is canonical DAG-CBOR (map keys sorted by length, then bytes; CIDs as tag 42 over the
binary CID with a leading zero byte), so headers written here match ``@ipld/car`` byte for byte.
Decoding accepts the subset of CBOR a CAR header can hold (unsigned integers, byte and text
strings, arrays, maps, tag 42, booleans and null), definite lengths only, as DAG-CBOR requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.store.cid import CID, read_cid

_CID_TAG = 42
_MAX_DEPTH = 16


class CborError(ValueError):
    """Bytes that are not the DAG-CBOR subset a CAR header uses."""


def encode_car_header(roots: Sequence[CID], version: int = 1) -> bytes:
    """Canonical DAG-CBOR of a CARv1 header."""
    out = bytearray(_head(5, 2))
    out += _text("roots") + _head(4, len(roots))
    for root in roots:
        payload = b"\x00" + root.binary
        out += _head(6, _CID_TAG) + _head(2, len(payload)) + payload
    out += _text("version") + _head(0, version)
    return bytes(out)


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _head(3, len(raw)) + raw


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | extra]) + value.to_bytes(size, "big")
    raise CborError(f"integer {value} too large for CBOR")


def decode(data: bytes) -> Any:
    """Decode one DAG-CBOR value that fills ``data`` exactly. CIDs come back as :class:`CID`."""
    value, end = _decode(memoryview(data), 0, 0)
    if end != len(data):
        raise CborError(f"{len(data) - end} trailing bytes after the CBOR value")
    return value


def _decode(buf: memoryview, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise CborError("CBOR nested too deeply")
    major, info, pos = _read_head(buf, pos)
    if major == 0:
        return info, pos
    if major in (2, 3):
        end = pos + info
        if end > len(buf):
            raise CborError("CBOR string runs past the end")
        raw = bytes(buf[pos:end])
        if major == 2:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError:
            raise CborError("CBOR text is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(info):
            item, pos = _decode(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        result: dict[Any, Any] = {}
        for _ in range(info):
            key, pos = _decode(buf, pos, depth + 1)
            if not isinstance(key, str) or key in result:
                raise CborError("DAG-CBOR map keys must be distinct strings")
            result[key], pos = _decode(buf, pos, depth + 1)
        return result, pos
    if major == 6:
        if info != _CID_TAG:
            raise CborError(f"CBOR tag {info} is not allowed in DAG-CBOR (only 42, CID)")
        payload, pos = _decode(buf, pos, depth + 1)
        if not isinstance(payload, bytes) or not payload.startswith(b"\x00"):
            raise CborError("tag 42 must wrap a byte string starting with 0x00")
        cid, end = read_cid(payload, 1)
        if end != len(payload):
            raise CborError("trailing bytes after a tagged CID")
        return cid, pos
    if major == 7 and info in (20, 21, 22):
        return {20: False, 21: True, 22: None}[info], pos
    raise CborError(f"CBOR major type {major} (info {info}) is not supported in a CAR header")


def _read_head(buf: memoryview, pos: int) -> tuple[int, int, int]:
    if pos >= len(buf):
        raise CborError("truncated CBOR")
    first = buf[pos]
    major, info = first >> 5, first & 0x1F
    pos += 1
    if major == 7:
        return major, info, pos
    if info < 24:
        return major, info, pos
    sizes = {24: 1, 25: 2, 26: 4, 27: 8}
    if info not in sizes:
        raise CborError("indefinite-length or reserved CBOR item (not allowed in DAG-CBOR)")
    end = pos + sizes[info]
    if end > len(buf):
        raise CborError("truncated CBOR integer")
    return major, int.from_bytes(buf[pos:end], "big"), end
