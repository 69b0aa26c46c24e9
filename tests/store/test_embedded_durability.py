"""The embedded store on disk: crashes, concurrent processes, corruption, bounded memory."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store.chunker import iter_chunks
from service.store.cid import CHUNK_SIZE, CID, RAW
from service.store.embedded import EmbeddedStore
from service.store.flatfs import digest_of_key
from service.store.unixfs import compute_cid

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import random, sys, time
    from pathlib import Path
    from service.store.embedded import EmbeddedStore

    root, chunks, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

    def source():
        rng = random.Random(42)
        for _ in range(chunks):
            yield rng.randbytes(262144)
            time.sleep(pause)

    result = EmbeddedStore(root).put(source())
    print(result.cid, result.size, flush=True)
    """
)


def worker_data(chunks: int) -> Iterator[bytes]:
    rng = random.Random(42)
    for _ in range(chunks):
        yield rng.randbytes(CHUNK_SIZE)


def start_worker(root: Path, chunks: int, pause: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(root), str(chunks), str(pause)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def block_files(root: Path) -> list[Path]:
    return sorted((root / "blocks").glob("*/*.data"))


def assert_every_block_file_matches_its_name(root: Path) -> None:
    for path in block_files(root):
        digest = digest_of_key(path.name.removesuffix(".data"))
        assert digest is not None, path
        assert hashlib.sha256(path.read_bytes()).digest() == digest, f"{path} fails its hash"


def test_a_put_killed_midway_leaves_the_store_consistent(tmp_path: Path) -> None:
    root = tmp_path / "store"
    chunks = 400
    expected, size = compute_cid(worker_data(chunks))
    process = start_worker(root, chunks, pause=0.002)
    deadline = time.monotonic() + 60
    while len(block_files(root)) < 20:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the worker wrote no blocks in 60 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    assert 20 <= len(block_files(root)) < chunks
    assert_every_block_file_matches_its_name(root)
    store = EmbeddedStore(root)
    assert not store.has(expected)
    assert store.pins() == []

    assert store.gc() >= 20  # the orphaned blocks and stray temp files go
    assert block_files(root) == []
    assert list((root / "tmp").iterdir()) == []
    result = store.put(worker_data(chunks))
    assert (result.cid, result.size) == (expected, size)
    digest = hashlib.sha256()
    for piece in store.get(expected):
        digest.update(piece)
    assert digest.digest() == hashlib.sha256(b"".join(worker_data(chunks))).digest()


def test_puts_of_the_same_bytes_from_two_processes_both_succeed(tmp_path: Path) -> None:
    root = tmp_path / "store"
    chunks = 60
    expected, size = compute_cid(worker_data(chunks))
    workers = [start_worker(root, chunks, pause=0.0) for _ in range(2)]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        assert out.split() == [str(expected), str(size)]
    assert_every_block_file_matches_its_name(root)
    store = EmbeddedStore(root)
    assert store.pins() == [expected]
    assert store.get_bytes(expected) == b"".join(worker_data(chunks))


def test_a_stray_temp_file_is_ignored_and_removed_by_gc(embedded: EmbeddedStore) -> None:
    torn = embedded._fs.tmp_dir / "deadbeef.tmp"
    torn.write_bytes(b"half a blo")
    cid = embedded.put(b"kept").cid
    assert embedded.get_bytes(cid) == b"kept"
    assert embedded.gc() == 0
    assert not torn.exists()


def test_a_truncated_block_file_is_reported_as_corrupted(embedded: EmbeddedStore) -> None:
    data = random.Random(7).randbytes(3 * CHUNK_SIZE)
    root = embedded.put(data).cid
    leaf = CID.of_block(RAW, data[CHUNK_SIZE : 2 * CHUNK_SIZE])
    path = embedded._fs.path(leaf.digest)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(Exception, match=str(leaf)) as caught:
        embedded.get_bytes(root)
    assert type(caught.value).__name__ == "IntegrityError"


def test_gc_refuses_to_run_when_a_pinned_dag_is_damaged(embedded: EmbeddedStore) -> None:
    data = random.Random(8).randbytes(2 * CHUNK_SIZE + 1)
    root = embedded.put(data).cid
    garbage = embedded.put(b"unpinned", pin=False).cid
    path = embedded._fs.path(root.digest)
    path.chmod(0o644)
    path.write_bytes(b"\x00" + path.read_bytes()[1:])
    with pytest.raises(Exception, match="gc stopped, nothing removed"):
        embedded.gc()
    assert embedded.has(garbage)


def _peak_during(action: object) -> int:
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_bounded_whatever_the_size(tmp_path: Path) -> None:
    """Peak traced memory of put and get does not grow with the content (streaming)."""
    store = EmbeddedStore(tmp_path / "store", writers=2)
    peaks = {}
    for chunks in (8, 128):  # 2 MiB and 32 MiB
        roots: list[CID] = []

        def put(chunks: int = chunks, roots: list[CID] = roots) -> None:
            roots.append(store.put(worker_data(chunks)).cid)

        def get(roots: list[CID] = roots) -> None:
            for _ in store.get(roots[0]):
                pass

        peaks[chunks] = (_peak_during(put), _peak_during(get))
    small, large = peaks[8], peaks[128]
    mib = 1 << 20
    assert large[0] < 6 * mib, f"put of 32 MiB peaked at {large[0] / mib:.1f} MiB"
    assert large[1] < 2 * mib, f"get of 32 MiB peaked at {large[1] / mib:.1f} MiB"
    assert large[0] < small[0] + mib
    assert large[1] < small[1] + mib


def test_chunking_is_exact_whatever_the_read_sizes() -> None:
    """A stream that returns short reads (a pipe, a socket) still gives 256 KiB chunks."""

    class Trickle:
        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def read(self, n: int = -1) -> bytes:
            step = min(n, 1000) if n >= 0 else len(self.data)
            out = self.data[self.pos : self.pos + step]
            self.pos += len(out)
            return out

    data = os.urandom(2 * CHUNK_SIZE + 5)
    sizes = [len(chunk) for chunk in iter_chunks(Trickle(data))]
    assert sizes == [CHUNK_SIZE, CHUNK_SIZE, 5]
    assert [len(c) for c in iter_chunks(Trickle(b""))] == [0]


@pytest.mark.parametrize("breakage", ["moved away", "replaced by a file", "emptied"])
def test_a_missing_store_is_unavailable_not_empty(tmp_path: Path, breakage: str) -> None:
    """Every call on a store whose directory is gone raises StoreUnavailable naming it (never
    ContentNotFound, never a bare OSError); nothing recreates it; it works again once back."""
    from service.errors import StoreUnavailable

    root = tmp_path / "store"
    store = EmbeddedStore(root)
    big = random.Random(7).randbytes(CHUNK_SIZE + 1)
    kept = store.put(big).cid
    car = b"".join(store.export_car(kept))
    away = tmp_path / "away"
    root.rename(away)
    if breakage == "replaced by a file":
        root.write_bytes(b"x")
    elif breakage == "emptied":
        root.mkdir()

    calls = {
        "put": lambda: store.put(b"new"),
        "get": lambda: b"".join(store.get(kept)),
        "file_size": lambda: store.file_size(kept),
        "has": lambda: store.has(kept),
        "pin": lambda: store.pin(kept),
        "unpin": lambda: store.unpin(kept),
        "pins": store.pins,
        "gc": store.gc,
        "export_car": lambda: b"".join(store.export_car(kept)),
        "import_car": lambda: store.import_car(car),
    }
    for name, call in calls.items():
        with pytest.raises(StoreUnavailable, match=str(root)) as info:
            call()
        assert "missing or broken" in str(info.value), name
    assert {
        "moved away": not root.exists(),
        "replaced by a file": root.is_file(),
        "emptied": root.is_dir() and not any(root.iterdir()),
    }[breakage]

    if root.is_dir():
        root.rmdir()
    else:
        root.unlink(missing_ok=True)
    away.rename(root)
    assert b"".join(store.get(kept)) == big
    assert store.pins() == [kept]
    assert store.put(b"new").size == 3
