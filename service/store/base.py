"""The content store interface the service uses, whichever backend holds the bytes.

Two backends implement it: :class:`~service.store.embedded.EmbeddedStore` (blocks on local
disk, no daemon) and :class:`~service.store.kubo.KuboStore` (a kubo node over its RPC API).
Both compute the same CIDs (kubo's ``ipfs add --cid-version=1``) and verify every byte they
hand out against its CID. Errors are the store classes of :mod:`service.errors`.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from service.errors import StoreUnavailable
from service.store.chunker import ByteSource, Readable
from service.store.cid import CID

CidLike = CID | str | bytes
"""A CID object, its text form (any multibase, or CIDv0) or its binary form."""

CarSource = bytes | Readable | Iterable[bytes]
"""A CAR file as bytes, a binary stream or an iterable of byte strings."""


class PutResult(NamedTuple):
    """What ``put`` stored: the root CID and the number of content bytes."""

    cid: CID
    size: int


class ContentStore(ABC):
    """Content-addressed storage of files (UnixFS, CIDv1, raw leaves, sha2-256)."""

    @abstractmethod
    def put(self, data: ByteSource, *, pin: bool = True) -> PutResult:
        """Store ``data`` (bytes, a binary stream or an iterable of bytes), streaming.

        Returns once every block is durable. Pinned by default, like ``ipfs add``: an unpinned
        put is removed by the next :meth:`gc`.
        """

    @abstractmethod
    def get(self, cid: CidLike) -> Iterator[bytes]:
        """Stream the file named by ``cid``.

        Raises :class:`~service.errors.ContentNotFound` at once if the root is missing. Each
        block is checked against its CID before any of its bytes are yielded; a mismatch raises
        :class:`~service.errors.IntegrityError` naming the block.
        """

    @abstractmethod
    def file_size(self, cid: CidLike) -> int:
        """The size in bytes of the file ``cid`` names, read from its (verified) root block.

        Raises :class:`~service.errors.ContentNotFound` if the root is missing.
        """

    @abstractmethod
    def has(self, cid: CidLike) -> bool:
        """Whether the root block of ``cid`` is held locally."""

    @abstractmethod
    def pin(self, cid: CidLike) -> None:
        """Protect the whole DAG under ``cid`` from :meth:`gc` (recursive pin).

        Raises :class:`~service.errors.ContentNotFound` if any block of it is missing.
        """

    @abstractmethod
    def unpin(self, cid: CidLike) -> None:
        """Drop the pin on ``cid``; a no-op if it is not pinned."""

    @abstractmethod
    def pins(self) -> list[CID]:
        """Every recursively pinned root, sorted by CID text."""

    @abstractmethod
    def export_car(self, cid: CidLike) -> Iterator[bytes]:
        """Stream a CARv1 of the DAG under ``cid`` (root first, each block once), verified."""

    @abstractmethod
    def import_car(self, car: CarSource, *, pin_roots: bool = True) -> list[CID]:
        """Import a CAR (v1 or v2), verifying every block; returns its roots.

        All or nothing: a malformed CAR, a block that does not match its CID or a root whose
        DAG is incomplete raises :class:`~service.errors.CarError` and leaves the store as it
        was.
        """

    @abstractmethod
    def gc(self, *, keep: Callable[[], Iterable[CidLike]] | None = None) -> int:
        """Remove every block that no pin reaches and no root named by ``keep()`` reaches (as
        far as its blocks are present); returns how many blocks were removed.

        ``keep`` is called once writers are held off (the embedded store calls it under its
        exclusive lock), so a root that a caller registers before its put begins is never
        swept between the put and its pin. A backend that can spare only pinned content (kubo)
        removes nothing while a root named by ``keep()`` is held unpinned, and returns 0.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections or handles held by the backend."""

    def get_bytes(self, cid: CidLike) -> bytes:
        """The whole file in memory; for small content only (use :meth:`get` otherwise)."""
        return b"".join(self.get(cid))

    def save_car(self, cid: CidLike, path: Path) -> None:
        """Write the CAR of ``cid`` to ``path`` atomically (temp file, fsync, rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in self.export_car(cid):
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreUnavailable(f"could not write the CAR to {path}: {exc}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def __enter__(self) -> ContentStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
