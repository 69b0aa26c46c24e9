"""Models: register, read, list and search, metadata, owner, read policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from service.api.caching import RESTRICTED_CACHING
from service.api.deps import AccountDep, ArtifactsDep, IndexDep, LedgerDep, RelayerDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.schemas import (
    Address,
    ModelCreate,
    ModelList,
    ModelMetadataUpdate,
    ModelOwnerAccept,
    ModelOwnerUpdate,
    ModelPublic,
    ModelWritten,
    ReadPolicyUpdate,
    TransactionPublic,
)
from service.chain.ledger import ActionReceipt, Ledger
from service.chain.types import ModelRecord, as_digest
from service.domain import catalog
from service.domain.actions import relay

router = APIRouter(prefix="/v1", tags=["models"], responses=PROBLEM_RESPONSES)

ModelId = Annotated[int, Path(ge=1, le=2**40, description="the model's id on chain")]
MAX_PAGE = 500


def _written(ledger: Ledger, model_id: int, receipt: ActionReceipt) -> ModelWritten:
    return ModelWritten(
        model=ModelPublic.of(ledger.model(model_id)), transaction=TransactionPublic.of(receipt)
    )


@router.post("/models", response_model=ModelWritten, status_code=201)
def register_model(body: ModelCreate, ledger: LedgerDep, relayer: RelayerDep) -> ModelWritten:
    """Register a model (signed RegisterModel; the actor must be a member and becomes owner)."""
    receipt = relay(
        relayer,
        "RegisterModel",
        {
            "name": body.name,
            "metadataDigest": as_digest(body.metadata_digest),
            "restricted": body.restricted,
        },
        body,
    )
    # answered from the event: the receipt is what the chain said, and a read back could meet a
    # chain that lost the block meanwhile (the journal re-applies it)
    e = receipt.event("ModelRegistered").args
    model = ModelRecord(
        model_id=int(e["modelId"]),
        name=str(e["name"]),
        owner=str(e["owner"]),
        restricted=bool(e["restricted"]),
        metadata_digest=bytes(e["metadataDigest"]),
    )
    return ModelWritten(model=ModelPublic.of(model), transaction=TransactionPublic.of(receipt))


@router.get("/models", response_model=ModelList)
def list_models(
    ledger: LedgerDep,
    index: IndexDep,
    name: Annotated[str | None, Query(max_length=64, description="part of the name")] = None,
    owner: Annotated[Address | None, Query(description="the owner's address")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ModelList:
    """List models, searched by name and owner."""
    page = catalog.list_models(
        ledger, name=name, owner=owner, offset=offset, limit=limit, index=index
    )
    return ModelList(
        items=[ModelPublic.of(m) for m in page.items],
        total=page.total,
        offset=offset,
        limit=limit,
        indexed_to_block=page.indexed_to_block,
    )


@router.get("/models/by-name/{name}", response_model=ModelPublic)
def get_model_by_name(
    name: Annotated[
        str,
        Path(
            min_length=1,
            max_length=200,
            description="the model's name (a name that breaks the naming rule is answered "
            "with the rule, and the closest names)",
        ),
    ],
    ledger: LedgerDep,
) -> ModelPublic:
    """One model by its unique name."""
    return ModelPublic.of(catalog.model_by_name(ledger, name))


@router.get("/models/{model_id}", response_model=ModelPublic)
def get_model(model_id: ModelId, ledger: LedgerDep) -> ModelPublic:
    """One model by id."""
    return ModelPublic.of(ledger.model(model_id))


@router.get(
    "/models/{model_id}/metadata",
    response_model=dict[str, Any],
    openapi_extra={"security": [{}]},  # the Bearer token is optional: open content needs none
)
def get_model_metadata(
    model_id: ModelId,
    ledger: LedgerDep,
    artifacts: ArtifactsDep,
    account: AccountDep,
    response: Response,
) -> dict[str, Any]:
    """The model's metadata document, verified against its digest (restricted: read right)."""
    doc, grant = artifacts.model_metadata(ledger.model(model_id), account)
    if not grant.public:
        response.headers["Cache-Control"] = RESTRICTED_CACHING
    return doc


@router.put("/models/{model_id}/metadata", response_model=ModelWritten)
def set_model_metadata(
    model_id: ModelId,
    body: ModelMetadataUpdate,
    ledger: LedgerDep,
    relayer: RelayerDep,
) -> ModelWritten:
    """Replace the model's metadata digest (signed SetModelMetadata, owner only)."""
    receipt = relay(
        relayer,
        "SetModelMetadata",
        {"modelId": model_id, "metadataDigest": as_digest(body.metadata_digest)},
        body,
    )
    return _written(ledger, model_id, receipt)


@router.put("/models/{model_id}/owner", response_model=ModelWritten)
def transfer_model(
    model_id: ModelId, body: ModelOwnerUpdate, ledger: LedgerDep, relayer: RelayerDep
) -> ModelWritten:
    """Name the model's pending owner, or cancel with the zero address (signed, owner only)."""
    receipt = relay(
        relayer,
        "TransferModelOwnership",
        {"modelId": model_id, "newOwner": ledger_address(body.new_owner)},
        body,
    )
    return _written(ledger, model_id, receipt)


@router.post("/models/{model_id}/owner/accept", response_model=ModelWritten)
def accept_model(
    model_id: ModelId, body: ModelOwnerAccept, ledger: LedgerDep, relayer: RelayerDep
) -> ModelWritten:
    """Take over the model as its pending owner (signed AcceptModelOwnership)."""
    receipt = relay(relayer, "AcceptModelOwnership", {"modelId": model_id}, body)
    return _written(ledger, model_id, receipt)


@router.put("/models/{model_id}/read-policy", response_model=ModelWritten)
def set_read_policy(
    model_id: ModelId, body: ReadPolicyUpdate, ledger: LedgerDep, relayer: RelayerDep
) -> ModelWritten:
    """Make artifacts open to all or restricted to read-right holders (signed SetReadPolicy)."""
    receipt = relay(
        relayer, "SetReadPolicy", {"modelId": model_id, "restricted": body.restricted}, body
    )
    return _written(ledger, model_id, receipt)


def ledger_address(value: str) -> str:
    from eth_utils import to_checksum_address

    return str(to_checksum_address(value))
