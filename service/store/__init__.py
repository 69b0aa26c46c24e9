"""Content-addressed artifact store: kubo-compatible CIDs, an embedded blockstore, a kubo
adapter and CAR files. See docs/ARCHITECTURE.md, "Content store".

Pure code (no I/O): :mod:`~service.store.cid`, :mod:`~service.store.dagpb`,
:mod:`~service.store.dagcbor`, :mod:`~service.store.unixfs`, :mod:`~service.store.car`,
:mod:`~service.store.chunker`. I/O: :mod:`~service.store.flatfs`,
:mod:`~service.store.embedded`, :mod:`~service.store.kubo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.store.base import ContentStore, PutResult
from service.store.cid import CID, cid_from_digest, parse_cid

if TYPE_CHECKING:
    from service.config import Settings

__all__ = ["CID", "ContentStore", "PutResult", "cid_from_digest", "open_store", "parse_cid"]


def open_store(settings: Settings) -> ContentStore:
    """The kubo adapter when ``ipfs_api_url`` is set, else the embedded store."""
    if settings.ipfs_api_url:
        from service.store.kubo import KuboStore

        return KuboStore(settings.ipfs_api_url, timeout_s=settings.ipfs_timeout_s)
    from service.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.store_dir)
