"""Access rights per model and account: grant, revoke, query."""

from __future__ import annotations

from typing import Annotated

from eth_utils import to_checksum_address
from fastapi import APIRouter, Path

from service.api.deps import LedgerDep, RelayerDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.models import ModelId
from service.api.schemas import (
    RightsChange,
    RightsPublic,
    RightsWritten,
    TransactionPublic,
    rights_mask,
    rights_names,
)
from service.domain import catalog, prechecks
from service.domain.actions import relay

router = APIRouter(prefix="/v1", tags=["rights"], responses=PROBLEM_RESPONSES)

AccountPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$", description="an account address")]


def _public(v: catalog.RightsView) -> RightsPublic:
    return RightsPublic(
        model_id=v.model_id,
        account=v.account,
        rights=rights_names(v.rights),
        is_owner=v.is_owner,
        can_read=v.can_read,
        can_submit_updates=v.can_submit_updates,
    )


def _change(
    name: str,
    model_id: int,
    account: str,
    body: RightsChange,
    ledger: LedgerDep,
    relayer: RelayerDep,
) -> RightsWritten:
    account = to_checksum_address(account)
    mask = rights_mask(body.rights)
    prechecks.refuse_no_op_rights_change(
        ledger,
        grant=name == "GrantRights",
        model_id=model_id,
        account=account,
        rights=mask,
        actor=body.actor,
        nonce=body.nonce,
    )
    receipt = relay(
        relayer, name, {"modelId": model_id, "account": account, "rights": int(mask)}, body
    )
    return RightsWritten(
        rights=_public(catalog.rights_view(ledger, model_id, account)),
        transaction=TransactionPublic.of(receipt),
    )


@router.post("/models/{model_id}/rights/{account}/grant", response_model=RightsWritten)
def grant(
    model_id: ModelId,
    account: AccountPath,
    body: RightsChange,
    ledger: LedgerDep,
    relayer: RelayerDep,
) -> RightsWritten:
    """Grant rights on a model to an account (signed GrantRights, owner only)."""
    return _change("GrantRights", model_id, account, body, ledger, relayer)


@router.post("/models/{model_id}/rights/{account}/revoke", response_model=RightsWritten)
def revoke(
    model_id: ModelId,
    account: AccountPath,
    body: RightsChange,
    ledger: LedgerDep,
    relayer: RelayerDep,
) -> RightsWritten:
    """Revoke rights on a model from an account (signed RevokeRights, owner only)."""
    return _change("RevokeRights", model_id, account, body, ledger, relayer)


@router.get("/models/{model_id}/rights/{account}", response_model=RightsPublic)
def rights_of(model_id: ModelId, account: AccountPath, ledger: LedgerDep) -> RightsPublic:
    """What an account may do on a model, as the chain says now."""
    return _public(catalog.rights_view(ledger, model_id, to_checksum_address(account)))


@router.get("/models/{model_id}/rights", response_model=list[RightsPublic])
def rights_on_model(model_id: ModelId, ledger: LedgerDep) -> list[RightsPublic]:
    """The owner and every account that holds or held rights on the model, with rights now."""
    return [_public(v) for v in catalog.rights_holders(ledger, model_id)]


@router.get("/accounts/{account}/rights", response_model=list[RightsPublic])
def rights_of_account(account: AccountPath, ledger: LedgerDep) -> list[RightsPublic]:
    """Every model on which the account holds rights (or which it owns)."""
    return [_public(v) for v in catalog.rights_of_account(ledger, to_checksum_address(account))]
