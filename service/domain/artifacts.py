"""Artifacts: upload-and-propose, reads verified against the chain's digests, read rights.

The chain stores an artifact's sha2-256 digest (bytes32). The CID it stands for is rebuilt from
the store: the dag-pb CID of that digest when the stored block is a UnixFS file root (files over
one 256 KiB chunk), else the raw CID (see ``resolve_cid``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from service.chain.ledger import Ledger
from service.chain.types import ModelRecord, VersionRecord
from service.config import Settings
from service.domain.context import Backends
from service.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedCID,
)
from service.store.base import ContentStore
from service.store.cid import CID, cid_from_digest, parse_cid

log = logging.getLogger("govledger.artifacts")

_CHUNK = 262_144


def resolve_cid(store: ContentStore, digest: bytes) -> CID | None:
    """The CID a chain digest names in ``store``, or None if the store lacks the content."""
    raw = cid_from_digest(digest, file_size=0)
    if not store.has(raw):
        return None
    dag = cid_from_digest(digest, file_size=_CHUNK + 1)
    stream = store.get(dag)
    try:
        next(iter(stream), None)
    except UnsupportedCID:
        return raw  # the block is not a UnixFS file root: the artifact is the block itself
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return dag


class ArtifactIndex:
    """Which models reference each digest on chain (a version's artifact or metadata, a model's
    metadata), kept up to date from events. A cache: the chain is the truth."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._next_block = ledger.deployment.deploy_block
        self._models: dict[bytes, set[int]] = {}
        self._artifacts: set[bytes] = set()
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            latest = self._ledger.block_number()
            if latest < self._next_block:
                return
            for e in self._ledger.events(
                contract="ModelRegistry",
                from_block=self._next_block,
                to_block=latest,
                with_timestamps=False,
            ):
                if e.name == "VersionProposed":
                    self._add(e.args["artifactDigest"], e.args["modelId"])
                    self._add(e.args["metadataDigest"], e.args["modelId"])
                    self._artifacts.add(bytes(e.args["artifactDigest"]))
                elif e.name in ("ModelRegistered", "ModelMetadataChanged"):
                    self._add(e.args["metadataDigest"], e.args["modelId"])
            self._next_block = latest + 1

    def _add(self, digest: bytes, model_id: int) -> None:
        if any(digest):
            self._models.setdefault(bytes(digest), set()).add(int(model_id))

    def models_for(self, digest: bytes) -> set[int]:
        self.refresh()
        return set(self._models.get(bytes(digest), ()))

    def artifact_digests(self) -> set[bytes]:
        self.refresh()
        return set(self._artifacts)


