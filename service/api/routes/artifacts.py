"""Content by CID, verified while streaming."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import AccountDep, ArtifactsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.versions import SERVED_AS_STORED, _stream_response

router = APIRouter(prefix="/v1", tags=["artifacts"], responses=PROBLEM_RESPONSES)


@router.get(
    "/artifacts/{cid}",
    description="Content the ledger records, by CID, verified while streaming (restricted: read "
    "right).\n\n" + SERVED_AS_STORED,
    response_class=StreamingResponse,
    openapi_extra={"security": [{}]},  # the Bearer token is optional: open models need none
    responses={
        200: {
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            }
        }
    },
)
async def download(
    cid: Annotated[str, Path(min_length=2, max_length=200, description="a CID (v1 base32 or v0)")],
    artifacts: ArtifactsDep,
    account: AccountDep,
) -> StreamingResponse:
    """Content the ledger records, by CID, verified while streaming (restricted: read right)."""
    opened = await run_in_threadpool(artifacts.open_read, cid, account)
    return _stream_response(opened)
