"""The lineage explorer's pages: read-only HTML under ``/explorer``, rendered on the server.

Thin like the API's routes: parse, call :class:`service.domain.explorer.Explorer`, render a
template. The pages carry no script at all; the lineage graph is SVG drawn here
(:mod:`service.explorer.layout`). Every response forbids scripts, frames and foreign content
with a Content-Security-Policy, and Jinja escapes every value (names, reasons and addresses come
from outside). Artifacts and documents are links to the API's routes, which apply the read
rules (a restricted model's bytes need a sign-in session, which these pages never hold).
Left out of the OpenAPI: these are pages for people, not API.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Annotated, Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from service.api.problems import problem_status
from service.domain.explorer import Explorer
from service.errors import LedgerError
from service.explorer.layout import layout
from service.explorer.render import render

router = APIRouter(prefix="/explorer", include_in_schema=False)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # the chain moves on: every page is read anew
}

MODELS_PER_PAGE = 100
Offset = Annotated[int, Query(ge=0, le=2**40, description="the first model's position")]
ModelId = Annotated[int, Path(ge=1, le=2**40)]
VersionId = Annotated[int, Path(ge=1, le=2**40)]
RoundId = Annotated[int, Path(ge=1, le=2**40)]
TxHash = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")]
Account = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]


def _explorer(request: Request) -> Explorer:
    return Explorer(
        request.app.state.rounds, request.app.state.vote_reasons, request.app.state.index
    )


def _page(request: Request, template: str, read: Callable[[Explorer], dict[str, Any]]) -> Response:
    """``template`` rendered with what ``read`` returns; an error of the ledger (an unknown id,
    the chain down) as a page saying what went wrong, with the API's status for it."""
    try:
        context = read(_explorer(request))
        status = 200
    except LedgerError as exc:
        status, title = problem_status(exc)
        template, context = "error.html", {"title": title, "status": status, "detail": str(exc)}
    return HTMLResponse(render(template, **context), status_code=status, headers=HEADERS)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def models_page(request: Request, offset: Offset = 0) -> Response:
    """The models, a page of ``MODELS_PER_PAGE`` at a time from ``offset``."""

    def read(x: Explorer) -> dict[str, Any]:
        rows, total = x.models(offset=offset, limit=MODELS_PER_PAGE)
        return {"rows": rows, "total": total, "offset": offset, "per_page": MODELS_PER_PAGE}

    return _page(request, "models.html", read)


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(request: Request, model_id: ModelId) -> Response:
    def read(x: Explorer) -> dict[str, Any]:
        page = x.model(model_id)
        return {"page": page, "drawing": layout(page.graph)}

    return _page(request, "model.html", read)


@router.get("/versions/{version_id}", response_class=HTMLResponse)
def version_page(request: Request, version_id: VersionId) -> Response:
    return _page(request, "version.html", lambda x: {"page": x.version(version_id)})


@router.get("/rounds/{round_id}", response_class=HTMLResponse)
def round_page(request: Request, round_id: RoundId) -> Response:
    return _page(request, "round.html", lambda x: {"page": x.round(round_id)})


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
def transaction_page(request: Request, tx_hash: TxHash) -> Response:
    return _page(request, "transaction.html", lambda x: {"page": x.transaction(tx_hash.lower())})


@router.get("/accounts/{account}", response_class=HTMLResponse)
def account_page(request: Request, account: Account) -> Response:
    return _page(
        request, "account.html", lambda x: {"page": x.account(to_checksum_address(account))}
    )


@router.get("/static/explorer.css")
def stylesheet() -> Response:
    css = resources.files("service.explorer").joinpath("static/explorer.css").read_bytes()
    return Response(
        css,
        media_type="text/css",
        headers={**HEADERS, "Cache-Control": "public, max-age=300"},
    )