class ArtifactService:
    def __init__(
        self,
        backends: Backends,
        settings: Settings,
        *,
        on_bytes: Callable[[str, int], None] | None = None,
    ) -> None:
        self.backends = backends
        self.settings = settings
        self._on_bytes = on_bytes or (lambda direction, n: None)
        self._index: ArtifactIndex | None = None
        self._cids: dict[bytes, CID] = {}
        self._pin_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        backends.upload_pins = lambda: self

    @property
    def index(self) -> ArtifactIndex:
        ledger = self.backends.ledger
        if self._index is None or self._index._ledger is not ledger:
            self._index = ArtifactIndex(ledger)
        return self._index

    def cid_of(self, digest: bytes) -> CID | None:
        cid = self._cids.get(digest)
        if cid is None:
            cid = resolve_cid(self.backends.store, digest)
            if cid is not None:
                self._cids[digest] = cid
        return cid

    # ---------------------------------------------------------------- pins of uploads

    def pin_lock(self, key: str) -> threading.Lock:
        """The lock that orders journaling an upload of one CID and releasing its pin (held
        briefly: nothing waits for the chain or the request body under it)."""
        with self._locks_guard:
            return self._pin_locks.setdefault(key, threading.Lock())

    def count_bytes(self, direction: str, n: int) -> None:
        self._on_bytes(direction, n)

    def remember_cid(self, cid: CID) -> None:
        self._cids[cid.digest] = cid

    def ensure_pinned(self, cid: str) -> None:
        """Pin content a journaled upload stored (ContentNotFound if its bytes are gone)."""
        with self.pin_lock(cid):
            self.backends.store.pin(cid)

    def release(self, cid: str, *, entry_id: int) -> None:
        """Unpin content an upload stored unless something else needs it: the chain references
        its digest, or another journal entry holds it."""
        parsed = parse_cid(cid)
        with self.pin_lock(cid):
            if self.backends.journal.cid_needed(cid, besides=entry_id):
                return
            if self.index.models_for(parsed.digest):
                return
            self.backends.store.unpin(parsed)

    # ---------------------------------------------------------------- metadata documents

    def store_metadata(self, data: bytes) -> tuple[CID, int]:
        """Store a metadata document (a JSON object, one block) and pin it."""
        if len(data) > self.settings.max_metadata_bytes:
            raise PayloadTooLarge(
                f"the metadata document has {len(data)} bytes; the limit is "
                f"{self.settings.max_metadata_bytes}: keep detail in artifacts, not metadata"
            )
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise InvalidInput(f"the metadata document is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise InvalidInput("the metadata document must be a JSON object")
        put = self.backends.store.put(data, pin=True)
        self._on_bytes("in", put.size)
        return put.cid, put.size

    # ---------------------------------------------------------------- reads

    def model_metadata(self, model: ModelRecord) -> dict[str, Any]:
        """The model's metadata document (one raw block), read verified against its digest."""
        if not any(model.metadata_digest):
            raise NotFound(f"model {model.model_id} records no metadata digest")
        cid = cid_from_digest(model.metadata_digest, file_size=0)
        store = self.backends.store
        if not store.has(cid):
            raise NotFound(
                f"the store does not hold model {model.model_id}'s metadata document {cid}"
            )
        doc: dict[str, Any] = json.loads(store.get_bytes(cid))
        return doc

    def authorize_read(self, cid: CID, account: str | None) -> None:
        """Allow a read if some model referencing the content is open, or the account may read
        one of them on chain now."""
        model_ids = self.index.models_for(cid.digest)
        if not model_ids:
            raise NotFound(
                f"no model or version on chain references {cid}; only content the ledger "
                "records can be downloaded",
            )
        ledger = self.backends.ledger
        if any(not ledger.model(m).restricted for m in model_ids):
            return
        if account is None:
            raise Unauthenticated(
                f"{cid} belongs to a restricted model; sign in with Ethereum "
                "(GET /v1/auth/nonce, POST /v1/auth/login) and send the session token"
            )
        if not any(ledger.can_read(m, account) for m in model_ids):
            raise Forbidden(
                f"{account} holds no read right on the models that reference {cid} "
                f"({', '.join(map(str, sorted(model_ids)))}); ask the owner to grant read_artifacts"
            )

    def open_read(self, cid_text: str, account: str | None) -> tuple[CID, int, Iterator[bytes]]:
        """The content's CID, size (from its root block) and verified byte stream."""
        cid = parse_cid(cid_text)
        self.authorize_read(cid, account)
        store = self.backends.store
        size = store.file_size(cid)  # ContentNotFound at once if the root is missing
        stream = store.get(cid)

        def counted() -> Iterator[bytes]:
            for chunk in stream:
                self._on_bytes("out", len(chunk))
                yield chunk

        return cid, size, counted()

    def version_cid(self, version: VersionRecord) -> CID:
        cid = self.cid_of(version.artifact_digest)
        if cid is None:
            raise NotFound(
                f"the store does not hold version {version.version_id}'s artifact (digest "
                f"0x{version.artifact_digest.hex()}); import it from a node that has it"
            )
        return cid

    # ---------------------------------------------------------------- recovery

    def reconcile_pins(self) -> int:
        """Pin every artifact the chain records that the store holds unpinned (a crash between
        the proposal and the pin leaves one). Returns how many were pinned."""
        store = self.backends.store
        pinned = {c.digest for c in store.pins()}
        count = 0
        for digest in self.index.artifact_digests() - pinned:
            cid = self.cid_of(digest)
            if cid is not None:
                try:
                    store.pin(cid)
                    count += 1
                except Exception as exc:  # an incomplete DAG: leave it, reads will say so
                    log.warning("cannot pin %s: %s", cid, exc)
        return count
