"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from service.api.deps import BackendsDep, MetricsDep
from service.api.schemas import HealthPublic, ReadinessPublic
from service.domain.context import readiness

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
    """Readiness: the chain answers, the contracts are deployed, the store answers, the
    journal is in step with the chain."""
    r = readiness(backends)
    ok = r.ready
    body = ReadinessPublic(
        ready=ok,
        chain=r.chain,
        store=r.store,
        contracts=r.contracts,
        journal=r.journal,
        index=r.index,
    )
    return JSONResponse(
        body.model_dump(),
        status_code=200 if ok else 503,
        headers=None if ok else {"Retry-After": "5"},
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(m: MetricsDep, backends: BackendsDep) -> Response:
    """Prometheus metrics."""
    return m.render()
