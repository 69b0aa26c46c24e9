"""Predictions from approved ONNX versions."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.build_schemas import OutputTensor, PredictionPublic
from service.api.caching import RESTRICTED_CACHING
from service.api.deps import AccountDep, PredictionsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.versions import VersionId
from service.errors import PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["predictions"], responses=PROBLEM_RESPONSES)

DESCRIPTION = """
The version must be Approved and its artifact ONNX (build one with `POST /v1/models/{id}/builds`).
Read rights apply as for downloads: a restricted model needs a sign-in session and the read
right. The batch is JSON (`{"inputs": [[...]]}`, or `{"inputs": {"name": [[...]]}}`), a `.npy`
file (`application/x-npy`, never unpickled) or a safetensors file (`application/x-safetensors`,
one tensor per input name); names, element types, ranks and fixed dimensions must match the
model's inputs (422 saying which does not).
"""


@router.post(
    "/versions/{version_id}/predict",
    response_model=PredictionPublic,
    description=DESCRIPTION,
    openapi_extra={
        "security": [{}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "example": {"inputs": [[0.0] * 64]},
                },
                "application/x-npy": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "<a .npy file: float32[batch, 64]>",
                },
                "application/x-safetensors": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "<a safetensors file: one tensor per input name>",
                },
            },
        },
    },
)
async def predict(
    version_id: VersionId,
    request: Request,
    predictions: PredictionsDep,
    account: AccountDep,
    response: Response,
) -> PredictionPublic:
    """Run an approved ONNX version on a batch (JSON, .npy or safetensors)."""
    body = await read_body(request, predictions.max_bytes, "the batch")
    content_type = request.headers.get("content-type", "")
    result = await run_in_threadpool(predictions.predict, version_id, account, body, content_type)
    response.headers["Cache-Control"] = RESTRICTED_CACHING
    return PredictionPublic(
        version_id=result.version_id,
        model_id=result.model_id,
        outputs=[
            OutputTensor(
                name=name, dtype=array.dtype.name, shape=list(array.shape), data=array.tolist()
            )
            for name, array in result.outputs
        ],
        predictions=result.predictions,
    )


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request's body, refused with 413 as soon as it passes ``limit`` bytes."""
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"{what} is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
