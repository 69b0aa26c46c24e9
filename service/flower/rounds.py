"""What a governed Flower run does and did, as plain data (no Flower): the terms of the on-chain
rounds the strategy opens, and per Flower round what each node claimed, what the chain recorded,
and what the aggregate included and excluded. A run in the Flower virtualenv writes its rounds as
JSON (:func:`rounds_to_json`); anyone reads them back (:func:`rounds_from_json`) without flwr.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class RoundTerms:
    """The terms of every on-chain round the strategy opens."""

    rule: str = "multi-krum"
    params: Mapping[str, Any] = field(default_factory=lambda: {"f": 1})
    min_updates: int = 1
    max_updates: int = 10
    max_norm: float = 50.0
    submission_seconds: int = 3600


@dataclass(frozen=True, kw_only=True)
class NodeReport:
    """What one node claimed, and whether the chain backs it."""

    node_id: int
    status: str  # records.RECORDED, records.REFUSED, or "error" (no usable reply)
    participant: str
    update_cid: str
    transaction: str
    reason: str
    contract_error: str
    on_chain: bool  # the chain records this participant's update with this CID
    seconds: Mapping[str, float] = field(default_factory=dict)  # as the node reports them


@dataclass(frozen=True, kw_only=True)
class Exclusion:
    participant: str
    reason: str  # not_selected, unavailable, invalid
    detail: str


@dataclass(frozen=True, kw_only=True)
class GovernedRound:
    """One Flower round as the ledger recorded it."""

    server_round: int
    round_id: int
    base_version_id: int
    reports: tuple[NodeReport, ...]
    recorded: tuple[str, ...]  # participants whose updates the chain recorded, in order
    included: tuple[str, ...] = ()
    excluded: tuple[Exclusion, ...] = ()
    aggregate_cid: str | None = None
    version_id: int | None = None  # the Aggregate version proposed for the members' vote
    cancelled: str | None = None  # why the round was cancelled instead
    # the coordinator's steps: open, sign, wait-for-nodes, close, read, aggregate, finalize,
    # download, round (configure_train's start to aggregate_train's end)
    seconds: Mapping[str, float] = field(default_factory=dict)


def rounds_to_json(rounds: Iterable[GovernedRound]) -> str:
    return json.dumps([asdict(r) for r in rounds], indent=1)


def rounds_from_json(text: str) -> list[GovernedRound]:
    done = []
    for r in json.loads(text):
        reports = tuple(NodeReport(**n) for n in r.pop("reports"))
        excluded = tuple(Exclusion(**e) for e in r.pop("excluded"))
        recorded, included = tuple(r.pop("recorded")), tuple(r.pop("included"))
        done.append(
            GovernedRound(
                **r, reports=reports, excluded=excluded, recorded=recorded, included=included
            )
        )
    return done
