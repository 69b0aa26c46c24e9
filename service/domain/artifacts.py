"""Artifacts: reads verified against the chain's digests, read rights, the pins of uploads
(upload-and-propose itself is service/domain/uploads.py).

The chain stores an artifact's sha2-256 digest (bytes32). The CID it stands for is rebuilt from
the store: the dag-pb CID of that digest when the stored block is a UnixFS file root (files over
one 256 KiB chunk), else the raw CID (see ``resolve_cid``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from web3.exceptions import BlockNotFound

from service.chain.ledger import Ledger
from service.chain.types import Event, ModelRecord, VersionRecord
from service.config import Settings
from service.domain import indexed
from service.domain.context import Backends
from service.domain.metadata import metadata_document
from service.errors import (
    Forbidden,
    NotFound,
    Unauthenticated,
    UnsupportedCID,
)
from service.index.store import IndexFile
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


REFERENCE_EVENTS = {
    "ModelRegistry": frozenset({"VersionProposed", "ModelRegistered", "ModelMetadataChanged"}),
    "FederatedRounds": frozenset({"RoundOpened", "UpdateSubmitted"}),
}
"""The events that make a model reference a digest."""


class ArtifactIndex:
    """Which models reference each digest on chain (a version's artifact or metadata, a model's
    metadata, a round's update or rule parameters, now or in the past), kept up to date from
    events. A cache: the chain is the truth. A round's updates and parameters belong to the
    round's model: they are read under its rule, and garbage collection keeps them.

    It follows rollbacks. It remembers the block it has read up to and that block's hash, and
    every refresh checks that the chain still has that block: if the chain is now lower (anvil
    restarted from an older state dump, ``evm_revert``) or holds another block at that height,
    everything read is dropped and read again, from the event index if it is consistent with
    the chain, else from the chain's logs. Without this, references mined again below the old
    mark would never be read: an open model naming a restricted artifact's digest would open
    it, and garbage collection would unpin a version's artifact the chain references."""

    def __init__(self, ledger: Ledger, index: IndexFile | None = None) -> None:
        self._ledger = ledger
        self._index = index
        self._read: tuple[int, bytes] | None = None  # the last block read: number, hash
        self._models: dict[bytes, set[int]] = {}
        self._artifacts: set[bytes] = set()
        self._round_models: dict[int, int] = {}
        self._lock = threading.RLock()  # reentered: a read refreshes and copies in one hold

    def refresh(self) -> None:
        with self._lock:
            # the head's hash is taken before its logs are read: if the chain changes in
            # between, the next refresh sees another block at this height and reads again
            head = self._ledger.w3.eth.get_block("latest")
            latest, latest_hash = int(head["number"]), bytes(head["hash"])
            if self._read is not None and not self._still_on_chain(latest, latest_hash):
                log.warning(
                    "the chain no longer holds block %d the artifact index had read up to "
                    "(rollback): reading every reference again",
                    self._read[0],
                )
                self._reset()
            if self._read is None:
                next_block = self._ledger.deployment.deploy_block
                # a first read: the event index's logs up to its head, when it may answer,
                # instead of reading the whole chain's logs from the node
                v = indexed.view(self._index, self._ledger, latest)
                if v is not None:
                    logs = v.index.logs_named(frozenset().union(*REFERENCE_EVENTS.values()), v.head)
                    for e in v.events(logs, self._ledger):
                        self._take(e)
                    next_block = v.head + 1
            else:
                next_block = self._read[0] + 1
            if latest >= next_block:
                for contract, names in REFERENCE_EVENTS.items():
                    for e in self._ledger.events(
                        contract=contract,
                        event=sorted(names),
                        from_block=next_block,
                        to_block=latest,
                        with_timestamps=False,
                    ):
                        self._take(e)
            self._read = (latest, latest_hash)

    def _still_on_chain(self, latest: int, latest_hash: bytes) -> bool:
        """Whether the chain still holds the last block read (then it holds all before it)."""
        assert self._read is not None
        number, block_hash = self._read
        if latest < number:
            return False
        if latest == number:
            return latest_hash == block_hash
        try:
            return bytes(self._ledger.w3.eth.get_block(number)["hash"]) == block_hash
        except BlockNotFound:
            return False

    def _reset(self) -> None:
        self._read = None
        self._models.clear()
        self._artifacts.clear()
        self._round_models.clear()

    def _take(self, e: Event) -> None:
        if e.name == "VersionProposed":
            self._add(e.args["artifactDigest"], e.args["modelId"])
            self._add(e.args["metadataDigest"], e.args["modelId"])
            self._artifacts.add(bytes(e.args["artifactDigest"]))
        elif e.name in ("ModelRegistered", "ModelMetadataChanged"):
            self._add(e.args["metadataDigest"], e.args["modelId"])
        elif e.name == "RoundOpened":
            self._round_models[int(e.args["roundId"])] = int(e.args["modelId"])
            self._add(e.args["paramsDigest"], e.args["modelId"])
        elif e.name == "UpdateSubmitted":
            model_id = self._round_models.get(int(e.args["roundId"]))
            if model_id is not None:
                self._add(e.args["updateDigest"], model_id)

    def _add(self, digest: bytes, model_id: int) -> None:
        if any(digest):
            self._models.setdefault(bytes(digest), set()).add(int(model_id))

    def models_for(self, digest: bytes) -> set[int]:
        with self._lock:  # refreshed and copied in one hold: never a half-rebuilt view
            self.refresh()
            return set(self._models.get(bytes(digest), ()))

    def artifact_digests(self) -> set[bytes]:
        with self._lock:  # refreshed and copied in one hold: never a half-rebuilt view
            self.refresh()
            return set(self._artifacts)

    def referenced_digests(self) -> set[bytes]:
        """Every digest some model or version references or referenced, in any role."""
        with self._lock:  # refreshed and copied in one hold: never a half-rebuilt view
            self.refresh()
            return set(self._models)


@dataclass(frozen=True, kw_only=True)
class ReadGrant:
    """Why a read was allowed: the content is open (no restricted model references it), or the
    reader may read every restricted model in ``restricted_by``."""

    restricted_by: frozenset[int]

    @property
    def public(self) -> bool:
        """Nobody needed a session: shared caches may keep the response."""
        return not self.restricted_by


@dataclass(frozen=True, kw_only=True)
class OpenedContent:
    cid: CID
    size: int
    stream: Iterator[bytes]
    grant: ReadGrant


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
            self._index = ArtifactIndex(ledger, self.backends.index)
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

    # ---------------------------------------------------------------- reads

    def model_metadata(
        self, model: ModelRecord, account: str | None
    ) -> tuple[dict[str, Any], ReadGrant]:
        """The model's metadata document (one raw block), read verified against its digest, if
        ``account`` may read it (the rule of ``authorize_read``, the model itself included)."""
        if not any(model.metadata_digest):
            raise NotFound(f"model {model.model_id} records no metadata digest")
        cid = cid_from_digest(model.metadata_digest, file_size=0)
        grant = self.authorize_read(cid, account, model_id=model.model_id)
        store = self.backends.store
        if not store.has(cid):
            raise NotFound(
                f"the store does not hold model {model.model_id}'s metadata document {cid}"
            )
        return metadata_document(model.model_id, cid, store.get_bytes(cid)), grant

    def authorize_read(
        self, cid: CID, account: str | None, *, model_id: int | None = None
    ) -> ReadGrant:
        """Allow a read of content only if ``account`` may read every restricted model that
        references it, in any role (artifact or metadata, of a model or a version), besides
        ``model_id`` (the model the content is read through). Content no restricted model
        references is open. No reference can widen access: an open model naming a restricted
        artifact's digest opens nothing, and a restricted reference made by anyone narrows it.
        """
        return self._authorize(cid.digest, str(cid), account, model_id)

    def _authorize(
        self, digest: bytes, what: str, account: str | None, model_id: int | None
    ) -> ReadGrant:
        model_ids = self.index.models_for(digest)
        if model_id is not None:
            model_ids.add(model_id)
        if not model_ids:
            raise NotFound(
                f"no model or version on chain references {what}; only content the ledger "
                "records can be downloaded",
            )
        ledger = self.backends.ledger
        restricted = sorted(m for m in model_ids if ledger.model(m).restricted)
        if not restricted:
            return ReadGrant(restricted_by=frozenset())
        listed = ", ".join(map(str, restricted))
        if account is None:
            raise Unauthenticated(
                f"{what} is referenced by restricted model(s) {listed}; sign in with Ethereum "
                "(GET /v1/auth/nonce, POST /v1/auth/login) and send the session token"
            )
        refused = [m for m in restricted if not ledger.can_read(m, account)]
        if refused:
            raise Forbidden(
                f"{account} holds no read right on restricted model(s) "
                f"{', '.join(map(str, refused))} that reference {what}; content is served only "
                "to accounts that may read every restricted model referencing it: ask the "
                "owners to grant read_artifacts"
            )
        return ReadGrant(restricted_by=frozenset(restricted))

    def open_read(self, cid_text: str, account: str | None) -> OpenedContent:
        """The content's CID, size (from its root block) and verified byte stream."""
        cid = parse_cid(cid_text)
        return self._open(cid, self.authorize_read(cid, account))

    def open_version(self, version_id: int, account: str | None) -> OpenedContent:
        """A version's artifact, readable per the version's model (and the rule above)."""
        version = self.backends.ledger.version(version_id)
        grant = self.authorize_version(version, account)
        return self._open(self.version_cid(version), grant)  # after: nothing said unauthorized

    def authorize_version(self, version: VersionRecord, account: str | None) -> ReadGrant:
        """Allow a read of a version's artifact, or of what the service derived from its bytes
        (a build job's table and documents), under the download rule: the version's model and
        every restricted model referencing the same bytes."""
        what = f"version {version.version_id}'s artifact (digest 0x{version.artifact_digest.hex()})"
        return self._authorize(version.artifact_digest, what, account, version.model_id)

    def authorize_model(self, model_id: int, account: str | None, what: str) -> ReadGrant:
        """Allow a read of ``what`` the service keeps about a model (its build jobs) under the
        model's read rule: an open model's needs no session; a restricted model's needs the
        session of an account the chain lets read it (``canRead``)."""
        ledger = self.backends.ledger
        if not ledger.model(model_id).restricted:
            return ReadGrant(restricted_by=frozenset())
        if account is None:
            raise Unauthenticated(
                f"{what} belong to restricted model {model_id}; sign in with Ethereum "
                "(GET /v1/auth/nonce, POST /v1/auth/login) and send the session token"
            )
        if not ledger.can_read(model_id, account):
            raise Forbidden(
                f"{account} holds no read right on restricted model {model_id}, so may not read "
                f"{what}: ask the owner to grant read_artifacts"
            )
        return ReadGrant(restricted_by=frozenset({model_id}))

    def _open(self, cid: CID, grant: ReadGrant) -> OpenedContent:
        store = self.backends.store
        size = store.file_size(cid)  # ContentNotFound at once if the root is missing
        stream = store.get(cid)

        def counted() -> Iterator[bytes]:
            for chunk in stream:
                self._on_bytes("out", len(chunk))
                yield chunk

        return OpenedContent(cid=cid, size=size, stream=counted(), grant=grant)

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
