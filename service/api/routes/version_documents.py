"""A version's metadata document (description, tags, metrics), search by it, and the reasons
members give with their votes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.caching import RESTRICTED_CACHING
from service.api.deps import AccountDep, ArtifactsDep, VoteReasonsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.versions import VersionId, public_version
from service.api.schemas import (
    STATE_BY_NAME,
    UINT256_MAX,
    Address,
    Digest,
    SignatureHex,
    StateName,
    VersionSearchList,
    VoteReasonPublic,
)
from service.chain.types import as_digest
from service.domain import catalog
from service.domain.reasons import KIND, MAX_DOCUMENT_BYTES, MAX_REASON_CHARS, StoredReason
from service.domain.version_metadata import Query as SearchQuery
from service.domain.version_metadata import search_versions, version_metadata
from service.errors import PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["versions"], responses=PROBLEM_RESPONSES)


@router.get(
    "/versions/{version_id}/metadata",
    response_model=dict[str, Any],
    openapi_extra={"security": [{}]},  # the Bearer token is optional: open content needs none
)
def get_version_metadata(
    version_id: VersionId, artifacts: ArtifactsDep, account: AccountDep, response: Response
) -> dict[str, Any]:
    """The version's metadata document (description, tags, metrics), verified against its
    digest (restricted: read right)."""
    version = artifacts.backends.ledger.version(version_id)
    doc, grant = version_metadata(artifacts, version, account)
    if not grant.public:
        response.headers["Cache-Control"] = RESTRICTED_CACHING
    return doc


@router.get(
    "/versions", response_model=VersionSearchList, openapi_extra={"security": [{}]}
)  # the Bearer token is optional: it opens restricted models' documents to the search
def search(
    artifacts: ArtifactsDep,
    account: AccountDep,
    text: Annotated[
        str | None,
        Query(max_length=200, description="words in the description, a tag or the model's name"),
    ] = None,
    tag: Annotated[
        list[str] | None,
        Query(max_length=20, description="KEY or KEY=VALUE (repeat for more): tags it has"),
    ] = None,
    model_id: Annotated[int | None, Query(ge=1, le=2**40, description="one model's")] = None,
    state: Annotated[StateName | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> VersionSearchList:
    """Search versions of every model (or one) by their metadata documents and state."""
    result = search_versions(
        artifacts,
        account=account,
        query=SearchQuery(text=text, tags=tuple(tag or ())),
        model_id=model_id,
        state=STATE_BY_NAME[state] if state else None,
    )
    ledger = artifacts.backends.ledger
    page = result.versions[offset : offset + limit]
    numbers = {m: catalog.version_numbers(ledger, m) for m in {v.model_id for v in page}}
    return VersionSearchList(
        items=[public_version(artifacts, v, numbers=numbers[v.model_id]) for v in page],
        total=len(result.versions),
        offset=offset,
        limit=limit,
        unreadable=result.unreadable,
    )


REASON_DESCRIPTION = f"""
The body is the reason document, a JSON object of exactly these keys (at most
{MAX_DOCUMENT_BYTES} bytes): `kind` ("{KIND}"), `version_id`, `voter` (the actor), `support`
(the vote the chain records: for, against or abstain) and `reason` (1 to {MAX_REASON_CHARS}
characters). The voter signs `StoreMetadata(digest, actor, deadline)` over the document's digest,
as for POST /v1/metadata (same checks, same quota). Only a member who has voted on the version
may give its reason; a later one replaces it. `GET /v1/versions/{{id}}/votes` shows each vote's
reason with the signature, so anyone can check it.
"""


@router.post(
    "/versions/{version_id}/votes/reason",
    response_model=VoteReasonPublic,
    status_code=201,
    description=REASON_DESCRIPTION,
    responses={429: PROBLEM_RESPONSES[422] | {"description": "the voter's quota is used up"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {
                        "kind": KIND,
                        "reason": "accuracy dropped on the held-out site",
                        "support": "against",
                        "version_id": 7,
                        "voter": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    },
                }
            },
        }
    },
)
async def give_reason(
    version_id: VersionId,
    request: Request,
    reasons: VoteReasonsDep,
    actor: Annotated[Address, Query(description="the voter, who signed StoreMetadata")],
    digest: Annotated[Digest, Query(description="the reason document's digest, signed")],
    deadline: Annotated[int, Query(ge=0, le=UINT256_MAX, description="unix time (uint256)")],
    signature: Annotated[SignatureHex, Query()],
) -> VoteReasonPublic:
    """Give the reason of one's vote on a version (a signed document kept with the vote)."""
    admission, support = await run_in_threadpool(
        lambda: reasons.admit(
            version_id=version_id,
            actor=actor,
            digest=as_digest(digest),
            deadline=deadline,
            signature=signature,
        )
    )
    data = await _read_bounded(request, MAX_DOCUMENT_BYTES)
    stored = await run_in_threadpool(
        lambda: reasons.store(
            admission,
            support,
            data,
            version_id=version_id,
            deadline=deadline,
            signature=signature,
        )
    )
    return reason_public(stored)


def reason_public(r: StoredReason) -> VoteReasonPublic:
    return VoteReasonPublic(
        version_id=r.version_id,
        voter=r.voter,
        support=r.support,  # type: ignore[arg-type]
        reason=r.reason,
        cid=r.cid,
        deadline=r.deadline,
        signature=r.signature,
    )


async def _read_bounded(request: Request, limit: int) -> bytes:
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"a vote's reason document has at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
