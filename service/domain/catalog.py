"""Read-side use cases: models, versions, votes, aliases, rights and members, from the chain."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Generic, TypeVar

from service.chain.history import uint_topic
from service.chain.ledger import Ledger
from service.chain.types import (
    Event,
    ModelRecord,
    ProposalRecord,
    Rights,
    State,
    VersionKind,
    VersionRecord,
    alias_from_bytes32,
    validate_model_name,
)
from service.domain import indexed
from service.domain.refs import VersionRef
from service.errors import InvalidInput, NotFound
from service.index.store import IndexFile

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
    indexed_to_block: int | None = None  # read from the event index up to this block


def _page(items: list[T], offset: int, limit: int, indexed_to_block: int | None = None) -> Page[T]:
    return Page(
        items=items[offset : offset + limit],
        total=len(items),
        offset=offset,
        limit=limit,
        indexed_to_block=indexed_to_block,
    )


def list_models(
    ledger: Ledger,
    *,
    name: str | None,
    owner: str | None,
    offset: int,
    limit: int,
    index: IndexFile | None = None,
) -> Page[ModelRecord]:
    """Models in registration order, filtered by name (substring) and owner (exact): from the
    event index and the blocks past its head when it can answer (``indexed.models``), else one
    chain call per model."""
    answered = indexed.models(ledger, index, name=name, owner=owner)
    if answered is not None:
        found, head = answered
        return _page(found, offset, limit, head)
    chain_found = []
    for model_id in range(1, ledger.model_count() + 1):
        m = ledger.model(model_id)
        if indexed.matches(m, name, owner):
            chain_found.append(m)
    return _page(chain_found, offset, limit)


def model_by_name(ledger: Ledger, name: str) -> ModelRecord:
    """The model named ``name``; NotFound suggests the names closest to it."""
    try:
        validate_model_name(name)
    except InvalidInput as exc:
        raise InvalidInput(f"{exc}{_did_you_mean(ledger, name)}") from None
    model_id = ledger.model_id_by_name(name)
    if model_id is None:
        raise NotFound(
            f"no model is named {name!r}{_did_you_mean(ledger, name)}; "
            "`govledger models list` shows every model"
        )
    return ledger.model(model_id)


def model_by_reference(ledger: Ledger, model: str) -> ModelRecord:
    """A model given by id (digits) or by name."""
    if model.isdigit():
        return ledger.model(int(model))
    return model_by_name(ledger, model)


def _did_you_mean(ledger: Ledger, name: str) -> str:
    names = [ledger.model(m).name for m in range(1, ledger.model_count() + 1)]
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def version_numbers(ledger: Ledger, model_id: int) -> dict[int, int]:
    """Each of the model's version ids with its number within the model (1, 2, 3 ... in
    proposal order), from the chain's VersionProposed events."""
    return {v: n for n, v in enumerate(ledger.version_ids_of(model_id), start=1)}


def version_number(ledger: Ledger, version: VersionRecord) -> int:
    return version_numbers(ledger, version.model_id)[version.version_id]


def version_by_number(ledger: Ledger, model: ModelRecord, number: int) -> VersionRecord:
    ids = ledger.version_ids_of(model.model_id)
    if not 1 <= number <= len(ids):
        has = f"versions 1 to {len(ids)}" if ids else "no versions yet"
        raise NotFound(
            f"model {model.name!r} has no version {number} ({model.name}@{number}); it has "
            f"{has}: `govledger versions list {model.name}` shows them"
        )
    return ledger.version(ids[number - 1])


def resolve_version(ledger: Ledger, ref: VersionRef) -> VersionRecord:
    """The version a reference names (see service/domain/refs.py)."""
    if ref.version_id is not None:
        return ledger.version(ref.version_id)
    assert ref.model is not None
    model = model_by_reference(ledger, ref.model)
    if ref.number is not None:
        return version_by_number(ledger, model, ref.number)
    assert ref.alias is not None
    version_id = alias_value(ledger, model.model_id, ref.alias, None)
    if version_id is None:
        raise NotFound(
            f"{model.name}:{ref.alias} names no version: the alias was cleared; "
            f"`govledger alias history {model.name} {ref.alias}` shows its moves"
        )
    return ledger.version(version_id)


