"""Federated rounds: open, list, read, submit updates (the gate), close, cancel, aggregate and
finalize."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, cast

import anyio
import anyio.from_thread
from fastapi import APIRouter, Path, Query, Request

from service.api.deps import ArtifactsDep, RoundsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.round_schemas import (
    ROUND_STATE_BY_NAME,
    AggregationPublic,
    ExclusionName,
    ExclusionPublic,
    IncludedPublic,
    RoundAction,
    RoundCreate,
    RoundDetail,
    RoundFinalized,
    RoundList,
    RoundPublic,
    RoundStateName,
    RoundWritten,
    UpdatePublic,
    UpdateStatusPublic,
    UpdateWritten,
)
from service.api.routes.models import ModelId
from service.api.schemas import UINT256_MAX, Address, SignatureHex, TransactionPublic, hex32
from service.chain.merkle import inclusion_leaf
from service.domain.actions import SignedFields
from service.domain.rounds import Aggregation, RoundService, RoundTerms
from service.store.cid import parse_cid

router = APIRouter(prefix="/v1", tags=["rounds"], responses=PROBLEM_RESPONSES)

RoundId = Annotated[int, Path(ge=1, le=2**40, description="the round's id on chain")]


@router.post("/models/{model_id}/rounds", response_model=RoundWritten, status_code=201)
def open_round(model_id: ModelId, body: RoundCreate, rounds: RoundsDep) -> RoundWritten:
    """Open a federated round at an Approved base version (signed OpenRound, owner or
    maintainer)."""
    terms = RoundTerms(
        base_version_id=body.base_version_id,
        rule=body.rule,
        params=body.params,
        min_updates=body.min_updates,
        max_updates=body.max_updates,
        submission_deadline=body.submission_deadline,
        max_norm=body.max_norm,
    )
    round_, receipt = rounds.open_round(model_id, terms, body)
    return RoundWritten(round=RoundPublic.of(round_), transaction=TransactionPublic.of(receipt))


@router.get("/models/{model_id}/rounds", response_model=RoundList)
def list_model_rounds(
    model_id: ModelId,
    rounds: RoundsDep,
    state: Annotated[RoundStateName | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RoundList:
    """A model's rounds, newest first, filtered by state."""
    found = rounds.list_rounds(
        model_id=model_id, state=ROUND_STATE_BY_NAME[state] if state else None, participant=None
    )
    items = [RoundPublic.of(r) for r in found[offset : offset + limit]]
    return RoundList(items=items, total=len(found), offset=offset, limit=limit)


@router.get("/rounds", response_model=RoundList)
def list_rounds(
    rounds: RoundsDep,
    participant: Annotated[
        Address | None,
        Query(description="only open rounds this account may submit to and has not yet"),
    ] = None,
    state: Annotated[RoundStateName | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RoundList:
    """Rounds of every model, newest first; with ``participant``, the ones waiting for it."""
    found = rounds.list_rounds(
        model_id=None,
        state=ROUND_STATE_BY_NAME[state] if state else None,
        participant=participant,
    )
    items = [RoundPublic.of(r) for r in found[offset : offset + limit]]
    return RoundList(items=items, total=len(found), offset=offset, limit=limit)


@router.get("/rounds/{round_id}", response_model=RoundDetail)
def get_round(round_id: RoundId, rounds: RoundsDep) -> RoundDetail:
    """A round with its base and every recorded update."""
    view = rounds.detail(round_id)
    return RoundDetail(
        round=RoundPublic.of(view.round),
        base_cid=view.base_cid,
        updates=[UpdatePublic.of(u, cid) for u, cid in view.updates],
    )


@router.get("/rounds/{round_id}/updates/{participant}", response_model=UpdateStatusPublic)
def get_update_status(
    round_id: RoundId, participant: Annotated[Address, Path()], rounds: RoundsDep
) -> UpdateStatusPublic:
    """A participant's update to a round: whether it is recorded (and by which transaction),
    and once the round is finalized, included with the Merkle proof of its leaf under the
    round's inclusion root, or excluded with the chain's reason. The proof's leaves are the
    chain's records: check it against the root on chain (``govledger rounds status`` does)."""
    status = rounds.update_status(round_id, participant)
    update = status.update
    leaf = (
        inclusion_leaf(update.participant, update.update_digest, update.sample_count)
        if update is not None
        else None
    )
    return UpdateStatusPublic(
        round=RoundPublic.of(status.round),
        participant=status.participant,
        update=UpdatePublic.of(update, status.cid or "") if update is not None else None,
        transaction_hash=status.transaction_hash,
        outcome=status.outcome,
        reason=cast(ExclusionName | None, status.reason and status.reason.name.lower()),
        code=int(status.reason) if status.reason is not None else None,
        leaf=hex32(leaf) if leaf is not None and status.outcome == "included" else None,
        proof=[hex32(p) for p in status.proof] if status.proof is not None else None,
    )


@router.post(
    "/rounds/{round_id}/updates",
    response_model=UpdateWritten,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the update (safetensors: the base's tensor names, shapes and dtypes; "
            "trained weights minus the base), streamed; its CID must be update_cid, whose "
            "digest the participant signed (SubmitUpdate) before the upload",
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "<safetensors bytes>",
                }
            },
        }
    },
)
async def submit_update(
    round_id: RoundId,
    request: Request,
    rounds: RoundsDep,
    update_cid: Annotated[
        str, Query(min_length=2, max_length=200, description="the CID of the bytes in the body")
    ],
    sample_count: Annotated[int, Query(ge=1, le=UINT256_MAX)],
    actor: Annotated[Address, Query()],
    nonce: Annotated[int, Query(ge=0, le=UINT256_MAX)],
    deadline: Annotated[int, Query(ge=0, le=UINT256_MAX)],
    signature: Annotated[SignatureHex, Query()],
) -> UpdateWritten:
    """Submit an update to an open round (signed SubmitUpdate; checked on chain before the body
    is read, validated against the base while it streams)."""
    length = request.headers.get("content-length")
    body = request.stream()
    cid = parse_cid(update_cid)

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = anyio.from_thread.run(_next_chunk, body)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    def submit() -> UpdateWritten:
        done = rounds.submit_update(
            round_id=round_id,
            update_cid=cid,
            sample_count=sample_count,
            fields=SignedFields(actor, nonce, deadline, signature),
            chunks=chunks(),
            content_length=int(length) if length and length.isdigit() else None,
        )
        ledger = rounds.backends.ledger
        update = ledger.update_of(round_id, done.participant)
        assert update is not None
        return UpdateWritten(
            update=UpdatePublic.of(update, str(done.cid)),
            round=RoundPublic.of(ledger.round(round_id)),
            transaction=TransactionPublic.of(done.receipt),
        )

    return await anyio.to_thread.run_sync(submit)


