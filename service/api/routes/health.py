"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.api.deps import BackendsDep, MetricsDep
from service.api.schemas import HealthPublic, ReadinessPublic
from service.errors import LedgerError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """Liveness: the process answers."""
    return HealthPublic(status="ok")


@router.get(
    "/ready",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "not ready; see the fields"}},
)
def ready(backends: BackendsDep) -> Response:
    """Readiness: the chain answers, the contracts are deployed, the store answers."""
    chain = store = contracts = "ok"
    try:
        ledger = backends.ledger
        ledger.block_number()
        if not ledger.w3.eth.get_code(ledger.registry.address):
            contracts = "no ModelRegistry code at the recorded address"
    except LedgerError as exc:
        chain = contracts = str(exc)
    except Exception as exc:  # the node went away after connecting
        chain = f"the chain does not answer: {type(exc).__name__}"
    try:
        backends.store.pins()
    except Exception as exc:
        store = str(exc) or type(exc).__name__
    ok = chain == store == contracts == "ok"
    body = ReadinessPublic(ready=ok, chain=chain, store=store, contracts=contracts)
    return JSONResponse(
        body.model_dump(),
        status_code=200 if ok else 503,
        headers=None if ok else {"Retry-After": "5"},
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(m: MetricsDep, backends: BackendsDep) -> Response:
    """Prometheus metrics."""
    return m.render()
