"""Accelerated builds: start a build job, follow it, propose what it built; a build version's
documents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from service.api.build_schemas import (
    BuildCreate,
    BuildJobPublic,
    BuildProposal,
    ContentDocument,
    VersionBuildPublic,
)
from service.api.caching import OPEN_CACHING, RESTRICTED_CACHING
from service.api.deps import AccountDep, BuildsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.models import ModelId
from service.api.routes.versions import VersionId
from service.api.schemas import TransactionPublic, VersionPublic, VersionWritten
from service.domain.builds import BuildOptions
from service.ml.accelerate.recipes import RECIPES

router = APIRouter(prefix="/v1", tags=["builds"], responses=PROBLEM_RESPONSES)

JobId = Annotated[int, Path(ge=1, le=2**62, description="the build job's id")]

START_DESCRIPTION = """
Starts a build job and answers 202 at once; follow it with `GET /v1/builds/{job_id}`. Needs a
sign-in session of the model's owner or a maintainer who may read the parent. The parent must be
an Approved version of the model, and the model's metadata document must register an evaluation
set (`"evaluation": {"cid": ...}`). The job builds ONNX Runtime versions (fp32 graph-optimised,
int8 dynamic, int8 static, fp16), measures them side by side against the parent, refuses those
over the accuracy budget, and stores the rest with their recipe and report documents. Nothing is
proposed: the requester signs each proposal (`POST /v1/builds/{job_id}/candidates/{name}/proposal`).
"""


@router.post(
    "/models/{model_id}/builds",
    response_model=BuildJobPublic,
    status_code=202,
    description=START_DESCRIPTION,
    responses={429: PROBLEM_RESPONSES[422] | {"description": "too many builds queued"}},
)
def start_build(
    model_id: ModelId, body: BuildCreate, builds: BuildsDep, account: AccountDep, response: Response
) -> BuildJobPublic:
    """Start building accelerated versions of an Approved version (a job; 202 at once)."""
    job = builds.start(
        model_id=model_id,
        version_id=body.version_id,
        account=account,
        options=BuildOptions(
            budget_points=body.budget_points,
            builds=tuple(body.builds or RECIPES),
            compare_torch=body.compare_torch,
        ),
    )
    response.headers["Location"] = f"/v1/builds/{job.id}"
    return BuildJobPublic.of(job)


@router.get(
    "/builds/{job_id}",
    response_model=BuildJobPublic,
    openapi_extra={"security": [{}]},  # the Bearer token is optional: open models need none
)
def get_build(
    job_id: JobId, builds: BuildsDep, account: AccountDep, response: Response
) -> BuildJobPublic:
    """A build job: state, progress, result or error (restricted model: read right)."""
    job, grant = builds.job(job_id, account)
    if not grant.public:
        response.headers["Cache-Control"] = RESTRICTED_CACHING
    return BuildJobPublic.of(job)


@router.get(
    "/models/{model_id}/builds",
    response_model=list[BuildJobPublic],
    openapi_extra={"security": [{}]},  # the Bearer token is optional: open models need none
)
def list_builds(
    model_id: ModelId,
    builds: BuildsDep,
    account: AccountDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[BuildJobPublic]:
    """A model's build jobs, newest first (restricted model: read right)."""
    jobs, grant = builds.model_jobs(model_id, account, limit=limit)
    if not grant.public:
        response.headers["Cache-Control"] = RESTRICTED_CACHING
    return [BuildJobPublic.of(j) for j in jobs]


@router.post(
    "/builds/{job_id}/candidates/{name}/proposal", response_model=VersionWritten, status_code=201
)
async def propose_build(
    job_id: JobId,
    name: Annotated[str, Path(pattern="^[a-z0-9-]{1,32}$")],
    body: BuildProposal,
    builds: BuildsDep,
) -> VersionWritten:
    """Propose an accepted build as a version of kind Accelerated (signed ProposeVersion)."""
    result = await run_in_threadpool(lambda: builds.propose(job_id=job_id, name=name, fields=body))
    return VersionWritten(
        version=VersionPublic.of(result.version, str(result.cid)),
        artifact_size=result.size,
        transaction=TransactionPublic.of(result.receipt),
    )


@router.get(
    "/versions/{version_id}/build",
    response_model=VersionBuildPublic,
    openapi_extra={"security": [{}]},
)
def version_build(
    version_id: VersionId, builds: BuildsDep, account: AccountDep, response: Response
) -> VersionBuildPublic:
    """A build version's metadata document, recipe and report, verified against their CIDs."""
    docs = builds.version_build(version_id, account)
    # open only if no restricted model references the metadata (the read rule's own answer)
    response.headers["Cache-Control"] = OPEN_CACHING if docs["public"] else RESTRICTED_CACHING
    return VersionBuildPublic(
        version_id=version_id,
        **{k: ContentDocument(**docs[k]) for k in ("metadata", "recipe", "metrics")},
    )
