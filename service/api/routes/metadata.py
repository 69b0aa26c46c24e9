"""Metadata documents: stored for members who sign StoreMetadata over their digest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import MetadataDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.schemas import (
    UINT256_MAX,
    Address,
    Digest,
    SignatureHex,
    StoredContent,
)
from service.chain.types import as_digest
from service.errors import PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["metadata"], responses=PROBLEM_RESPONSES)

DESCRIPTION = """
The body is a JSON object of at most 256 KiB (one raw block, so its digest is the sha2-256 of
the bytes). The actor, a member of the consortium, signs the EIP-712 typed data
`StoreMetadata(bytes32 digest,address actor,uint256 deadline)` in the ModelRegistry's domain
(`GET /v1/info`): an off-chain statement that no contract function accepts. The service checks
the deadline against its own clock (not past, at most an hour ahead by default), the signature
and the actor's membership on chain before reading the body, then that the bytes have the signed
digest and fit the actor's quota (documents and bytes per rolling 24 hours; 429 with
Retry-After past it). A refused request stores nothing. Storing the same digest again within the
day costs no quota.
"""


@router.post(
    "/metadata",
    response_model=StoredContent,
    status_code=201,
    description=DESCRIPTION,
    responses={
        413: PROBLEM_RESPONSES[422] | {"description": "the document is over 256 KiB"},
        429: PROBLEM_RESPONSES[422] | {"description": "the actor's quota is used up"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {"description": "MLP on sklearn digits", "framework": "pytorch"},
                }
            },
        }
    },
)
async def store_metadata(
    request: Request,
    documents: MetadataDep,
    actor: Annotated[Address, Query(description="the member who signed StoreMetadata")],
    digest: Annotated[Digest, Query(description="the document's sha2-256 digest, signed")],
    deadline: Annotated[int, Query(ge=0, le=UINT256_MAX, description="unix time (uint256)")],
    signature: Annotated[SignatureHex, Query()],
) -> StoredContent:
    """Store a member's signed metadata document (a JSON object); returns its CID and digest."""
    admission = await run_in_threadpool(
        lambda: documents.admit(
            actor=actor, digest=as_digest(digest), deadline=deadline, signature=signature
        )
    )
    data = await _read_bounded(request, documents.max_bytes)
    put = await run_in_threadpool(documents.store, admission, data)
    return StoredContent(cid=str(put.cid), digest="0x" + put.cid.digest.hex(), size=put.size)


async def _read_bounded(request: Request, limit: int) -> bytes:
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the document is larger than {limit} bytes; keep metadata small")
        chunks.append(chunk)
    return b"".join(chunks)
