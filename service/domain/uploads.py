"""Upload and propose in one call, journaled at every step.

The client computes the artifact's CID and signs ``ProposeVersion`` over the digest inside it
*before* it uploads, and sends the CID with the request. So everything an anonymous caller
could make the service spend disk or memory on is checked before the first byte of the body is
read: the signature over that digest (the actor's, or an ERC-1271 wallet's), the actor's right
on the model, its nonce and the deadline, and that no other action holds the nonce. Then:

1. the upload is journaled (``received``): a crash from here on is found again at start;
2. the body streams into the store (pinned as the put completes, so a concurrent gc never takes
   it), through the format validator and the size bound; the stored bytes must have the signed
   CID, else nothing stays;
3. journaled ``stored``, then relayed (journaled ``sent`` as the transaction leaves, ``mined``
   once confirmed) and acknowledged with 201.

Any refusal releases the pin unless something else needs those bytes (the chain references
them, or another journal entry holds them). The per-CID lock covers only the journal entry's
creation and a release's check-and-unpin, so a release never unpins bytes an upload journaled
before it; no lock is held while the bytes stream or the chain is waited for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from eth_utils import to_checksum_address

from service.chain import reverts
from service.chain.actions import SignedAction
from service.chain.ledger import ActionReceipt, Ledger
from service.chain.types import Rights, VersionKind, VersionRecord
from service.domain.actions import SignedFieldsLike, signed_action
from service.domain.artifacts import ArtifactService
from service.errors import InvalidInput, LedgerError, PayloadTooLarge
from service.failpoints import reach
from service.journal.relayer import Relayer
from service.journal.store import Status
from service.ml.formats import artifact_validator
from service.store.cid import CID

log = logging.getLogger("govledger.uploads")


@dataclass(frozen=True, kw_only=True)
class ProposedVersion:
    version: VersionRecord
    cid: CID
    size: int
    receipt: ActionReceipt


def propose_with_upload(
    artifacts: ArtifactService,
    *,
    model_id: int,
    parent_id: int,
    kind: VersionKind,
    metadata_digest: bytes,
    artifact_cid: CID,
    artifact_format: str,
    fields: SignedFieldsLike,
    chunks: Iterable[bytes],
    content_length: int | None,
) -> ProposedVersion:
    """Check, journal, store and propose an artifact (see the module docstring)."""
    ledger = artifacts.backends.ledger
    validator = artifact_validator(artifact_format)
    signed = signed_action(
        ledger,
        "ProposeVersion",
        {
            "modelId": model_id,
            "parentId": parent_id,
            "kind": int(kind),
            "artifactDigest": artifact_cid.digest,
            "metadataDigest": metadata_digest,
        },
        fields,
    )

    def precheck() -> None:
        _precheck(ledger, artifacts.backends.relayer, model_id, signed.action.actor, fields)

    upload = relay_with_upload(
        artifacts,
        signed=signed,
        cid=artifact_cid,
        make_validator=lambda: validator,
        chunks=chunks,
        content_length=content_length,
        limit=artifacts.settings.max_upload_bytes,
        precheck=precheck,
        what="artifact",
    )
    return _result(ledger, artifacts, artifact_cid, upload.receipt, size=upload.size)


class StreamValidator(Protocol):
    """Checks bytes as they stream: ``feed`` raises as soon as they are known bad, ``finish``
    once they are complete (service/ml/formats.py, service/ml/updates.py)."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> object: ...


@dataclass(frozen=True, kw_only=True)
class RelayedUpload:
    receipt: ActionReceipt
    size: int | None  # None when the same signed upload was replayed (its body not read)


def relay_with_upload(
    artifacts: ArtifactService,
    *,
    signed: SignedAction,
    cid: CID,
    make_validator: Callable[[], StreamValidator],
    chunks: Iterable[bytes],
    content_length: int | None,
    limit: int,
    precheck: Callable[[], None],
    what: str,
) -> RelayedUpload:
    """The upload path every signed action carrying bytes shares (a version's artifact, a
    round's update): claim the action's key; refuse an announced length past ``limit``;
    ``precheck()`` and the signature before the body; journal; stream the body through the
    validator ``make_validator()`` builds (after the pre-checks) into the store; check the
    stored bytes have ``cid``; relay. The same signed request again after it was recorded gets
    its receipt without its body being read."""
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(
            f"the {what} has {content_length} bytes, more than the limit of {limit}; "
            "raise GOVLEDGER_MAX_UPLOAD_BYTES on the service or upload a smaller file"
        )
    backends = artifacts.backends
    ledger, relayer = backends.ledger, backends.relayer
    with relayer.claim(signed) as claim:
        if claim.replay is not None:  # the same signed upload again, after it was recorded
            return RelayedUpload(receipt=claim.replay, size=None)
        precheck()
        ledger.verify(signed)  # the signature over the declared digest: before the body
        cid_text = str(cid)
        with artifacts.pin_lock(cid_text):  # a release of these bytes sees the entry, or is done
            entry_id = relayer.begin_upload(signed, cid_text)
        upload = _Upload(artifacts, entry_id, cid)
        try:
            size = upload.store(make_validator(), chunks, limit)
            reach("upload-journaled")
            receipt = relayer.send_stored(signed, entry_id)
            reach("upload-mined")
        except BaseException as exc:
            upload.settle_failure(exc)
            raise
        finally:
            relayer.end(entry_id)
    artifacts.remember_cid(cid)
    return RelayedUpload(receipt=receipt, size=size)


