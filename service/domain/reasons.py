"""A reason with a vote: a short text the voter signs, kept in the metadata store.

Why not signed with the vote itself: ``CastVote(versionId, support, actor, nonce, deadline)`` is
what the contract checks, and adding a field would change the contract. So the reason is a
metadata document of its own, stored like every metadata document (POST /v1/metadata's rule:
the voter's StoreMetadata signature over its digest, membership, the per-account quota)::

    {"kind": "govledger/vote-reason", "reason": "...", "support": "against",
     "version_id": 7, "voter": "0x..."}

The service accepts it only from the voter, after the vote is on chain, with the choice the
chain records; it links the vote to the document and keeps the signature, so that anyone can
check that the voter wrote it (recover the StoreMetadata signer over the document's digest) and
that it matches the vote on chain. A later reason of the same voter replaces the link; votes and
their reasons are public, like the votes themselves.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from service.bookkeeping.reasons import ReasonLink, VoteReasons
from service.chain.ledger import Ledger
from service.chain.types import Support
from service.domain.metadata import Admission, MetadataDocuments
from service.errors import Conflict, InvalidInput, LedgerError
from service.store.cid import parse_cid

KIND = "govledger/vote-reason"
MAX_REASON_CHARS = 1000
MAX_DOCUMENT_BYTES = 8192
_FIELDS = {"kind", "reason", "support", "version_id", "voter"}


def reason_document(*, version_id: int, voter: str, support: str, reason: str) -> bytes:
    """The document's bytes as the CLI and the client write them (canonical JSON)."""
    doc = {
        "kind": KIND,
        "reason": reason,
        "support": support,
        "version_id": version_id,
        "voter": to_checksum_address(voter),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, kw_only=True)
class StoredReason:
    version_id: int
    voter: str
    support: str
    reason: str
    cid: str
    deadline: int
    signature: str


class VoteReasonService:
    def __init__(self, documents: MetadataDocuments, links: VoteReasons) -> None:
        self.documents = documents
        self.links = links

    @property
    def ledger(self) -> Ledger:
        return self.documents.backends.ledger

    def admit(
        self, *, version_id: int, actor: str, digest: bytes, deadline: int, signature: str
    ) -> tuple[Admission, Support]:
        """Before the body is read: the StoreMetadata signature, membership and quota (as for
        any metadata document), and that the actor has voted on the version."""
        admission = self.documents.admit(
            actor=actor, digest=digest, deadline=deadline, signature=signature
        )
        self.ledger.version(version_id)  # RegistryUnknownVersion if there is none
        support = self.ledger.vote_of(version_id, admission.actor)
        if support is None:
            raise Conflict(
                f"{admission.actor} has not voted on version {version_id}; a reason goes with a "
                "vote: vote first, then give its reason"
            )
        return admission, support

    def store(
        self,
        admission: Admission,
        support: Support,
        data: bytes,
        *,
        version_id: int,
        deadline: int,
        signature: str,
    ) -> StoredReason:
        """Check the document against the vote on chain, store it, link the vote to it."""
        doc = _document(data)
        choice = support.name.lower()
        expected = {"kind": KIND, "version_id": version_id, "voter": admission.actor}
        for key, value in expected.items():
            if doc[key] != value:
                raise InvalidInput(
                    f"the reason document's {key} is {doc[key]!r}; for this vote it must be "
                    f"{value!r}"
                )
        if doc["support"] != choice:
            raise InvalidInput(
                f"the reason says the vote was {doc['support']!r}, but the chain records "
                f"{admission.actor}'s vote on version {version_id} as {choice!r}"
            )
        put = self.documents.store(admission, data)
        self.links.record(
            ReasonLink(
                version_id=version_id,
                voter=admission.actor,
                cid=str(put.cid),
                deadline=deadline,
                signature=signature,
                at=time.time(),
            )
        )
        return StoredReason(
            version_id=version_id,
            voter=admission.actor,
            support=choice,
            reason=doc["reason"],
            cid=str(put.cid),
            deadline=deadline,
            signature=signature,
        )

    def of_version(self, version_id: int) -> dict[str, StoredReason]:
        """The reasons of the version's votes, by voter (read back verified from the store;
        a document the store lost is left out)."""
        found: dict[str, StoredReason] = {}
        store = self.documents.backends.store
        for voter, link in self.links.of_version(version_id).items():
            try:
                doc = _document(store.get_bytes(parse_cid(link.cid)))
            except LedgerError:
                continue
            found[voter] = StoredReason(
                version_id=version_id,
                voter=voter,
                support=str(doc["support"]),
                reason=str(doc["reason"]),
                cid=link.cid,
                deadline=link.deadline,
                signature=link.signature,
            )
        return found

    def cids(self) -> list[str]:
        return self.links.cids()


def _document(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"a vote's reason document has at most {MAX_DOCUMENT_BYTES} bytes, not {len(data)}"
        )
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"the reason document is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise InvalidInput(
            "a vote's reason document is a JSON object with exactly the keys "
            f"{', '.join(sorted(_FIELDS))}"
        )
    reason = doc["reason"]
    if not isinstance(reason, str) or not 0 < len(reason.strip()) <= MAX_REASON_CHARS:
        raise InvalidInput(f"the reason is a text of 1 to {MAX_REASON_CHARS} characters")
    if isinstance(doc["voter"], str):
        try:
            doc["voter"] = to_checksum_address(doc["voter"])
        except ValueError:
            raise InvalidInput(f"the reason's voter {doc['voter']!r} is not an address") from None
    return doc
