"""A version's metadata document (description, tags, metrics, as MLflow's registry keeps them)
read back verified, and versions searched by it.

The document is content-addressed: the version records its digest on chain, the store holds
the bytes (stored with a member's signed StoreMetadata, see service/domain/metadata.py). It is
read under the same rule as artifacts: content any restricted model references is served only
to accounts that may read every such model. A search therefore looks only into documents the
caller may read, and says how many it could not.

Search reads every candidate version's document from the store: linear in the versions
searched (a model's, or all), which suits registries of thousands of versions; an index kept
from the chain's events would be the next step beyond that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.chain.types import State, VersionRecord
from service.domain.artifacts import ArtifactService, ReadGrant
from service.errors import (
    Forbidden,
    InvalidInput,
    InvalidMetadataDocument,
    NotFound,
    Unauthenticated,
)
from service.store.cid import cid_from_digest


def version_metadata(
    artifacts: ArtifactService, version: VersionRecord, account: str | None
) -> tuple[dict[str, Any], ReadGrant]:
    """The version's metadata document (a JSON object), verified against its digest, if
    ``account`` may read it."""
    what = f"version {version.version_id}"
    if not any(version.metadata_digest):
        raise NotFound(f"{what} records no metadata document (it was proposed without one)")
    cid = cid_from_digest(version.metadata_digest, file_size=0)
    grant = artifacts.authorize_read(cid, account, model_id=version.model_id)
    store = artifacts.backends.store
    if not store.has(cid):
        raise NotFound(f"the store does not hold {what}'s metadata document {cid}")
    data = store.get_bytes(cid)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise InvalidMetadataDocument(
            f"{what}'s metadata digest names block {cid} ({len(data)} bytes), which is not a "
            "JSON object; the bytes are at GET /v1/artifacts/" + str(cid)
        )
    return doc, grant


@dataclass(frozen=True, kw_only=True)
class Query:
    """What a search asks: words (in the description, a tag, the model's name) and tags
    (``key`` has the tag, ``key=value`` has it with that value)."""

    text: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def reads_documents(self) -> bool:
        return bool(self.text) or bool(self.tags)

    def parsed_tags(self) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for tag in self.tags:
            key, sep, value = tag.partition("=")
            if not key.strip():
                raise InvalidInput(f"a tag filter is KEY or KEY=VALUE, not {tag!r}")
            out.append((key.strip(), value.strip() if sep else None))
        return out


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    versions: list[VersionRecord]
    unreadable: int


def search_versions(
    artifacts: ArtifactService,
    *,
    account: str | None,
    query: Query,
    model_id: int | None,
    state: State | None,
) -> SearchResult:
    """Versions (of ``model_id``, or of every model) in the state asked whose document matches
    ``query``; documents ``account`` may not read are counted, not searched."""
    ledger = artifacts.backends.ledger
    if model_id is not None:
        ledger.model(model_id)  # RegistryUnknownModel if there is none
        ids = ledger.version_ids_of(model_id)
    else:
        ids = list(range(1, ledger.version_count() + 1))
    tags = query.parsed_tags()
    words = (query.text or "").lower().split()
    names: dict[int, str] = {}
    found: list[VersionRecord] = []
    unreadable = 0
    for version_id in ids:
        version = ledger.version(version_id)
        if state is not None and version.state != state:
            continue
        if not query.reads_documents:
            found.append(version)
            continue
        if version.model_id not in names:
            names[version.model_id] = ledger.model(version.model_id).name
        doc: dict[str, Any] = {}
        if any(version.metadata_digest):
            try:
                doc, _ = version_metadata(artifacts, version, account)
            except (Unauthenticated, Forbidden):
                unreadable += 1
                continue
            except (NotFound, InvalidMetadataDocument):
                doc = {}
        if _matches(doc, names[version.model_id], words, tags):
            found.append(version)
    return SearchResult(versions=found, unreadable=unreadable)


def _matches(
    doc: dict[str, Any], model_name: str, words: list[str], tags: list[tuple[str, str | None]]
) -> bool:
    doc_tags = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
    assert isinstance(doc_tags, dict)
    for key, value in tags:
        if key not in doc_tags or (value is not None and str(doc_tags[key]) != value):
            return False
    if not words:
        return True
    description = doc.get("description") if isinstance(doc.get("description"), str) else ""
    haystack = " ".join(
        [model_name, str(description), *(f"{k}={v}" for k, v in doc_tags.items())]
    ).lower()
    return all(word in haystack for word in words)
