"""CIDs match an independent implementation: npm ipfs-unixfs-importer with kubo's
``ipfs add --cid-version=1`` settings (see js/unixfs_cid.mjs)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from service.store.chunker import iter_chunks
from service.store.cid import CHUNK_SIZE
from service.store.embedded import EmbeddedStore
from service.store.unixfs import FileDagBuilder, compute_cid

from .jsref import run_js

EMPTY_FILE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
"""kubo's ``ipfs add --cid-version=1`` of an empty file: the empty raw block."""

_rng = random.Random(20261122)
SIZES = [
    0,
    1,
    CHUNK_SIZE - 1,
    CHUNK_SIZE,
    CHUNK_SIZE + 1,
    174 * CHUNK_SIZE,
    174 * CHUNK_SIZE + 1,
    *sorted(_rng.randrange(2, 3 * CHUNK_SIZE) for _ in range(3)),
    _rng.randrange(174 * CHUNK_SIZE + 2, 200 * CHUNK_SIZE),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("reference-files")
    made = {}
    for size in SIZES:
        path = folder / f"{size}.bin"
        path.write_bytes(random.Random(size).randbytes(size))
        made[size] = path
    return made


@pytest.fixture(scope="module")
def reference(files: dict[int, Path]) -> dict[int, str]:
    answers = run_js("unixfs_cid.mjs", *files.values())
    by_path = {Path(answer["path"]): answer["cid"] for answer in answers}
    return {size: by_path[path] for size, path in files.items()}


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES)
def test_put_gives_the_cid_of_the_reference_importer(
    size: int, files: dict[int, Path], reference: dict[int, str], tmp_path: Path
) -> None:
    store = EmbeddedStore(tmp_path / "store")
    with files[size].open("rb") as stream:
        result = store.put(stream)
    assert str(result.cid) == reference[size]
    assert result.size == size


def test_the_empty_file_is_the_empty_raw_block_as_in_kubo(reference: dict[int, str]) -> None:
    assert reference[0] == EMPTY_FILE_CID
    assert str(compute_cid(iter_chunks(b""))[0]) == EMPTY_FILE_CID


@pytest.mark.parametrize("size", [4, 9, 10, 28, 40])
def test_deep_balanced_trees_match_the_reference(size: int, tmp_path: Path) -> None:
    """With 3 links per node, a few chunks already make trees of 2 to 4 levels."""
    chunk = 16
    data = random.Random(size).randbytes(size * chunk - 3)
    path = tmp_path / "deep.bin"
    path.write_bytes(data)
    builder = FileDagBuilder(max_links=3)
    for piece in iter_chunks(data, chunk):
        builder.add_chunk(piece)
    root, _ = builder.finish()
    (answer,) = run_js("unixfs_cid.mjs", path, env={"MAX_LINKS": "3", "CHUNK_SIZE": str(chunk)})
    assert str(root) == answer["cid"]
