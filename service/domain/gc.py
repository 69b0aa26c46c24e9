"""Garbage collection of the content store: unpin what nothing references, then sweep.

Metadata documents are pinned when stored, uploads when proposed; a document nobody ever
references on chain (or an upload whose proposal never landed) would stay forever. A collection:

1. reads every digest the chain references, in any role, now or in the past (a version's
   artifact or metadata, a model's metadata: ``ArtifactIndex.referenced_digests``, which
   checks first that the chain still holds the block it read up to, and reads every reference
   again after a rollback), and the extra roots to keep from ``keep()`` (the caller's: uploads
   in flight, pending actions);
2. unpins every pinned root that is neither, once its grace period has passed since it was
   pinned (times kept in the bookkeeping database, so both store backends work alike; a pin
   nobody recorded counts from when a collection first sees it). Each unpin is one bookkeeping
   transaction that re-checks the time, so a document stored again meanwhile stays;
3. pins again anything the chain references that the store holds unpinned (a crash between a
   proposal and its pin, a document referenced after it was unpinned);
4. runs the store's own ``gc()``, which removes unpinned blocks and temp files, sparing whatever
   the chain references and ``keep()`` names (asked again while writers are held off).

Nothing the chain references is ever unpinned or removed. A dry run lists what step 2 would
unpin and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from service.bookkeeping import Bookkeeping
from service.domain.artifacts import resolve_cid
from service.domain.context import Backends
from service.errors import StoreError
from service.store.base import CidLike
from service.store.cid import CHUNK_SIZE, CID, cid_from_digest, parse_cid

log = logging.getLogger("govledger.gc")

KeepSource = Callable[[], Iterable[CidLike]]
"""Extra roots a collection must keep (unpinned or not): called at each collection, and again
while the store holds writers off. Must name a root from before its put begins until the chain
references it or it is given up."""


@dataclass(frozen=True, kw_only=True)
class PinnedRoot:
    cid: CID
    pinned_at: float


@dataclass(frozen=True, kw_only=True)
class Collection:
    """What a collection did (or, dry, would do)."""

    dry_run: bool
    grace_s: float
    unpinned: tuple[PinnedRoot, ...]  # unreferenced and older than the grace period
    young: tuple[PinnedRoot, ...] = ()  # unreferenced, still within the grace period
    referenced: int = 0  # pinned roots the chain references: kept
    kept: int = 0  # pinned roots keep() names: kept
    repinned: tuple[CID, ...] = field(default=())  # referenced content found unpinned
    blocks_removed: int = 0


class StoreCollector:
    """The garbage collection use case; see the module docstring."""

    def __init__(
        self,
        backends: Backends,
        book: Bookkeeping,
        *,
        referenced: Callable[[], set[bytes]],
        keep: KeepSource | None = None,
    ) -> None:
        self.backends = backends
        self.book = book
        self._referenced = referenced
        self._keep = keep or (lambda: ())

    def collect(self, *, grace_s: float, dry_run: bool = False) -> Collection:
        now = time.time()
        store = self.backends.store
        referenced = self._referenced()  # the chain first: no answer, no collection
        keep = {parse_cid(c).digest for c in self._keep()}
        pins = store.pins()
        since = self.book.pinned_since([str(c) for c in pins], now, record=not dry_run)
        old: list[PinnedRoot] = []
        young: list[PinnedRoot] = []
        n_referenced = n_kept = 0
        for cid in pins:
            if cid.digest in referenced:
                n_referenced += 1
            elif cid.digest in keep:
                n_kept += 1
            else:
                root = PinnedRoot(cid=cid, pinned_at=since[str(cid)])
                (old if root.pinned_at < now - grace_s else young).append(root)
        if dry_run:
            return Collection(
                dry_run=True,
                grace_s=grace_s,
                unpinned=tuple(old),
                young=tuple(young),
                referenced=n_referenced,
                kept=n_kept,
            )
        unpinned = [root for root in old if self._unpin(root.cid, before=now - grace_s)]
        referenced = self._referenced()  # references made while this ran count too
        repinned = self._repin(referenced)
        removed = store.gc(keep=lambda: self._sweep_keep(referenced))
        result = Collection(
            dry_run=False,
            grace_s=grace_s,
            unpinned=tuple(unpinned),
            young=tuple(young),
            repinned=tuple(repinned),
            blocks_removed=removed,
            referenced=n_referenced,
            kept=n_kept,
        )
        if unpinned or repinned or removed:
            log.warning(
                "gc: unpinned %d unreferenced roots older than %g s, pinned %d referenced ones "
                "again, removed %d blocks",
                len(unpinned), grace_s, len(repinned), removed,
            )  # fmt: skip
        return result

    def _unpin(self, cid: CID, *, before: float) -> bool:
        store = self.backends.store
        return self.book.unpin_if_pinned_before(str(cid), before, lambda: store.unpin(cid))

    def _repin(self, referenced: set[bytes]) -> list[CID]:
        """Pin what the chain references that the store holds unpinned."""
        store = self.backends.store
        pinned = {c.digest for c in store.pins()}
        repinned = []
        for digest in referenced - pinned:
            cid = resolve_cid(store, digest)
            if cid is None:
                continue
            try:
                store.pin(cid)
            except StoreError as exc:  # an incomplete DAG: the sweep spares what is there
                log.warning("gc: cannot pin referenced %s: %s", cid, exc)
                continue
            repinned.append(cid)
        return repinned

    def _sweep_keep(self, referenced: set[bytes]) -> list[CidLike]:
        """What the store's sweep must spare beyond its pins: every referenced digest (as both
        CIDs it may stand for) and the caller's roots."""
        roots: list[CidLike] = []
        for digest in referenced:
            roots.append(cid_from_digest(digest, file_size=0))
            roots.append(cid_from_digest(digest, file_size=CHUNK_SIZE + 1))
        roots.extend(self._keep())
        return roots
