"""Aliases: move, current value, value at a block, history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.api.deps import LedgerDep, RelayerDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.models import ModelId
from service.api.schemas import (
    AliasMove,
    AliasMovePublic,
    AliasPublic,
    AliasWritten,
    TransactionPublic,
    event_ref,
)
from service.chain.ledger import Ledger
from service.chain.types import alias_to_bytes32
from service.domain import catalog
from service.domain.actions import relay

router = APIRouter(prefix="/v1", tags=["aliases"], responses=PROBLEM_RESPONSES)

AliasName = Annotated[
    str, Path(min_length=1, max_length=32, pattern=r"^[a-z0-9._-]+$", description="e.g. production")
]


@router.put("/models/{model_id}/aliases/{alias}", response_model=AliasWritten)
def move_alias(
    model_id: ModelId,
    alias: AliasName,
    body: AliasMove,
    ledger: LedgerDep,
    relayer: RelayerDep,
) -> AliasWritten:
    """Point an alias at an Approved version, or clear it with 0 (signed MoveAlias)."""
    receipt = relay(
        relayer,
        "MoveAlias",
        {"modelId": model_id, "aliasName": alias_to_bytes32(alias), "versionId": body.version_id},
        body,
    )
    version_id = ledger.alias_of(model_id, alias)
    return AliasWritten(
        alias=AliasPublic(
            model_id=model_id,
            alias=alias,
            version_id=version_id,
            version_number=_number(ledger, model_id, version_id),
        ),
        transaction=TransactionPublic.of(receipt),
    )


def _number(ledger: Ledger, model_id: int, version_id: int | None) -> int | None:
    if version_id is None:
        return None
    return catalog.version_numbers(ledger, model_id).get(version_id)


@router.get("/models/{model_id}/aliases", response_model=list[AliasPublic])
def list_aliases(model_id: ModelId, ledger: LedgerDep) -> list[AliasPublic]:
    """Every alias the model has had, with its current version."""
    numbers = catalog.version_numbers(ledger, model_id)
    return [
        AliasPublic(
            model_id=model_id,
            alias=name,
            version_id=version_id,
            version_number=numbers.get(version_id) if version_id else None,
        )
        for name, version_id in catalog.aliases_of(ledger, model_id).items()
    ]


@router.get("/models/{model_id}/aliases/{alias}", response_model=AliasPublic)
def get_alias(
    model_id: ModelId,
    alias: AliasName,
    ledger: LedgerDep,
    block: Annotated[
        int | None, Query(ge=0, description="the value once this block was mined")
    ] = None,
) -> AliasPublic:
    """The alias's version now, or at a past block (404 for an alias the model never had)."""
    version_id = catalog.alias_value(ledger, model_id, alias, block)
    return AliasPublic(
        model_id=model_id,
        alias=alias,
        version_id=version_id,
        version_number=_number(ledger, model_id, version_id),
        at_block=block,
    )


@router.get("/models/{model_id}/aliases/{alias}/history", response_model=list[AliasMovePublic])
def alias_history(model_id: ModelId, alias: AliasName, ledger: LedgerDep) -> list[AliasMovePublic]:
    """Every move of the alias with block, time and who moved it."""
    moves = catalog.alias_history(ledger, model_id, alias)
    numbers = catalog.version_numbers(ledger, model_id) if moves else {}
    return [
        AliasMovePublic(
            alias=alias,
            version_id=int(e.args["versionId"]) or None,
            previous_version_id=int(e.args["previousVersionId"]) or None,
            version_number=numbers.get(int(e.args["versionId"])),
            previous_version_number=numbers.get(int(e.args["previousVersionId"])),
            by=str(e.args["by"]),
            **event_ref(e),
        )
        for e in moves
    ]
