"""Blocks as files on local disk, one file per block, laid out like kubo's flatfs datastore.

Layout under the store directory::

    blocks/<SHARD>/<KEY>.data   one block; KEY is the base32 (RFC 4648, upper case, no padding)
                                of the block's sha2-256 multihash, e.g. CIQ…; SHARD is the two
                                characters before KEY's last one (kubo's "next-to-last/2")
    tmp/                        files being written, and CAR imports being staged

Blocks are keyed by multihash, not by CID, as in kubo: a raw and a dag-pb CID with the same
digest name the same bytes.

Every write goes to ``tmp/`` first, is fsynced, then renamed into place, so a block file either
holds exactly the bytes that hash to its name or does not exist: a crash can leave only stray
files in ``tmp/`` (removed by gc). Two writers of the same block both rename a complete file
onto the same name, which is harmless.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from service.errors import ContentNotFound, IntegrityError, StoreUnavailable
from service.store.cid import CID, DIGEST_SIZE, MAX_BLOCK_SIZE, SHA2_256

_SUFFIX = ".data"
_MULTIHASH_PREFIX = bytes([SHA2_256, DIGEST_SIZE])


def block_key(digest: bytes) -> str:
    """File name stem of the block whose sha2-256 digest is ``digest``."""
    return base64.b32encode(_MULTIHASH_PREFIX + digest).decode("ascii").rstrip("=")


def digest_of_key(key: str) -> bytes | None:
    """Inverse of :func:`block_key`; None for a name that is not a block key."""
    try:
        raw = base64.b32decode(key + "=" * (-len(key) % 8))
    except ValueError:
        return None
    if len(raw) != DIGEST_SIZE + 2 or not raw.startswith(_MULTIHASH_PREFIX):
        return None
    return raw[2:]


class FlatFS:
    """The block files of one store directory."""

    def __init__(self, root: Path) -> None:
        self.blocks_dir = root / "blocks"
        self.tmp_dir = root / "tmp"
        for directory in (self.blocks_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def path(self, digest: bytes) -> Path:
        key = block_key(digest)
        return self.blocks_dir / key[-3:-1] / (key + _SUFFIX)

    def has(self, cid: CID) -> bool:
        return self.path(cid.digest).is_file()

    def read(self, cid: CID) -> bytes:
        """The verified bytes of block ``cid``.

        Raises :class:`ContentNotFound` if absent, :class:`IntegrityError` if its bytes do not
        hash to ``cid`` (a flipped bit on disk, a truncated or edited file).
        """
        path = self.path(cid.digest)
        try:
            data = _read_bounded(path, MAX_BLOCK_SIZE + 1)
        except FileNotFoundError:
            raise ContentNotFound(
                f"block {cid} is not in the store; put or import the content first",
                cid=str(cid),
            ) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read block {cid} at {path}: {exc}") from exc
        if len(data) > MAX_BLOCK_SIZE or not cid.matches(data):
            raise IntegrityError(
                f"block {cid} is corrupted on disk ({path}): its bytes do not match its CID. "
                "Restore it by importing the content again (put the original bytes or import a "
                "CAR), then read again.",
                cid=str(cid),
            )
        return data

    def write(self, cid: CID, data: bytes | memoryview) -> Path | None:
        """Store block ``cid`` durably unless already present.

        Returns the shard directory it was renamed into (to fsync later, see :meth:`sync_dirs`)
        or None if the block was already there.
        """
        final = self.path(cid.digest)
        if final.exists():
            return None
        tmp = self.write_temp(data, self.tmp_dir)
        try:
            self._ensure_shard(final.parent)
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreUnavailable(f"cannot store block {cid} at {final}: {exc}") from exc
        return final.parent

    @staticmethod
    def write_temp(data: bytes | memoryview, directory: Path) -> Path:
        """Write ``data`` to a new file in ``directory`` and fsync it; returns its path."""
        tmp = directory / f"{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreUnavailable(
                f"cannot write to {directory}: {exc}; check free space and permissions"
            ) from exc
        return tmp

    def adopt(self, digest: bytes, staged: Path) -> Path | None:
        """Move an already fsynced, verified file into place (used by CAR import)."""
        final = self.path(digest)
        if final.exists():
            staged.unlink()
            return None
        self._ensure_shard(final.parent)
        os.replace(staged, final)
        return final.parent

    def _ensure_shard(self, shard: Path) -> None:
        if not shard.is_dir():
            shard.mkdir(exist_ok=True)
            sync_dir(self.blocks_dir)

    def remove(self, digest: bytes) -> int:
        """Delete a block file; returns the bytes freed (0 if it was already gone)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def digests(self) -> Iterator[bytes]:
        """The digest of every block file present."""
        for shard in self.blocks_dir.iterdir():
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                if entry.name.endswith(_SUFFIX):
                    digest = digest_of_key(entry.name[: -len(_SUFFIX)])
                    if digest is not None:
                        yield digest

    @staticmethod
    def sync_dirs(directories: set[Path]) -> None:
        """fsync directories so the renames into them survive a power cut."""
        for directory in directories:
            sync_dir(directory)


def sync_dir(directory: Path) -> None:
    """fsync one directory (makes the entries created or removed in it durable)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_bounded(path: Path, limit: int) -> bytes:
    """Read a whole file of at most ``limit`` bytes (more is cut at ``limit``), in one read."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = min(os.fstat(fd).st_size, limit)
        data = os.read(fd, size)
        while len(data) < size:  # a file read while being replaced, or a short read
            more = os.read(fd, size - len(data))
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)