def _result(
    ledger: Ledger,
    artifacts: ArtifactService,
    cid: CID,
    receipt: ActionReceipt,
    *,
    size: int | None = None,
) -> ProposedVersion:
    version_id = int(receipt.event("VersionProposed").args["versionId"])
    if size is None:
        size = artifacts.backends.store.file_size(cid)
    return ProposedVersion(version=ledger.version(version_id), cid=cid, size=size, receipt=receipt)


def _precheck(
    ledger: Ledger, relayer: Relayer, model_id: int, actor: str, fields: SignedFieldsLike
) -> None:
    """Refuse, before reading a byte of the body, what the chain would refuse anyway. The
    nonce is the chain's next, or the journal's next when the chain still has journaled
    actions of the actor to take back (after a rollback or a crash)."""
    actor = to_checksum_address(actor)
    ledger.model(model_id)
    if not ledger.rights_of(model_id, actor) & Rights.MAINTAIN:
        raise reverts.RegistryNotMaintainer(
            "RegistryNotMaintainer", {"modelId": model_id, "account": actor}
        )
    current = ledger.nonce_of("ModelRegistry", actor)
    expected = relayer.next_nonce("ModelRegistry", actor, current)
    if fields.nonce not in (current, expected):
        raise reverts.InvalidAccountNonce(
            "InvalidAccountNonce", {"account": actor, "currentNonce": expected}
        )


class _Upload:
    """One upload's steps between its journal entry and its relay."""

    def __init__(self, artifacts: ArtifactService, entry_id: int, cid: CID) -> None:
        self.artifacts = artifacts
        self.journal = artifacts.backends.journal
        self.entry_id = entry_id
        self.cid = cid
        self.stored: CID | None = None

    def store(self, validator: StreamValidator, chunks: Iterable[bytes], limit: int) -> int:
        """Stream the body into the store (pinned), validated and bounded; journal ``stored``
        once it is there with the declared CID. Returns its size."""
        store = self.artifacts.backends.store
        counter = _Counter(limit)

        def checked() -> Iterator[bytes]:
            for chunk in chunks:
                counter.add(len(chunk))
                validator.feed(chunk)
                yield chunk

        put = store.put(checked(), pin=True)
        self.stored = put.cid
        self.artifacts.count_bytes("in", put.size)
        validator.finish()
        if put.cid != self.cid:
            raise InvalidInput(
                f"the uploaded bytes have CID {put.cid}, not the {self.cid} the request names "
                "and the actor signed; nothing was recorded and the bytes are not kept: compute "
                "the CID of the file you upload (ipfs add --cid-version=1 -n) and sign its digest"
            )
        reach("upload-stored")
        self.journal.transition(self.entry_id, Status.STORED)
        return put.size

    def settle_failure(self, exc: BaseException) -> None:
        """The journal entry says what became of the upload, and its bytes stay pinned only if
        something else needs them."""
        entry = self.journal.get(self.entry_id)
        if entry.status in (Status.RECEIVED, Status.STORED):
            final = Status.REFUSED if isinstance(exc, InvalidInput) else Status.ABANDONED
            reason = str(exc) if isinstance(exc, LedgerError) else f"the upload failed: {exc!r}"
            entry = self.journal.transition(self.entry_id, final, reason=reason)
        if entry.live or entry.status == Status.MINED or self.stored is None:
            return  # sent and journaled (the chain may yet record it), or nothing was stored
        try:
            self.artifacts.release(str(self.stored), entry_id=self.entry_id)
        except LedgerError as error:
            log.warning("could not release the pin of %s: %s", self.stored, error)


class _Counter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise PayloadTooLarge(
                f"the artifact is larger than the limit of {self.limit} bytes; raise "
                "GOVLEDGER_MAX_UPLOAD_BYTES on the service or upload a smaller file"
            )
