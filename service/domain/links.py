"""Content that referenced metadata documents link to, kept by garbage collection.

The chain records a document's digest, not what the document names. A build version's metadata
document names its recipe and the run's report by CID; a model's metadata document names its
evaluation set. Those would be collected once their grace period passed, although the chain
commits to them (through the digest of the document that names them). So every *referenced*
block that is a JSON object (one raw block, at most ``MAX_DOCUMENT_BYTES``) is read, and every
string under a ``"cid"`` key in it, at any depth, is a link the collector keeps.

Documents never change (they are named by digest), so each one's links are read once and
cached. Anyone who may reference a digest on chain could name the same content directly, so
following links grants nobody more than they had.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from service.errors import LedgerError
from service.store.base import ContentStore
from service.store.cid import CID, cid_from_digest, parse_cid

MAX_DOCUMENT_BYTES: Final = 256 * 1024
_MAX_DEPTH: Final = 8


class LinkedContent:
    def __init__(self, store: Callable[[], ContentStore], referenced: Callable[[], set[bytes]]):
        self._store = store
        self._referenced = referenced
        self._links: dict[bytes, tuple[CID, ...]] = {}
        self._lock = threading.Lock()

    def __call__(self) -> list[CID]:
        """Every CID a referenced metadata document links to."""
        store = self._store()
        found: list[CID] = []
        for digest in self._referenced():
            with self._lock:
                cached = self._links.get(digest)
            if cached is None:
                cached = _links_of(store, digest)
                if cached is not None:
                    with self._lock:
                        self._links[digest] = cached
            found.extend(cached or ())
        return found


def _links_of(store: ContentStore, digest: bytes) -> tuple[CID, ...] | None:
    """The links of the document with ``digest``; () if it is not a JSON object; None if the
    store does not hold it (asked again next time)."""
    raw = cid_from_digest(digest, file_size=0)
    try:
        if not store.has(raw):
            return None
        if store.file_size(raw) > MAX_DOCUMENT_BYTES:
            return ()
        doc = json.loads(store.get_bytes(raw))
    except (ValueError, RecursionError, LedgerError):
        return ()
    if not isinstance(doc, dict):
        return ()
    links = []
    for text in _cid_strings(doc, 0):
        try:
            links.append(parse_cid(text))
        except LedgerError:
            continue
    return tuple(links)


def _cid_strings(value: Any, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "cid" and isinstance(item, str):
                yield item
            else:
                yield from _cid_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _cid_strings(item, depth + 1)
