"""Benchmark the embedded content store against plain sha256 of the same bytes.

Usage: .venv/bin/python scripts/bench_store.py [--sizes 1,64,512] [--dir /tmp]

For each size (MiB) a fresh child process writes a random file into a temporary directory, then
measures, on that same file: sha256 streamed through hashlib (the ceiling for put and get, which
must hash every byte), the CID alone (chunking, hashing and DAG building, nothing written: put
without the disk), a plain write + fsync of the same bytes (the disk's durable-write ceiling,
which bounds put), ``put`` from the open file, and ``get`` streamed to nowhere. Peak memory is
the growth of the child's max RSS across put and get. Everything is removed after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.store.chunker import iter_chunks
from service.store.embedded import EmbeddedStore
from service.store.unixfs import compute_cid

MIB = 1 << 20
READ = 256 * 1024


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def measure(size_mib: int, workdir: Path) -> dict[str, float]:
    """Run in the child: every figure for one size."""
    data_path = workdir / "data.bin"
    with data_path.open("wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(MIB))
    os.sync()  # no background writeback competing with the timed runs

    def sha256() -> None:
        digest = hashlib.sha256()
        with data_path.open("rb") as stream:
            while piece := stream.read(READ):
                digest.update(piece)

    def disk() -> None:
        with data_path.open("rb") as stream, (workdir / "copy.bin").open("wb") as out:
            while piece := stream.read(READ):
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        (workdir / "copy.bin").unlink()

    def cid_only() -> None:
        with data_path.open("rb") as stream:
            compute_cid(iter_chunks(stream))

    store = EmbeddedStore(workdir / "store")
    roots = []

    def put() -> None:
        with data_path.open("rb") as stream:
            roots.append(store.put(stream).cid)

    def get() -> None:
        for _ in store.get(roots[0]):
            pass

    sha256()  # warm the page cache so every run reads the same cached file
    t_sha = min(_timed(sha256) for _ in range(2))
    t_cid = min(_timed(cid_only) for _ in range(2))
    rss_before = _rss_mib()
    t_put = _timed(put)
    os.sync()
    t_get = min(_timed(get) for _ in range(2))
    rss_after = _rss_mib()
    t_disk = _timed(disk)
    return {
        "size": size_mib,
        "sha256": size_mib / t_sha,
        "disk": size_mib / t_disk,
        "cid": size_mib / t_cid,
        "put": size_mib / t_put,
        "get": size_mib / t_get,
        "peak": rss_after - rss_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,64,512", help="sizes in MiB, comma-separated")
    parser.add_argument("--dir", default=None, help="where to put the temporary files")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-store-") as workdir:
            print(json.dumps(measure(args.child, Path(workdir))))
        return

    print(
        f"{'size':>8} {'sha256':>9} {'cid only':>9} {'disk w+fsync':>13} {'put':>9} "
        f"{'put/sha':>8} {'get':>9} {'get/sha':>8} {'peak RSS':>9}"
    )
    for size in (int(text) for text in args.sizes.split(",")):
        command = [sys.executable, __file__, "--child", str(size)]
        if args.dir:
            command += ["--dir", args.dir]
        row = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        print(
            f"{row['size']:>5} MB {row['sha256']:>4.0f} MB/s {row['cid']:>4.0f} MB/s "
            f"{row['disk']:>8.0f} MB/s "
            f"{row['put']:>4.0f} MB/s {row['put'] / row['sha256']:>8.2f} "
            f"{row['get']:>4.0f} MB/s {row['get'] / row['sha256']:>8.2f} "
            f"{row['peak']:>5.1f} MiB"
        )


if __name__ == "__main__":
    main()
