"""The embedded content store: blocks on local disk under ``settings.store_dir``, no daemon.

On-disk layout (see :mod:`service.store.flatfs` for ``blocks/`` and ``tmp/``)::

    FORMAT          "govledger-embedded-store 1": the layout version
    lock            flock'ed: shared by writers (put, import, pin), exclusive by gc
    blocks/XX/….data  one file per block, named by multihash (kubo flatfs, next-to-last/2)
    pins/<cid>      one empty file per recursively pinned root (base32 CIDv1 name)
    tmp/            files being written and CAR imports being staged; emptied by gc

Guarantees:

- **Atomic blocks.** Each block is written to ``tmp/``, fsynced, then renamed into ``blocks/``:
  a crash never leaves a block file that fails its hash.
- **Root last.** A put writes every other block, fsyncs them and their directories, and only
  then writes the root; a CAR import commits roots after all other blocks. So a root present
  in ``blocks/`` means its whole DAG is there; a crash midway leaves unreferenced blocks that
  the next gc removes.
- **Concurrency.** Puts of the same bytes, from threads or processes, are safe: both write
  identical complete files onto the same names. gc takes the lock exclusively, so it never
  removes blocks of a put or an import still under way.
- **Bounded memory.** Content streams through in 256 KiB chunks; a put holds at most
  ``2 * writers`` chunks in flight, a get one block at a time.
- **A missing store is unavailable, not empty.** If the directory is removed, moved or replaced
  (no ``FORMAT``, ``blocks/`` or ``pins/``), every call raises ``StoreUnavailable`` naming it,
  never ``ContentNotFound``, and nothing recreates it; calls work again once it is back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from service.errors import (
    CarError,
    ContentNotFound,
    IntegrityError,
    StoreError,
    StoreUnavailable,
)
from service.store.base import CarSource, CidLike, ContentStore, PutResult
from service.store.car import CarReader, car_header, section_prefix
from service.store.chunker import ByteSource, as_readable, iter_chunks
from service.store.cid import CID, RAW, parse_cid
from service.store.flatfs import FlatFS, sync_dir
from service.store.unixfs import (
    Block,
    FileDagBuilder,
    LeafRef,
    file_size,
    iter_file_plan,
    node_links,
    walk_dag,
)

FORMAT = "govledger-embedded-store 1\n"


class EmbeddedStore(ContentStore):
    """Content store in a local directory; see the module docstring for layout and guarantees."""

    def __init__(self, root: Path, *, writers: int = 8) -> None:
        self.root = Path(root)
        self._writers = writers
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._check_format()
            self._fs = FlatFS(self.root)
            self._pins_dir = self.root / "pins"
            self._pins_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot open the content store at {self.root}: {exc}; check the path "
                "(GOVLEDGER_DATA_DIR) and its permissions"
            ) from exc
        self._lock_path = self.root / "lock"

    def _check_format(self) -> None:
        marker = self.root / "FORMAT"
        if not marker.exists():
            tmp = FlatFS.write_temp(FORMAT.encode(), self.root)
            os.replace(tmp, marker)
            sync_dir(self.root)
        found = marker.read_text()
        if found != FORMAT:
            raise StoreError(
                f"{self.root} holds a store of format {found.strip()!r}, this code reads "
                f"{FORMAT.strip()!r}; point GOVLEDGER_DATA_DIR at another directory"
            )

    def _broken(self) -> StoreUnavailable | None:
        """The error to raise if the store's directory is gone or broken, else None."""
        try:
            intact = (
                (self.root / "FORMAT").is_file()
                and self._fs.blocks_dir.is_dir()
                and self._pins_dir.is_dir()
            )
        except OSError:
            intact = False
        if intact:
            return None
        return StoreUnavailable(
            f"the content store at {self.root} is missing or broken (its FORMAT marker, blocks/ "
            "or pins/ is gone): restore the directory (or point GOVLEDGER_DATA_DIR at it) and "
            "retry; nothing recreates it, since an empty store would silently lose content"
        )

    def _check_present(self) -> None:
        broken = self._broken()
        if broken is not None:
            raise broken

    @contextlib.contextmanager
    def _available(self) -> Iterator[None]:
        """Report a missing or broken store as StoreUnavailable, whatever the call saw of it
        (a missing block, a missing directory, a file in a directory's place)."""
        try:
            yield
        except ContentNotFound as exc:
            broken = self._broken()
            if broken is not None:
                raise broken from exc
            raise
        except StoreUnavailable:
            self._check_present()
            raise
        except StoreError:
            raise
        except OSError as exc:
            self._check_present()
            raise StoreUnavailable(f"the content store at {self.root} failed: {exc}") from exc

    @contextlib.contextmanager
    def _lock(self, *, exclusive: bool) -> Iterator[None]:
        self._check_present()
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            self._check_present()
            raise StoreUnavailable(f"cannot lock the content store at {self.root}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ put / get

    def put(self, data: ByteSource, *, pin: bool = True) -> PutResult:
        with (
            self._available(),
            self._lock(exclusive=False),
            _BlockWriter(self._fs, self._writers) as writer,
        ):
            builder = FileDagBuilder()
            last: Block | None = None  # the root is always the last block built: hold it back
            for chunk in iter_chunks(data):
                for block in builder.add_chunk(chunk):
                    if last is not None:
                        writer.submit(last)
                    last = block
            root, rest = builder.finish()
            for block in rest:
                if last is not None:
                    writer.submit(last)
                last = block
            assert last is not None and last.cid == root
            writer.drain()
            writer.write_now(last)
            if pin:
                self._add_pin(root)
        return PutResult(root, builder.size)

    def get(self, cid: CidLike) -> Iterator[bytes]:
        root = parse_cid(cid)
        with self._available():
            root_block = self._fs.read(root)
        return self._stream(root, root_block)

    def _stream(self, root: CID, root_block: bytes) -> Iterator[bytes]:
        with self._available():
            yield from self._pieces(root, root_block)

    def _pieces(self, root: CID, root_block: bytes) -> Iterator[bytes]:
        if root.codec == RAW:
            if root_block:
                yield root_block
            return

        def load(cid: CID) -> bytes:
            return root_block if cid == root else self._fs.read(cid)

        for piece in iter_file_plan(root, load):
            if isinstance(piece, LeafRef):
                data = self._fs.read(piece.cid)
                _check_leaf_size(piece, len(data))
                if data:
                    yield data
            elif piece:
                yield piece

    def file_size(self, cid: CidLike) -> int:
        root = parse_cid(cid)
        with self._available():
            return file_size(root, self._fs.read(root))

    def has(self, cid: CidLike) -> bool:
        found = self._fs.has(parse_cid(cid))
        if not found:
            self._check_present()
        return found

    # ------------------------------------------------------------------ pins and gc

    def pin(self, cid: CidLike) -> None:
        root = parse_cid(cid)
        with self._available(), self._lock(exclusive=False):
            self._check_complete(root)
            self._add_pin(root)

    def _check_complete(self, root: CID) -> None:
        for block_cid, _ in walk_dag(root, self._fs.read):
            if block_cid.codec == RAW and not self._fs.has(block_cid):
                raise ContentNotFound(
                    f"block {block_cid} of {root} is missing; the DAG is incomplete. Import "
                    "the content again (put the bytes or import a CAR), then pin.",
                    cid=str(block_cid),
                )

    def _add_pin(self, root: CID) -> None:
        path = self._pins_dir / str(root)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
            sync_dir(self._pins_dir)

    def unpin(self, cid: CidLike) -> None:
        root = parse_cid(cid)
        with (
            self._available(),
            self._lock(exclusive=False),
            contextlib.suppress(FileNotFoundError),
        ):
            (self._pins_dir / str(root)).unlink()
            sync_dir(self._pins_dir)

    def pins(self) -> list[CID]:
        found = []
        with self._available():
            entries = sorted(os.listdir(self._pins_dir))
        for entry in entries:
            with contextlib.suppress(StoreError):
                found.append(parse_cid(entry))
        return found

    def gc(self, *, keep: Callable[[], Iterable[CidLike]] | None = None) -> int:
        with self._available(), self._lock(exclusive=True):
            live: set[bytes] = set()
            for root in self.pins():
                try:
                    for block_cid, _ in walk_dag(root, self._fs.read):
                        live.add(block_cid.digest)
                except (ContentNotFound, IntegrityError) as exc:
                    raise type(exc)(
                        f"gc stopped, nothing removed: pinned {root} cannot be walked ({exc})",
                        cid=exc.cid,
                    ) from exc
            if keep is not None:
                self._mark_present(keep(), live)
            removed = 0
            for digest in list(self._fs.digests()):
                if digest not in live:
                    self._fs.remove(digest)
                    removed += 1
            for entry in self._fs.tmp_dir.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            return removed

    def _mark_present(self, roots: Iterable[CidLike], live: set[bytes]) -> None:
        """Add to ``live`` every block present of the DAGs under ``roots``; a missing block, or
        one that is not dag-pb, ends the walk there (what is present is kept)."""
        seen: set[CID] = set()
        stack = [parse_cid(root) for root in roots]
        while stack:
            cid = stack.pop()
            if cid in seen or not self._fs.has(cid):
                continue
            seen.add(cid)
            live.add(cid.digest)
            if cid.codec == RAW:
                continue
            try:
                stack.extend(node_links(cid, self._fs.read(cid)))
            except StoreError:
                continue

    # ------------------------------------------------------------------ CAR

    def export_car(self, cid: CidLike) -> Iterator[bytes]:
        root = parse_cid(cid)
        with self._available():
            self._fs.read(root)  # fail now, not mid-stream, if the root is missing or corrupted
        return self._car_stream(root)

    def _car_stream(self, root: CID) -> Iterator[bytes]:
        with self._available():
            yield from self._car_sections(root)

    def _car_sections(self, root: CID) -> Iterator[bytes]:
        yield car_header([root])
        for block_cid, block in walk_dag(root, self._fs.read):
            data = block if block is not None else self._fs.read(block_cid)
            yield section_prefix(block_cid, len(data))
            yield data

    def import_car(self, car: CarSource, *, pin_roots: bool = True) -> list[CID]:
        reader = CarReader(as_readable(car))
        roots = list(reader.roots)
        with self._available(), self._lock(exclusive=False):
            staging = Path(tempfile.mkdtemp(prefix="import-", dir=self._fs.tmp_dir))
            try:
                staged = self._stage(reader, staging)
                for root in roots:
                    self._check_staged_dag(root, staged)
                self._commit(staged, roots)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if pin_roots:
                for root in roots:
                    self._add_pin(root)
        return roots

    def _stage(self, reader: CarReader, staging: Path) -> dict[bytes, Path]:
        staged: dict[bytes, Path] = {}
        for block_cid, block in reader.blocks():
            if block_cid.digest in staged or self._fs.has(block_cid):
                continue
            staged[block_cid.digest] = FlatFS.write_temp(block, staging)
        return staged

    def _check_staged_dag(self, root: CID, staged: dict[bytes, Path]) -> None:
        def load(cid: CID) -> bytes:
            path = staged.get(cid.digest)
            return path.read_bytes() if path is not None else self._fs.read(cid)

        try:
            for block_cid, _ in walk_dag(root, load):
                missing = block_cid.digest not in staged and not self._fs.has(block_cid)
                if block_cid.codec == RAW and missing:
                    raise ContentNotFound(f"block {block_cid} is missing", cid=str(block_cid))
        except StoreError as exc:
            raise CarError(
                f"CAR root {root} cannot be imported, nothing was: {exc}. Export the CAR with "
                "the whole DAG (ipfs dag export) and import it again.",
                cid=str(root),
            ) from exc

    def _commit(self, staged: dict[bytes, Path], roots: list[CID]) -> None:
        root_digests = {root.digest for root in roots}
        dirs: set[Path] = set()
        for digest, path in staged.items():
            if digest not in root_digests:
                shard = self._fs.adopt(digest, path)
                if shard is not None:
                    dirs.add(shard)
        FlatFS.sync_dirs(dirs)
        dirs.clear()
        for digest in root_digests & staged.keys():
            shard = self._fs.adopt(digest, staged[digest])
            if shard is not None:
                dirs.add(shard)
        FlatFS.sync_dirs(dirs)


def _check_leaf_size(leaf: LeafRef, size: int) -> None:
    if leaf.size is not None and leaf.size != size:
        raise IntegrityError(
            f"leaf {leaf.cid} holds {size} bytes but its parent declares {leaf.size}; the DAG "
            "is inconsistent and cannot be read as a file",
            cid=str(leaf.cid),
        )


class _BlockWriter:
    """Writes blocks on a few threads (fsync dominates), with a bounded number in flight."""

    def __init__(self, fs: FlatFS, workers: int) -> None:
        self._fs = fs
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store-write")
        self._slots = threading.BoundedSemaphore(2 * workers)
        self._pending: deque[Future[Path | None]] = deque()
        self._dirs: set[Path] = set()

    def __enter__(self) -> _BlockWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, block: Block) -> None:
        self._slots.acquire()
        try:
            self._pending.append(self._pool.submit(self._write, block))
        except BaseException:
            self._slots.release()
            raise
        self._reap(wait=False)

    def _write(self, block: Block) -> Path | None:
        try:
            return self._fs.write(block.cid, block.data)
        finally:
            self._slots.release()

    def _reap(self, *, wait: bool) -> None:
        while self._pending and (wait or self._pending[0].done()):
            shard = self._pending.popleft().result()
            if shard is not None:
                self._dirs.add(shard)

    def drain(self) -> None:
        """Wait for every submitted block, then make their directory entries durable."""
        self._reap(wait=True)
        FlatFS.sync_dirs(self._dirs)
        self._dirs.clear()

    def write_now(self, block: Block) -> None:
        """Write one block synchronously and make it durable (the root, after the rest)."""
        shard = self._fs.write(block.cid, block.data)
        if shard is not None:
            sync_dir(shard)
