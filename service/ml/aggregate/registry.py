"""Rules by name, and how a rule is recorded: its ``bytes32`` id and its parameters document."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from service.errors import InvalidInput
from service.ml.aggregate.base import AggregationRule, describe_params
from service.ml.aggregate.fedavg import FedAvg
from service.ml.aggregate.krum import Krum
from service.ml.aggregate.median import Median
from service.ml.aggregate.multi_krum import MultiKrum
from service.ml.aggregate.trimmed_mean import TrimmedMean

#: Every rule, by the name the chain and the API use.
RULES: Final[Mapping[str, type[AggregationRule]]] = {
    rule.name: rule for rule in (FedAvg, Median, TrimmedMean, Krum, MultiKrum)
}


def _valid_rules() -> str:
    return "; ".join(f"{name}: {describe_params(rule.PARAMS)}" for name, rule in RULES.items())


def rule_from(name: str, params: Mapping[str, Any]) -> AggregationRule:
    """The rule called ``name`` with these parameters (as :attr:`AggregationRule.params` gives
    them back); InvalidInput lists the valid rules or parameters."""
    rule = RULES.get(name) if isinstance(name, str) else None
    if rule is None:
        raise InvalidInput(f"unknown aggregation rule {name!r}; valid rules are {_valid_rules()}")
    return rule.from_params(params)


def rule_id(name: str) -> bytes:
    """The ``bytes32`` the chain stores for a rule: its ASCII name, right-padded with zeros."""
    if name not in RULES:
        raise InvalidInput(f"unknown aggregation rule {name!r}; valid rules are {', '.join(RULES)}")
    return name.encode("ascii").ljust(32, b"\0")


def rule_name(rule_id_: bytes) -> str:
    """The rule a ``bytes32`` id names (the inverse of :func:`rule_id`)."""
    name = bytes(rule_id_).rstrip(b"\0").decode("ascii", errors="replace")
    if len(rule_id_) != 32 or name not in RULES:
        raise InvalidInput(
            f"{bytes(rule_id_).hex()} is not the id of an aggregation rule; valid rules are "
            f"{', '.join(RULES)}"
        )
    return name


def params_document(rule: AggregationRule) -> bytes:
    """The canonical JSON of a rule: ``{"params":{…},"rule":"<name>"}``, keys sorted, no
    spaces, ASCII, floats as Python's shortest repr."""
    document = {"rule": rule.name, "params": rule.params}
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def params_digest(rule: AggregationRule) -> bytes:
    """sha2-256 of :func:`params_document`: the digest inside the CID of that document once it
    is stored (a document under 256 KiB is one raw block, whose CID digest is the sha2-256 of
    the bytes, as ``service.store.cid`` says)."""
    return hashlib.sha256(params_document(rule)).digest()
