"""Read-side use cases: models, versions, votes, aliases, rights and members, from the chain."""

from __future__ import annotations

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
from service.errors import InvalidInput, NotFound

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def _page(items: list[T], offset: int, limit: int) -> Page[T]:
    return Page(items=items[offset : offset + limit], total=len(items), offset=offset, limit=limit)


def list_models(
    ledger: Ledger, *, name: str | None, owner: str | None, offset: int, limit: int
) -> Page[ModelRecord]:
    """Models in registration order, filtered by name (substring) and owner (exact)."""
    owner_key = owner.lower() if owner else None
    found = []
    for model_id in range(1, ledger.model_count() + 1):
        m = ledger.model(model_id)
        if name and name not in m.name:
            continue
        if owner_key and m.owner.lower() != owner_key:
            continue
        found.append(m)
    return _page(found, offset, limit)


def model_by_name(ledger: Ledger, name: str) -> ModelRecord:
    model_id = ledger.model_id_by_name(validate_model_name(name))
    if model_id is None:
        raise NotFound(f"no model is named {name!r}; list the models to find its name")
    return ledger.model(model_id)


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
    ledger.model(model_id)
    if block is None:
        return ledger.alias_of(model_id, alias)
    latest = ledger.block_number()
    if block > latest:
        raise InvalidInput(f"block {block} is not mined yet; the latest block is {latest}")
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
