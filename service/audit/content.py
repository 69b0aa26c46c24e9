"""Check (c): every version's artifact and every metadata document the chain references is in
the content source, and its bytes hash to the on-chain digest.

The digest on chain is the sha2-256 inside the content's CID (kubo's ``ipfs add
--cid-version=1``): of the bytes themselves for content of one 256 KiB chunk or less (a raw
block), of the UnixFS root block above that. The store verifies each block it hands out; this
check also recomputes the CID from the bytes it got, independently of the store's own checks,
and turns a block that fails its hash into a finding instead of an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from service.audit.context import AuditContext
from service.audit.findings import Finding, failed, passed
from service.audit.naming import Names
from service.errors import ContentNotFound, IntegrityError, UnsupportedCID
from service.store.base import ContentStore
from service.store.chunker import iter_chunks
from service.store.cid import CHUNK_SIZE, CID, cid_from_digest
from service.store.unixfs import compute_cid, file_size

ZERO = bytes(32)


class ContentProblem(Exception):
    """The content a digest names is missing, tampered with, or not what the digest says."""


@dataclass(frozen=True, kw_only=True)
class Content:
    cid: CID
    data: bytes


def read_verified(store: ContentStore, digest: bytes) -> Content:
    """The bytes whose CID has ``digest``, re-hashed here; ContentProblem saying what is wrong
    otherwise (StoreUnavailable passes through: the source itself is down)."""
    raw = cid_from_digest(digest, file_size=0)
    try:
        if not store.has(raw):
            raise ContentProblem(f"{raw} is not in the content source")
        block = store.get_bytes(raw)  # the block with that digest, as it is
        file_root = cid_from_digest(digest, file_size=CHUNK_SIZE + 1)
        try:
            file_size(file_root, block)
        except UnsupportedCID:  # not a UnixFS file root: the content is the block itself
            data = block
        else:  # the root of a file of several chunks: read the file through it
            data = store.get_bytes(file_root)
    except IntegrityError as exc:
        raise ContentProblem(f"a stored block does not match its CID: {exc}") from exc
    except ContentNotFound as exc:
        raise ContentProblem(f"a block is missing from the content source: {exc}") from exc
    computed, size = compute_cid(iter_chunks(data))
    if computed.digest != digest:
        raise ContentProblem(
            f"the {size} bytes read hash to {computed} (digest 0x{computed.digest.hex()}), "
            f"not to the digest on chain 0x{digest.hex()}"
        )
    return Content(cid=computed, data=data)


@dataclass(frozen=True, kw_only=True)
class Reference:
    """One digest the chain names, and which record names it in which role."""

    record: str
    role: str
    digest: bytes


def references(ctx: AuditContext, names: Names) -> Iterator[Reference]:
    """Every artifact and metadata digest the events in scope name (zero means none)."""
    for e in ctx.named("ModelRegistered", "ModelMetadataChanged", "VersionProposed", "RoundOpened"):
        if not ctx.in_scope(e):
            continue
        a = e.args
        if e.name == "ModelRegistered":
            yield Reference(
                record=names.model(a["modelId"]), role="metadata", digest=a["metadataDigest"]
            )
        elif e.name == "ModelMetadataChanged":
            yield Reference(
                record=f"{names.model(a['modelId'])} (block {e.block_number})",
                role="metadata",
                digest=a["metadataDigest"],
            )
        elif e.name == "VersionProposed":
            record = names.version(a["versionId"])
            yield Reference(record=record, role="artifact", digest=a["artifactDigest"])
            yield Reference(record=record, role="metadata", digest=a["metadataDigest"])
        else:
            yield Reference(
                record=f"round {a['roundId']}", role="rule parameters", digest=a["paramsDigest"]
            )


class ContentCheck:
    name = "content"
    title = "artifacts and metadata documents match their digests"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        names = Names.of(ctx)
        seen: dict[bytes, str | None] = {}  # digest -> problem (None: fine), read once each
        for ref in references(ctx, names):
            digest = bytes(ref.digest)
            if digest == ZERO:
                continue
            if digest not in seen:
                try:
                    read_verified(ctx.store, digest)
                    seen[digest] = None
                except ContentProblem as exc:
                    seen[digest] = str(exc)
            problem = seen[digest]
            what = f"{ref.role} 0x{digest.hex()}"
            if problem is None:
                yield passed(self.name, ref.record, f"{what}: present, bytes match")
            else:
                yield failed(self.name, ref.record, f"{what}: {problem}")
