"""A model's timeline: everything that happened to it, in block order, paged by a cursor."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from service.api.deps import IndexDep, LedgerDep, VoteReasonsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.models import ModelId
from service.api.timeline_schemas import (
    ExportFormat,
    TimelineKind,
    TimelinePagePublic,
    csv_text,
    jsonl_lines,
)
from service.domain.timeline import DEFAULT_LIMIT, MAX_LIMIT, Position, Timeline, parse_kinds

router = APIRouter(prefix="/v1", tags=["timeline"], responses=PROBLEM_RESPONSES)

NDJSON = "application/x-ndjson"
CSV = "text/csv"
_NEXT_HEADER = {
    "X-Next-Cursor": {
        "description": "where the next page starts (absent on the last page)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'the next page\'s URL, rel="next" (absent on the last page)',
        "schema": {"type": "string"},
    },
}
Block = Annotated[int, Query(ge=0, le=2**63 - 1)]


@router.get(
    "/models/{model_id}/timeline",
    response_model=TimelinePagePublic,
    responses={
        200: {
            "description": "a page of the timeline: JSON, or with format=jsonl / format=csv "
            "the page's entries as JSON Lines / CSV, the next cursor in X-Next-Cursor",
            "headers": _NEXT_HEADER,
            "content": {
                NDJSON: {"schema": {"type": "string"}},
                CSV: {"schema": {"type": "string"}},
            },
        }
    },
)
def get_timeline(
    model_id: ModelId,
    request: Request,
    ledger: LedgerDep,
    reasons: VoteReasonsDep,
    index: IndexDep,
    kind: Annotated[
        list[TimelineKind] | None,
        Query(description="only entries of these kinds (repeat the parameter for several)"),
    ] = None,
    from_block: Annotated[Block | None, Query(description="first block (inclusive)")] = None,
    to_block: Annotated[
        Block | None, Query(description="last block (inclusive; default: the latest)")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=40,
            description="where the page starts (inclusive): the previous page's next_cursor, "
            "BLOCK:LOG_INDEX or BLOCK (the block's start)",
            examples=["120:0"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    format: Annotated[
        ExportFormat,
        Query(description="json (a page object), jsonl (one entry per line) or csv"),
    ] = "json",
) -> Response | TimelinePagePublic:
    """Everything that happened to a model, in block order (paged; JSON, JSON Lines or CSV)."""
    page = Timeline(ledger, reasons, index=index).page(
        model_id,
        kinds=parse_kinds(kind),
        from_block=from_block,
        to_block=to_block,
        cursor=None if cursor is None else Position.parse(cursor),
        limit=limit,
    )
    public = TimelinePagePublic.of(page)
    if format == "json":
        return public
    headers = {}
    if public.next_cursor is not None:
        headers["X-Next-Cursor"] = public.next_cursor
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        following = f"{request.url.path}?{urlencode([*query, ('cursor', public.next_cursor)])}"
        headers["Link"] = f'<{following}>; rel="next"'
    if format == "jsonl":
        return Response("".join(jsonl_lines(public.entries)), media_type=NDJSON, headers=headers)
    return Response(csv_text(public.entries), media_type=CSV, headers=headers)