def list_versions(
    ledger: Ledger,
    model_id: int,
    *,
    kind: VersionKind | None,
    state: State | None,
    offset: int,
    limit: int,
) -> Page[VersionRecord]:
    ledger.model(model_id)  # RegistryUnknownModel if there is none
    versions = [ledger.version(v) for v in ledger.version_ids_of(model_id)]
    selected = [
        v
        for v in versions
        if (kind is None or v.kind == kind) and (state is None or v.state == state)
    ]
    return _page(selected, offset, limit)


def votes(ledger: Ledger, version_id: int) -> list[Event]:
    ledger.version(version_id)  # RegistryUnknownVersion if there is none
    return ledger.votes(version_id)


def aliases_of(ledger: Ledger, model_id: int) -> dict[str, int | None]:
    """Every alias the model ever had, with its current version (None once cleared)."""
    ledger.model(model_id)
    current: dict[str, int | None] = {}
    for e in ledger.events(
        contract="ModelRegistry",
        event="AliasMoved",
        topics=[uint_topic(model_id)],
        with_timestamps=False,
    ):
        current[alias_from_bytes32(e.args["aliasName"])] = int(e.args["versionId"]) or None
    return current


def alias_value(ledger: Ledger, model_id: int, alias: str, block: int | None) -> int | None:
    """The version the alias points at (now, or once ``block`` was mined); None if it was
    cleared (or not set yet at that block). An alias the model never had is NotFound."""
    model = ledger.model(model_id)
    if block is not None:
        latest = ledger.block_number()
        if block > latest:
            raise InvalidInput(f"block {block} is not mined yet; the latest block is {latest}")
    version_id = ledger.alias_of(model_id, alias)
    if version_id is None and not ledger.alias_history(model_id, alias):
        known = sorted(aliases_of(ledger, model_id))
        close = difflib.get_close_matches(alias, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        has = f"its aliases are {', '.join(known)}" if known else "it has no aliases yet"
        raise NotFound(
            f"model {model.name!r} has no alias named {alias!r}{hint}; {has}: `govledger "
            f"alias set {model.name} {alias} VERSION` creates it"
        )
    if block is None:
        return version_id
    return ledger.alias_at(model_id, alias, block)


def alias_history(ledger: Ledger, model_id: int, alias: str) -> list[Event]:
    ledger.model(model_id)
    return ledger.alias_history(model_id, alias)


@dataclass(frozen=True, kw_only=True)
class RightsView:
    model_id: int
    account: str
    rights: Rights
    is_owner: bool
    can_read: bool
    can_submit_updates: bool


def rights_view(ledger: Ledger, model_id: int, account: str) -> RightsView:
    model = ledger.model(model_id)
    rights = ledger.rights_of(model_id, account)
    return RightsView(
        model_id=model_id,
        account=account,
        rights=rights,
        is_owner=model.owner.lower() == account.lower(),
        can_read=(not model.restricted) or bool(rights & Rights.READ_ARTIFACTS),
        can_submit_updates=bool(rights & Rights.SUBMIT_UPDATES),
    )


def rights_holders(ledger: Ledger, model_id: int) -> list[RightsView]:
    """The owner and every account that holds (or held) a right on the model, with rights now."""
    model = ledger.model(model_id)
    accounts = [model.owner]
    for e in ledger.rights_history(model_id):
        account = str(e.args["account"])
        if account not in accounts:
            accounts.append(account)
    return [rights_view(ledger, model_id, a) for a in accounts]


def rights_of_account(ledger: Ledger, account: str) -> list[RightsView]:
    """The account's rights on every model where it holds one (or owns it)."""
    views = [rights_view(ledger, m, account) for m in range(1, ledger.model_count() + 1)]
    return [v for v in views if v.rights]


def proposals(ledger: Ledger, *, offset: int, limit: int) -> Page[ProposalRecord]:
    count = ledger.proposal_count()
    items = [ledger.proposal(p) for p in range(1, count + 1)]
    return _page(items, offset, limit)
