"""Versions: upload and propose, read, list, votes, finalize, artifact download."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
import anyio.from_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.api.caching import OPEN_CACHING, RESTRICTED_CACHING
from service.api.deps import AccountDep, ArtifactsDep, LedgerDep, RelayerDep, VoteReasonsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.models import ModelId
from service.api.schemas import (
    KIND_BY_NAME,
    STATE_BY_NAME,
    SUPPORT_BY_NAME,
    UINT256_MAX,
    ZERO_DIGEST_HEX,
    Address,
    Digest,
    KindName,
    SignatureHex,
    StateName,
    TransactionPublic,
    VersionList,
    VersionPublic,
    VersionUpdated,
    VersionWritten,
    VoteCreate,
    VotePublic,
    VoteWritten,
    event_ref,
    state_name,
    support_name,
)
from service.chain.types import Support, VersionRecord, as_digest
from service.domain import catalog, prechecks, uploads
from service.domain.actions import SignedFields, finalize, relay
from service.domain.artifacts import ArtifactService, OpenedContent
from service.ml.torch_export_format import UNSAFE_TO_LOAD
from service.store.cid import CID, parse_cid

router = APIRouter(prefix="/v1", tags=["versions"], responses=PROBLEM_RESPONSES)

VersionId = Annotated[int, Path(ge=1, le=2**40, description="the version's id on chain")]


def _public(artifacts: ArtifactService, version_id: int) -> VersionPublic:
    return public_version(artifacts, artifacts.backends.ledger.version(version_id))


def decided_version(artifacts: ArtifactService, v: VersionRecord) -> VersionPublic:
    """``v`` as the single-version reads show it: with when and how it was decided."""
    from service.api.timeline_schemas import decision_public
    from service.domain.timeline import decision_of

    public = public_version(artifacts, v)
    public.decision = decision_public(decision_of(artifacts.backends.ledger, v))
    return public


def public_version(
    artifacts: ArtifactService,
    v: VersionRecord,
    *,
    numbers: dict[int, int] | None = None,
    model_name: str | None = None,
    cid: CID | None = None,
) -> VersionPublic:
    """``v`` as the API shows it: with its CID if the store holds it, its number within its
    model and the model's name (``numbers`` and ``model_name`` if the caller has them)."""
    ledger = artifacts.backends.ledger
    cid = cid or artifacts.cid_of(v.artifact_digest)
    if numbers is None:
        numbers = catalog.version_numbers(ledger, v.model_id)
    return VersionPublic.of(
        v,
        str(cid) if cid else None,
        numbers=numbers,
        model_name=model_name or ledger.model(v.model_id).name,
    )


@router.post(
    "/models/{model_id}/versions",
    response_model=VersionWritten,
    status_code=201,
    responses={
        413: PROBLEM_RESPONSES[422] | {"description": "the artifact is over the size bound"}
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the artifact's bytes (safetensors, a torch.export .pt2 archive or a "
            "self-contained ONNX model), "
            "streamed; their CID must be the artifact_cid the request names, whose digest the "
            "actor signed (ProposeVersion) before the upload",
            "content": {
                "application/octet-stream": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "<safetensors bytes>",
                }
            },
        }
    },
)
async def propose_version(
    model_id: ModelId,
    request: Request,
    artifacts: ArtifactsDep,
    artifact_format: Annotated[str, Query(pattern="^(safetensors|torch-export|onnx)$")],
    artifact_cid: Annotated[
        str,
        Query(
            min_length=2,
            max_length=200,
            description="the CID of the bytes in the body (ipfs add --cid-version=1); the "
            "actor signs ProposeVersion over the digest inside it, and the signature is checked "
            "before the body is read",
        ),
    ],
    actor: Annotated[Address, Query()],
    nonce: Annotated[int, Query(ge=0, le=UINT256_MAX)],
    deadline: Annotated[int, Query(ge=0, le=UINT256_MAX)],
    signature: Annotated[SignatureHex, Query()],
    kind: Annotated[KindName, Query()] = "base",
    parent_id: Annotated[int, Query(ge=0, le=2**40)] = 0,
    metadata_digest: Annotated[Digest, Query()] = ZERO_DIGEST_HEX,
    allow_duplicate: Annotated[
        bool,
        Query(
            description="propose bytes that are already a version of this model (refused "
            "with 409 duplicate-artifact otherwise, before the body is read)"
        ),
    ] = False,
) -> VersionWritten:
    """Upload an artifact (streamed) and propose it as a version in one call (ProposeVersion)."""
    length = request.headers.get("content-length")
    body = request.stream()

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = anyio.from_thread.run(_next_chunk, body)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    cid = parse_cid(artifact_cid)

    def propose() -> uploads.ProposedVersion:
        if not allow_duplicate:
            prechecks.refuse_duplicate_artifact(
                artifacts.backends.ledger,
                model_id=model_id,
                digest=cid.digest,
                actor=actor,
                nonce=nonce,
            )
        return uploads.propose_with_upload(
            artifacts,
            model_id=model_id,
            parent_id=parent_id,
            kind=KIND_BY_NAME[kind],
            metadata_digest=as_digest(metadata_digest),
            artifact_cid=cid,
            artifact_format=artifact_format,
            fields=SignedFields(actor, nonce, deadline, signature),
            chunks=chunks(),
            content_length=int(length) if length and length.isdigit() else None,
        )

    result = await anyio.to_thread.run_sync(propose)
    return VersionWritten(
        version=public_version(artifacts, result.version, cid=result.cid),
        artifact_size=result.size,
        transaction=TransactionPublic.of(result.receipt),
    )


