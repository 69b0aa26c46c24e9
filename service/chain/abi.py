"""Decoded ABI values as the rest of the code expects them (pure; no I/O)."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address


def checksummed(types: list[str], values: Any) -> Any:
    """Decoded ABI values with every address in EIP-55 form (tuples and arrays included)."""
    out = []
    for typ, value in zip(types, values, strict=True):
        out.append(_checksum_value(typ, value))
    return tuple(out)


def _checksum_value(typ: str, value: Any) -> Any:
    if typ.endswith("]"):  # an array: T[] or T[n]
        inner = typ[: typ.rindex("[")]
        return [_checksum_value(inner, v) for v in value]
    if typ.startswith("("):
        return checksummed(_split_tuple(typ[1:-1]), value)
    if typ == "address":
        return to_checksum_address(value)
    return value


def _split_tuple(inner: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    if current:
        parts.append(current)
    return parts