async def _next_chunk(body: AsyncIterator[bytes]) -> bytes:
    return await body.__anext__()


@router.post("/rounds/{round_id}/close", response_model=RoundWritten)
def close_round(round_id: RoundId, body: RoundAction, rounds: RoundsDep) -> RoundWritten:
    """Close an open round before its deadline (signed CloseRound, owner or maintainer)."""
    round_, receipt = rounds.close_round(round_id, body)
    return RoundWritten(round=RoundPublic.of(round_), transaction=TransactionPublic.of(receipt))


@router.post("/rounds/{round_id}/cancel", response_model=RoundWritten)
def cancel_round(round_id: RoundId, body: RoundAction, rounds: RoundsDep) -> RoundWritten:
    """Cancel a round that cannot be finalized (signed CancelRound)."""
    round_, receipt = rounds.cancel_round(round_id, body)
    return RoundWritten(round=RoundPublic.of(round_), transaction=TransactionPublic.of(receipt))


@router.post("/rounds/{round_id}/aggregate", response_model=AggregationPublic)
def aggregate(round_id: RoundId, rounds: RoundsDep) -> AggregationPublic:
    """Aggregate a closed round with its rule: every update fetched and verified, the result
    stored; the same bytes each time. Returns what a maintainer signs in FinalizeRound (and,
    for an open model, the held-out accuracy; a restricted model's is in the aggregate's
    metadata document, read under the model's rule)."""
    found = rounds.aggregate(round_id)
    public = aggregation_public(found)
    model_id = rounds.backends.ledger.round(round_id).model_id
    if rounds.backends.ledger.model(model_id).restricted:
        public.evaluation = None
    return public


@router.post("/rounds/{round_id}/finalize", response_model=RoundFinalized)
def finalize_round(
    round_id: RoundId, body: RoundAction, rounds: RoundsDep, artifacts: ArtifactsDep
) -> RoundFinalized:
    """Record the round's aggregate as an Aggregate version of its base (signed FinalizeRound
    over the stored aggregation's arguments, owner or maintainer)."""
    receipt = rounds.finalize(round_id, body)
    version_id = int(receipt.event("RoundFinalized").args["aggregateVersionId"])
    ledger = rounds.backends.ledger
    artifacts.remember_cid(rounds.aggregate(round_id).aggregate_cid)
    return RoundFinalized(
        round=RoundPublic.of(ledger.round(round_id)),
        version_id=version_id,
        transaction=TransactionPublic.of(receipt),
    )


def aggregation_public(a: Aggregation) -> AggregationPublic:
    args = a.finalize_args
    return AggregationPublic(
        round_id=a.round_id,
        rule=a.rule,
        params=a.params,
        base_version_id=a.base_version_id,
        aggregate_cid=str(a.aggregate_cid),
        aggregate_digest=hex32(a.aggregate_cid.digest),
        metadata_cid=str(a.metadata_cid),
        metadata_digest=hex32(a.metadata_cid.digest),
        inclusion_root=hex32(a.inclusion_root),
        included=[
            IncludedPublic(
                participant=u.participant,
                update_cid=u.cid,
                update_digest=hex32(u.digest),
                sample_count=u.sample_count,
            )
            for u in a.included
        ],
        excluded=[
            ExclusionPublic(
                participant=e.participant,
                reason=e.reason.name.lower(),  # type: ignore[arg-type]
                code=int(e.reason),
                detail=e.detail,
            )
            for e in a.excluded
        ],
        finalize_args={k: ("0x" + v.hex()) if isinstance(v, bytes) else v for k, v in args.items()},
        evaluation=a.evaluation,
    )


__all__ = ["RoundService", "router"]
