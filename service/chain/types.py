"""Python mirrors of the contracts' enums, rights and records (pure; no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

from service.errors import InvalidInput

ZERO_DIGEST = bytes(32)
_ALIAS_RE = re.compile(r"^[a-z0-9._-]{1,32}$")
_NAME_RE = re.compile(r"^[a-z0-9._-]{1,64}$")
_RULE_RE = re.compile(r"^[a-z0-9._-]{1,32}$")

#: A round's bound on an update's L2 norm is an integer in micro-units: NORM_SCALE = norm 1.0.
NORM_SCALE = 1_000_000
#: The largest norm bound a round accepts: far above any real update, and in micro-units it
#: stays an exact float-to-integer conversion well inside uint256.
MAX_NORM_BOUND = 1e12


class Support(IntEnum):
    """A vote's choice (Ballots.Support)."""

    AGAINST = 0
    FOR = 1
    ABSTAIN = 2


class State(IntEnum):
    """Lifecycle of a version or membership proposal (Ballots.Status)."""

    PROPOSED = 0
    APPROVED = 1
    REJECTED = 2


class VersionKind(IntEnum):
    BASE = 0
    AGGREGATE = 1
    ACCELERATED = 2


class ChangeKind(IntEnum):
    """A membership change (IConsortium.ChangeKind)."""

    ADD_MEMBER = 0
    REMOVE_MEMBER = 1
    SET_QUORUM = 2
    SET_VOTING_PERIOD = 3


class RoundState(IntEnum):
    """Lifecycle of a federated round (IFederatedRounds.RoundState)."""

    OPEN = 0
    CLOSED = 1
    FINALIZED = 2
    CANCELLED = 3


class CloseReason(IntEnum):
    """Why a round closed (IFederatedRounds.CloseReason)."""

    DEADLINE_PASSED = 0
    MAX_UPDATES_REACHED = 1
    CLOSED_EARLY = 2


class ExclusionReason(IntEnum):
    """Why a finalized round's aggregate leaves out an update (the reason codes on chain)."""

    NOT_SELECTED = 1  # not selected by the rule (Krum, trimmed mean, ...)
    UNAVAILABLE = 2  # bytes unavailable or corrupt at aggregation
    INVALID = 3  # fails validation (format, base, norm bound)


class Rights(IntFlag):
    """Per-model rights of an account (ModelRegistry.RIGHT_*)."""

    NONE = 0
    SUBMIT_UPDATES = 1
    READ_ARTIFACTS = 2
    MAINTAIN = 4
    ALL = 7


NAME_RULE = (
    "a name has 1 to 64 characters, each a lower-case letter a-z, a digit 0-9, a dot, an "
    "underscore or a hyphen"
)


def validate_model_name(name: str) -> str:
    """``name`` if the registry accepts it; else InvalidInput saying the rule in words, what
    breaks it and a name that keeps it."""
    if _NAME_RE.match(name):
        return name
    if not name:
        raise InvalidInput(f"a model name cannot be empty: {NAME_RULE}")
    if len(name) > 64:
        raise InvalidInput(f"model name {name[:20]!r}... has {len(name)} characters: {NAME_RULE}")
    bad = sorted({c for c in name if not _NAME_RE.match(c)})
    kinds = []
    if any(c.isupper() for c in bad):
        kinds.append("upper-case letters")
    if any(c.isspace() for c in bad):
        kinds.append("spaces")
    if any(not c.isupper() and not c.isspace() for c in bad):
        kinds.append("other characters")
    shown = ", ".join(repr(c) for c in bad)
    suggestion = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-")
    try_ = f"; {suggestion!r} would do" if suggestion and _NAME_RE.match(suggestion) else ""
    raise InvalidInput(
        f"model name {name!r} has {' and '.join(kinds)} ({shown}): {NAME_RULE}{try_}"
    )


