"""Request and response models of accelerated builds, evaluation sets and predictions."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import _SIG_EXAMPLE, SignedFields
from service.domain.build_jobs import Job, JobState

BuildName = Literal["fp32-basic", "int8-dynamic", "int8-static", "fp16"]


class BuildCreate(BaseModel):
    """What to build from which Approved version of the model."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"version_id": 1, "budget_points": 1.0, "builds": ["int8-dynamic"]}]
        },
    )

    version_id: int = Field(ge=1, le=2**40, description="the Approved parent version")
    budget_points: float = Field(
        default=1.0,
        ge=0,
        le=100,
        description="the accuracy a build may lose against the parent, in percentage points; "
        "a build that loses more is refused with its measured numbers",
    )
    builds: list[BuildName] | None = Field(
        default=None, min_length=1, description="the builds to make (default: all)"
    )
    compare_torch: bool = Field(
        default=False,
        description="also measure torch.compile and torchao int8 beside eager PyTorch (a "
        "safetensors parent only; adds about a minute of compilation)",
    )


class BuildJobPublic(BaseModel):
    job_id: int
    model_id: int
    version_id: int
    requester: str
    options: dict[str, Any]
    state: JobState
    progress: float = Field(description="0 to 1")
    message: str
    result: dict[str, Any] | None = Field(
        description="once succeeded: the parent, the evaluation set, the report (CID and "
        "document), the measured rows, the accepted candidates (artifact, recipe and version "
        "metadata document, each by CID with the documents' exact text) and the refused builds "
        "with their reasons and numbers"
    )
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def of(cls, job: Job) -> BuildJobPublic:
        return cls(
            job_id=job.id,
            model_id=job.model_id,
            version_id=job.version_id,
            requester=job.requester,
            options=job.options,
            state=job.state,
            progress=job.progress,
            message=job.message,
            result=job.result,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class BuildProposal(SignedFields):
    """The requester's ProposeVersion signature over the candidate the job recorded: model,
    parent = the job's version, kind Accelerated, the artifact's and metadata's digests."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [dict(_SIG_EXAMPLE)]}
    )


class ContentDocument(BaseModel):
    cid: str
    digest: str
    document: str = Field(description="the document's exact bytes (UTF-8 JSON)")


class VersionBuildPublic(BaseModel):
    version_id: int
    metadata: ContentDocument
    recipe: ContentDocument
    metrics: ContentDocument


class OutputTensor(BaseModel):
    name: str
    dtype: str
    shape: list[int]
    data: list[Any]


class PredictionPublic(BaseModel):
    version_id: int
    model_id: int
    outputs: list[OutputTensor]
    predictions: list[int] | None = Field(
        description="argmax over the classes, when the first output is [batch, classes]"
    )
