"""Versions by the names registry users know: a model's Nth version, an alias, a reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from service.api.deps import ArtifactsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.models import ModelId
from service.api.routes.versions import decided_version
from service.api.schemas import VersionPublic
from service.domain import catalog
from service.domain.refs import parse_version_ref

router = APIRouter(prefix="/v1", tags=["versions"], responses=PROBLEM_RESPONSES)

VersionNumber = Annotated[
    int, Path(ge=1, le=2**40, description="the version's number within the model (1 is its first)")
]
Reference = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        description="digits-mlp@3 (the model's third version), digits-mlp:production (the "
        "version an alias points at) or a version id such as 7; a model may be named by id "
        "(2@3)",
        examples=["digits-mlp@3"],
    ),
]


@router.get("/models/{model_id}/versions/{number}", response_model=VersionPublic)
def get_version_by_number(
    model_id: ModelId, number: VersionNumber, artifacts: ArtifactsDep
) -> VersionPublic:
    """The model's version with this number (1, 2, 3 ... in proposal order)."""
    ledger = artifacts.backends.ledger
    model = ledger.model(model_id)
    return decided_version(artifacts, catalog.version_by_number(ledger, model, number))


@router.get("/versions/by-ref/{ref}", response_model=VersionPublic)
def get_version_by_ref(ref: Reference, artifacts: ArtifactsDep) -> VersionPublic:
    """The version a reference names: NAME@N, NAME:ALIAS or an id."""
    ledger = artifacts.backends.ledger
    return decided_version(artifacts, catalog.resolve_version(ledger, parse_version_ref(ref)))
