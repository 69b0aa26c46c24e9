"""The explorer's templates (Jinja, every value escaped) and the filters that write values the
way the rest of the project does: times in UTC, enum names, ``name@3``."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2

from service.chain.types import (
    CloseReason,
    ExclusionReason,
    Rights,
    RoundState,
    State,
    Support,
    VersionKind,
)


def utc(timestamp: int | None) -> str:
    """``2026-12-02 01:00:07 UTC``."""
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(value: str | None, keep: int = 6) -> str:
    """``0x1234…cdef``: a long hex value shortened for a table (the full value in its link)."""
    if not value:
        return ""
    return value if len(value) <= 2 * keep + 2 else f"{value[: keep + 2]}…{value[-keep:]}"


def hex_of(value: bytes | None) -> str:
    return "" if value is None else "0x" + bytes(value).hex()


def is_set(digest: bytes | None) -> bool:
    """Whether a digest names something (not the zero digest)."""
    return bool(digest) and any(bytes(digest or b""))


def enum_name(value: Any) -> str:
    """An enum's member as the API names it (``approved``, ``not_selected``)."""
    name = getattr(value, "name", None)
    return str(value) if name is None else str(name).lower()


def rights_names(mask: int) -> str:
    names = [
        str(r.name).lower()
        for r in (Rights.SUBMIT_UPDATES, Rights.READ_ARTIFACTS, Rights.MAINTAIN)
        if int(mask) & r
    ]
    return ", ".join(names) or "none"


_EVENT_ENUMS: dict[tuple[str, str], type] = {
    ("VersionProposed", "kind"): VersionKind,
    ("VoteCast", "support"): Support,
    ("VersionStateChanged", "previous"): State,
    ("VersionStateChanged", "current"): State,
    ("RoundStateChanged", "previous"): RoundState,
    ("RoundStateChanged", "current"): RoundState,
    ("RoundClosed", "reason"): CloseReason,
    ("UpdateExcluded", "reason"): ExclusionReason,
}
_RIGHTS_ARGS = {("RightsGranted", "rights"), ("RightsGranted", "current")} | {
    ("RightsRevoked", "rights"),
    ("RightsRevoked", "current"),
}


def event_value(event: str, name: str, value: Any) -> str:
    """An event's argument as a person reads it: bytes as 0x-hex, enums by name (and code),
    rights masks by their rights' names."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    enum = _EVENT_ENUMS.get((event, name))
    if enum is not None:
        try:
            return f"{enum_name(enum(int(value)))} ({value})"
        except ValueError:
            return str(value)
    if (event, name) in _RIGHTS_ARGS:
        return f"{rights_names(int(value))} ({value})"
    return str(value)


def is_address(value: object) -> bool:
    """Whether ``value`` is a 0x-prefixed 20-byte hex account address (a non-zero one)."""
    text = str(value)
    return (
        len(text) == 42
        and text.startswith("0x")
        and all(c in "0123456789abcdefABCDEF" for c in text[2:])
        and int(text, 16) != 0
    )


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("service.explorer", "templates"),
        autoescape=True,  # every page is HTML (with inline SVG): escape everything
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        utc=utc,
        short=short,
        hex=hex_of,
        enum=enum_name,
        rights=rights_names,
        event_value=event_value,
        is_set=is_set,
    )
    env.tests["match_address"] = is_address
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