async def _next_chunk(body: AsyncIterator[bytes]) -> bytes:
    return await body.__anext__()


@router.get("/models/{model_id}/versions", response_model=VersionList)
def list_versions(
    model_id: ModelId,
    artifacts: ArtifactsDep,
    kind: Annotated[KindName | None, Query()] = None,
    state: Annotated[StateName | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> VersionList:
    """A model's versions with their state, filtered by kind and state."""
    page = catalog.list_versions(
        artifacts.backends.ledger,
        model_id,
        kind=KIND_BY_NAME[kind] if kind else None,
        state=STATE_BY_NAME[state] if state else None,
        offset=offset,
        limit=limit,
    )
    ledger = artifacts.backends.ledger
    numbers = catalog.version_numbers(ledger, model_id)
    name = ledger.model(model_id).name
    items = [public_version(artifacts, v, numbers=numbers, model_name=name) for v in page.items]
    return VersionList(items=items, total=page.total, offset=offset, limit=limit)


@router.get("/versions/{version_id}", response_model=VersionPublic)
def get_version(version_id: VersionId, artifacts: ArtifactsDep) -> VersionPublic:
    """One version with its state, tally and decision."""
    return decided_version(artifacts, artifacts.backends.ledger.version(version_id))


@router.post("/versions/{version_id}/finalize", response_model=VersionUpdated)
def finalize_version(
    version_id: VersionId, artifacts: ArtifactsDep, relayer: RelayerDep
) -> VersionUpdated:
    """Record that the version's voting window ended without approval (anyone may ask)."""
    receipt = finalize(relayer, "ModelRegistry", "finalizeVersion", version_id)
    return VersionUpdated(
        version=_public(artifacts, version_id), transaction=TransactionPublic.of(receipt)
    )


@router.post("/versions/{version_id}/votes", response_model=VoteWritten, status_code=201)
def cast_vote(
    version_id: VersionId, body: VoteCreate, ledger: LedgerDep, relayer: RelayerDep
) -> VoteWritten:
    """Vote For, Against or Abstain on a proposed version (signed CastVote, members only)."""
    support = SUPPORT_BY_NAME[body.support]
    receipt = relay(relayer, "CastVote", {"versionId": version_id, "support": int(support)}, body)
    e = receipt.event("VoteCast")
    timestamp = ledger.history.block_timestamp(receipt.block_number)
    return VoteWritten(
        vote=VotePublic(
            version_id=version_id,
            voter=str(e.args["voter"]),
            support=support_name(Support(e.args["support"])),
            block_number=receipt.block_number,
            timestamp=timestamp,
            transaction_hash=receipt.transaction_hash,
        ),
        state=state_name(ledger.version_state(version_id)),
        transaction=TransactionPublic.of(receipt),
    )


@router.get("/versions/{version_id}/votes", response_model=list[VotePublic])
def list_votes(
    version_id: VersionId, ledger: LedgerDep, reasons: VoteReasonsDep
) -> list[VotePublic]:
    """Every vote on a version: voter, choice, block and time, and the voter's signed reason."""
    from service.api.routes.version_documents import reason_public

    votes = catalog.votes(ledger, version_id)
    given = reasons.of_version(version_id) if votes else {}
    out = []
    for e in votes:
        voter = str(e.args["voter"])
        out.append(
            VotePublic(
                version_id=version_id,
                voter=voter,
                support=support_name(Support(e.args["support"])),
                reason=reason_public(given[voter]) if voter in given else None,
                **event_ref(e),
            )
        )
    return out


SERVED_AS_STORED = (
    "The bytes are served as they were stored, whatever their format. The service never loads "
    "a torch.export archive (.pt2), but whoever does may run code: "
    + UNSAFE_TO_LOAD
    + ". The Python client's download result carries a `warning` (and `govledger artifacts "
    "download` prints it) when the file is such an archive, or any zip, as torch.save writes."
)
"""The part of both downloads' OpenAPI descriptions that warns about .pt2 files."""


@router.get(
    "/versions/{version_id}/artifact",
    description="The version's artifact, verified against its CID while streaming (restricted: "
    "read right).\n\n" + SERVED_AS_STORED,
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
async def download_version_artifact(
    version_id: VersionId, artifacts: ArtifactsDep, account: AccountDep
) -> StreamingResponse:
    """The version's artifact, verified against its CID while streaming (restricted: read right)."""
    opened = await run_in_threadpool(artifacts.open_version, version_id, account)
    return _stream_response(opened)


def _stream_response(opened: OpenedContent) -> StreamingResponse:
    """The content's bytes; shared caches may keep them only if no session was needed (content
    no restricted model references), since a cache would serve them to anyone after."""
    cid = str(opened.cid)
    return StreamingResponse(
        opened.stream,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(opened.size),
            "X-Content-CID": cid,
            "ETag": f'"{cid}"',
            "Cache-Control": OPEN_CACHING if opened.grant.public else RESTRICTED_CACHING,
        },
    )
