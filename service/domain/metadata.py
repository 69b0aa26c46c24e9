"""Metadata documents: stored for consortium members who sign for them, within a quota.

``POST /v1/metadata`` pins a document on the service's disk, so it is not open to anyone: the
request carries the actor's EIP-712 signature of ``StoreMetadata(digest, actor, deadline)``
(an off-chain statement in the ModelRegistry's domain, see service/chain/actions.py). Before the
body is read, the service checks the deadline against its own clock (not past, not further
ahead than ``metadata_signature_ttl_s``), the signature, that the actor is a member on chain
now, and that the actor's quota has room. Then the bytes must be a JSON object whose digest is
the signed one, and fit the quota; only then are they stored and pinned. A refused request
stores nothing.

Reading one back (``metadata_document``) says what the block is when a digest on chain names
something that is not a JSON object.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from service.bookkeeping import Bookkeeping
from service.chain.actions import store_metadata_statement
from service.config import Settings
from service.domain.context import Backends
from service.domain.quota import StorageQuota
from service.errors import (
    Forbidden,
    InvalidInput,
    InvalidMetadataDocument,
    LedgerError,
    PayloadTooLarge,
    SignatureRejected,
)
from service.store.base import PutResult
from service.store.chunker import iter_chunks
from service.store.cid import CID, DAG_PB
from service.store.unixfs import compute_cid, file_size


@dataclass(frozen=True, kw_only=True)
class Admission:
    """A checked StoreMetadata signature: who may store which digest."""

    actor: str
    digest: bytes


class MetadataDocuments:
    def __init__(
        self,
        backends: Backends,
        settings: Settings,
        book: Bookkeeping,
        *,
        on_bytes: Callable[[str, int], None] | None = None,
    ) -> None:
        self.backends = backends
        self.settings = settings
        self.book = book
        self.quota = StorageQuota(
            book,
            what="metadata document",
            max_documents=settings.metadata_quota_documents,
            max_bytes=settings.metadata_quota_bytes,
        )
        self._on_bytes = on_bytes or (lambda direction, n: None)

    @property
    def max_bytes(self) -> int:
        return self.settings.max_metadata_bytes

    def admit(self, *, actor: str, digest: bytes, deadline: int, signature: str) -> Admission:
        """Everything checked before the body is read: deadline, signature, membership, room
        in the actor's quota."""
        actor = to_checksum_address(actor)
        now = time.time()
        ttl = self.settings.metadata_signature_ttl_s
        if deadline < now:
            raise SignatureRejected(
                f"the StoreMetadata signature's deadline {deadline} has passed (the service's "
                f"clock reads {int(now)}); sign again with a later deadline"
            )
        if deadline > now + ttl:
            raise SignatureRejected(
                f"the StoreMetadata signature's deadline {deadline} is more than {ttl} s ahead "
                f"of the service's clock ({int(now)}); sign again with a deadline within {ttl} s"
            )
        try:
            raw_signature = bytes.fromhex(signature.removeprefix("0x"))
        except ValueError:
            raise InvalidInput(
                "signature is not hex; give 0x followed by the signature's hex digits"
            ) from None
        ledger = self.backends.ledger
        statement = store_metadata_statement(
            domain=ledger.domain("ModelRegistry"), digest=digest, actor=actor, deadline=deadline
        )
        if not ledger.signed_statement(statement, raw_signature):
            raise SignatureRejected(
                f"this is not {actor}'s signature of StoreMetadata(digest 0x{digest.hex()}, "
                f"deadline {deadline}) in the ModelRegistry's EIP-712 domain on this chain; sign "
                f"that typed data with {actor}'s key"
            )
        if not ledger.is_member(actor):
            raise Forbidden(
                f"{actor} is not a member of the consortium: only members may store metadata "
                "documents on this service"
            )
        self.quota.check_room(actor, digest, now)
        return Admission(actor=actor, digest=digest)

    def store(self, admission: Admission, data: bytes) -> PutResult:
        """Store and pin the document if it is a JSON object with the signed digest and fits
        the actor's quota; otherwise store nothing."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"the metadata document has {len(data)} bytes; the limit is {self.max_bytes}: "
                "keep detail in artifacts, not metadata"
            )
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"the metadata document is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise InvalidInput("the metadata document must be a JSON object")
        cid, size = compute_cid(iter_chunks(data))
        if cid.digest != admission.digest:
            raise InvalidInput(
                f"the document's digest is 0x{cid.digest.hex()}, but the signature covers "
                f"0x{admission.digest.hex()}; nothing was stored: sign the digest of the "
                "bytes you send"
            )
        now = time.time()
        refund = self.quota.charge(admission.actor, cid.digest, size, now)
        try:
            self.book.note_pinned(str(cid), now)  # before the pin: see Bookkeeping
            put = self.backends.store.put(data, pin=True)
        except BaseException:
            refund()
            raise
        self._on_bytes("in", put.size)
        return put


def metadata_document(model_id: int, cid: CID, data: bytes) -> dict[str, Any]:
    """``data`` as a metadata document (a JSON object), or InvalidMetadataDocument saying what
    the block is instead."""
    what = f"model {model_id}'s metadata digest names block {cid} ({len(data)} bytes), which is"
    fix = (
        f"; the owner can record the digest of a JSON object instead (PUT /v1/models/"
        f"{model_id}/metadata); the bytes themselves are at GET /v1/artifacts/{cid}"
    )
    try:
        size = file_size(CID(DAG_PB, cid.digest), data)
    except LedgerError:
        pass
    else:
        raise InvalidMetadataDocument(
            f"{what} the root of a {size}-byte UnixFS file (a file over one 256 KiB block, "
            f"such as an artifact), not a JSON metadata document{fix}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMetadataDocument(
            f"{what} not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}), so not a "
            f"JSON metadata document{fix}"
        ) from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidMetadataDocument(f"{what} text but not JSON ({exc}){fix}") from None
    except RecursionError:
        raise InvalidMetadataDocument(f"{what} JSON nested too deeply to read{fix}") from None
    if not isinstance(doc, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(doc), "a number"
        )
        raise InvalidMetadataDocument(
            f"{what} JSON but {kind}; a metadata document is a JSON object{fix}"
        )
    return doc