def alias_to_bytes32(alias: str) -> bytes:
    """``production`` -> its ASCII bytes, zero-padded on the right to 32 bytes."""
    if not _ALIAS_RE.match(alias):
        raise InvalidInput(
            f"alias {alias!r} is invalid: use 1 to 32 characters of a-z, 0-9, '.', '_', '-'"
        )
    return alias.encode("ascii").ljust(32, b"\0")


def alias_from_bytes32(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


def rule_to_bytes32(rule: str | bytes) -> bytes:
    """An aggregation rule's name (``fedavg``, ``trimmed-mean``, ...) as the contract stores it:
    its ASCII bytes, zero-padded on the right to 32 bytes. Raw 32 bytes pass through."""
    if isinstance(rule, bytes):
        if len(rule) != 32 or not any(rule):
            raise InvalidInput("a rule as bytes must be 32 bytes, not all zero")
        return rule
    if not _RULE_RE.match(rule):
        raise InvalidInput(
            f"rule {rule!r} is invalid: use 1 to 32 characters of a-z, 0-9, '.', '_', '-'"
        )
    return rule.encode("ascii").ljust(32, b"\0")


def rule_from_bytes32(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


def as_digest(value: bytes | str, what: str = "digest") -> bytes:
    """A bytes32 digest from bytes or 0x-hex; InvalidInput otherwise."""
    if isinstance(value, str):
        text = value[2:] if value.startswith(("0x", "0X")) else value
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise InvalidInput(
                f"{what} {value!r} is not hex; give 32 bytes as 0x + 64 hex digits"
            ) from None
    if len(value) != 32:
        raise InvalidInput(f"{what} has {len(value)} bytes; it must have exactly 32")
    return bytes(value)


@dataclass(frozen=True, kw_only=True)
class Ballot:
    deadline: int
    snapshot_block: int
    for_votes: int
    against_votes: int
    abstain_votes: int
    required: int
    eligible: int
    stored_state: State


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    model_id: int
    name: str
    owner: str
    restricted: bool
    metadata_digest: bytes
    pending_owner: str | None = None  # named by a transfer not yet accepted


@dataclass(frozen=True, kw_only=True)
class VersionRecord:
    version_id: int
    model_id: int
    parent_id: int
    kind: VersionKind
    proposer: str
    artifact_digest: bytes
    metadata_digest: bytes
    state: State  # effective: a Proposed version whose window ended reads as Rejected
    ballot: Ballot
    proposed_block: int


@dataclass(frozen=True, kw_only=True)
class ProposalRecord:
    proposal_id: int
    kind: ChangeKind
    account: str
    value: int
    proposer: str
    state: State
    ballot: Ballot


@dataclass(frozen=True, kw_only=True)
class RoundRecord:
    """A federated round as ``IFederatedRounds.round`` returns it."""

    round_id: int
    model_id: int
    base_version_id: int
    base_digest: bytes
    rule: bytes  # the bytes32 on chain; ``rule_name`` decodes it
    params_digest: bytes
    max_norm: int  # micro-units: NORM_SCALE = 1.0
    submission_deadline: int  # last timestamp (inclusive) at which an update is accepted
    min_updates: int
    max_updates: int
    update_count: int
    included_count: int  # 0 until finalized
    excluded_count: int  # 0 until finalized
    state: RoundState  # effective: an Open round past its deadline reads as Closed
    stored_state: RoundState
    aggregate_version_id: int | None  # set when finalized
    inclusion_root: bytes | None  # set when finalized

    @property
    def rule_name(self) -> str:
        return rule_from_bytes32(self.rule)


@dataclass(frozen=True, kw_only=True)
class UpdateRecord:
    """A participant's update to a round."""

    round_id: int
    participant: str
    update_digest: bytes
    sample_count: int
    index: int  # position in submission order, from 0


@dataclass(frozen=True, kw_only=True)
class Event:
    """One decoded contract event with where and when it happened."""

    name: str
    args: dict[str, Any]
    block_number: int
    block_timestamp: int | None
    transaction_hash: str
    log_index: int
