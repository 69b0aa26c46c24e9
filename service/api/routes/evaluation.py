"""Evaluation sets: labelled data a model registers for measuring its builds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import EvaluationDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.predictions import read_body
from service.api.schemas import UINT256_MAX, Address, Digest, SignatureHex, StoredContent
from service.chain.types import as_digest

router = APIRouter(prefix="/v1", tags=["builds"], responses=PROBLEM_RESPONSES)

DESCRIPTION = """
The body is a safetensors file of exactly two tensors: `inputs` (F32, one row per example) and
`labels` (I64, one per row), at most 16 MiB by default. Admitted like a metadata document: a
member signs `StoreMetadata(digest, actor, deadline)` over the file's digest, checked before the
body is read, and the file counts against the member's storage quota. Register it by naming its
CID in the model's metadata document: `"evaluation": {"cid": "<cid>", "metric": "accuracy"}`.
"""


@router.post(
    "/evaluation-sets",
    response_model=StoredContent,
    status_code=201,
    description=DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "<safetensors: inputs F32[rows, ...], labels I64[rows]>",
                }
            },
        }
    },
)
async def store_evaluation_set(
    request: Request,
    evaluation: EvaluationDep,
    actor: Annotated[Address, Query(description="the member who signed StoreMetadata")],
    digest: Annotated[Digest, Query(description="the file's sha2-256 digest, signed")],
    deadline: Annotated[int, Query(ge=0, le=UINT256_MAX, description="unix time (uint256)")],
    signature: Annotated[SignatureHex, Query()],
) -> StoredContent:
    """Store a member's signed evaluation set (safetensors inputs and labels); its CID."""
    admission = await run_in_threadpool(
        lambda: evaluation.admit(
            actor=actor, digest=as_digest(digest), deadline=deadline, signature=signature
        )
    )
    data = await read_body(request, evaluation.max_bytes, "the evaluation set")
    put = await run_in_threadpool(evaluation.store, admission, data)
    return StoredContent(cid=str(put.cid), digest="0x" + put.cid.digest.hex(), size=put.size)
