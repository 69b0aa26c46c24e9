"""How a version is named, as MLflow's registry users know it (pure; no I/O).

Every version has an id on chain (``7``: unique across models, what signed actions carry) and a
number within its model (``digits-mlp@3``: its third version, in proposal order). A reference
is one of:

- ``digits-mlp@3`` (or ``1@3``, by model id): the model's third version;
- ``digits-mlp:production``: the version the model's alias points at now;
- ``7``: the version with id 7 -- or, where the model is already named (``alias set MODEL ...``,
  ``--parent``), the model's seventh version, as ``@7`` always is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.errors import InvalidInput

_MODEL = r"[a-z0-9._-]{1,64}"
_REF = re.compile(
    rf"^(?:(?P<id>\d+)|(?P<model>{_MODEL})?(?:@(?P<number>\d+)|:(?P<alias>[a-z0-9._-]{{1,32}})))$"
)
_ALIAS = re.compile(r"^[a-z0-9._-]{1,32}$")
MAX_ID = 2**40

REF_HELP = (
    "give NAME@N (the model's Nth version, e.g. digits-mlp@3), NAME:ALIAS (the version an "
    "alias points at, e.g. digits-mlp:production) or a version id (e.g. 7)"
)


@dataclass(frozen=True, kw_only=True)
class VersionRef:
    """A parsed reference: an id, or a model (name or id) with a number or an alias."""

    version_id: int | None = None
    model: str | None = None
    number: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version_id is not None:
            return str(self.version_id)
        if self.number is not None:
            return f"{self.model}@{self.number}"
        return f"{self.model}:{self.alias}"


def parse_version_ref(text: str, *, model: str | None = None) -> VersionRef:
    """``text`` as a reference; with ``model`` (the command names it already) a bare number is
    that model's number and ``@3`` / ``:production`` need no name. InvalidInput says what to
    give instead."""
    match = _REF.match(text.strip())
    if match is None:
        named, at, alias = text.strip().partition("@")
        if at and _ALIAS.match(alias):
            raise InvalidInput(
                f"{text!r} does not name a version: @ takes a version's number; an alias "
                f"follows a colon ({named}:{alias})"
            )
        raise InvalidInput(f"{text!r} does not name a version: {REF_HELP}")
    number, alias, named = match["number"], match["alias"], match["model"]
    if match["id"] is not None:
        value = int(match["id"])
        if model is not None:
            return _numbered(model, value, text)
        if not 1 <= value <= MAX_ID:
            raise InvalidInput(f"version id {value} is out of range: ids start at 1")
        return VersionRef(version_id=value)
    if named is None:
        if model is None:
            raise InvalidInput(
                f"{text!r} names no model: write the model before it, e.g. digits-mlp{text}"
            )
        named = model
    elif model is not None and named != model:
        raise InvalidInput(
            f"{text!r} is a version of model {named!r}, but the command is about model "
            f"{model!r}: give one of {model!r}'s versions ({model}@N or {model}:ALIAS)"
        )
    if number is not None:
        return _numbered(named, int(number), text)
    return VersionRef(model=named, alias=alias)


def _numbered(model: str, number: int, text: str) -> VersionRef:
    if not 1 <= number <= MAX_ID:
        raise InvalidInput(
            f"{text!r}: a model's versions are numbered from 1 ({model}@1 is its first)"
        )
    return VersionRef(model=model, number=number)
