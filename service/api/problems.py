"""Errors as problem+json (RFC 9457): one mapping from the exception tree to HTTP."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.chain.reverts import ContractRevert
from service.chain.transactor import TransactionReverted
from service.errors import (
    CarError,
    ChainError,
    ChainUnavailable,
    Conflict,
    ContentNotFound,
    DeploymentError,
    Forbidden,
    IntegrityError,
    InvalidCID,
    InvalidInput,
    LedgerError,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    ServiceUnavailable,
    SignatureRejected,
    StoreError,
    StoreUnavailable,
    Unauthenticated,
    UnsupportedCID,
)

log = logging.getLogger("govledger.api")

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = "5"

# (exception class, status, title); the first match wins, so subclasses come first
_MAPPING: list[tuple[type[BaseException], int, str]] = [
    (PayloadTooLarge, 413, "Payload too large"),
    (SignatureRejected, 401, "Signature rejected"),
    (Unauthenticated, 401, "Sign-in required"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (ContentNotFound, 404, "Content not found"),
    (Conflict, 409, "Conflict"),
    (QuotaExceeded, 429, "Quota exceeded"),
    (InvalidCID, 422, "Invalid CID"),
    (UnsupportedCID, 422, "Unsupported CID"),
    (CarError, 422, "Invalid CAR file"),
    (InvalidInput, 422, "Invalid input"),
    (ChainUnavailable, 503, "Chain unavailable"),
    (StoreUnavailable, 503, "Content store unavailable"),
    (DeploymentError, 503, "Contracts not deployed"),
    (ServiceUnavailable, 503, "Service unavailable"),
    (IntegrityError, 500, "Stored content failed verification"),
    (ChainError, 502, "Chain error"),
    (StoreError, 502, "Content store error"),
    (LedgerError, 500, "Internal error"),
]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": title,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, title in {
        400: "The request body cannot be parsed (not UTF-8 JSON)",
        401: "Signature rejected or sign-in required",
        403: "The acting account may not do this",
        404: "Not found",
        409: "Conflicts with the current state on chain",
        422: "Invalid input",
        503: "Chain or content store unreachable; retry after the Retry-After seconds",
    }.items()
}


def _slug(name: str) -> str:
    """``RegistryNotMember`` -> ``registry-not-member``; an acronym stays one word
    (``InvalidCID`` -> ``invalid-cid``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    type_: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, "instance": instance}
    body.update({k: _jsonable(v) for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_status(exc: LedgerError) -> tuple[int, str]:
    """The HTTP status and title of an error of the ledger (the first match of _MAPPING)."""
    for cls, code, name in _MAPPING:
        if isinstance(exc, cls):
            return code, name
    return 500, "Internal error"


def ledger_problem(exc: LedgerError, instance: str) -> JSONResponse:
    status, title = problem_status(exc)
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER_S
    retry_after = getattr(exc, "retry_after_s", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if isinstance(exc, QuotaExceeded):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, SignatureRejected):
        headers["WWW-Authenticate"] = 'EIP712 realm="govledger"'
    elif isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="govledger"'
    extra: dict[str, Any] = {}
    if isinstance(exc, ContractRevert):
        extra["contract_error"] = {"name": exc.error, "arguments": exc.arguments}
        type_ = f"/problems/{_slug(exc.error)}"
    elif isinstance(exc, TransactionReverted):
        if exc.revert is not None:
            extra["contract_error"] = {"name": exc.revert.error, "arguments": exc.revert.arguments}
        extra["transaction_hash"] = exc.tx_hash
        type_ = f"/problems/{_slug(type(exc).__name__)}"
    else:
        type_ = f"/problems/{_slug(type(exc).__name__)}"
    if isinstance(exc, StoreError) and exc.cid:
        extra["cid"] = exc.cid
    if status >= 500 and status != 503:
        log.error("request failed: %s", exc, exc_info=exc)
    return problem_response(
        status=status,
        title=title,
        detail=str(exc),
        type_=type_,
        instance=instance,
        headers=headers or None,
        **extra,
    )


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    return [
        method
        for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in app.router.routes
        )
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, exc: LedgerError) -> JSONResponse:
        return ledger_problem(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body",
                # our own validators' messages say what to do; pydantic's prefix adds nothing
                "message": str(err.get("msg", "")).removeprefix("Value error, "),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            status=422,
            title="Invalid request",
            detail=f"the request is not valid: {detail}",
            type_="/problems/invalid-request",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only; FastAPI
            # has a route per method, so list every method some route takes here (RFC 9110)
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(app, request))}
        return problem_response(
            status=exc.status_code,
            title=str(exc.detail) if exc.status_code != 404 else "Not found",
            detail=str(exc.detail) if exc.status_code != 404 else f"no route {request.url.path}",
            type_="about:blank",
            instance=request.url.path,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            status=500,
            title="Internal error",
            detail="the service failed unexpectedly; the error is logged, nothing was changed "
            "by this request unless its response said so",
            type_="/problems/internal-error",
            instance=request.url.path,
        )
