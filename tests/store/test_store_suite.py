"""One suite, every backend (see conftest.py): the content store contract."""

from __future__ import annotations

import io
import os
import random
import threading

import pytest

from service.errors import (
    CarError,
    ContentNotFound,
    IntegrityError,
    InvalidCID,
    UnsupportedCID,
)
from service.store.car import CarReader
from service.store.cid import CHUNK_SIZE, CID, DAG_PB, RAW, parse_cid
from service.store.embedded import EmbeddedStore
from service.store.unixfs import compute_cid

from .conftest import Backend


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def expected_cid(data: bytes) -> CID:
    root, _ = compute_cid(
        [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
    )
    return root


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_put_then_get_returns_the_same_bytes_under_the_kubo_cid(
    backend: Backend, size: int
) -> None:
    data = payload(size, seed=size)
    result = backend.store.put(data)
    assert result.size == size
    assert result.cid == expected_cid(data)
    assert result.cid.codec == (RAW if size <= CHUNK_SIZE else DAG_PB)
    assert backend.store.get_bytes(result.cid) == data
    assert backend.store.has(result.cid)
    assert backend.store.file_size(result.cid) == size


def test_put_accepts_bytes_streams_and_iterables_alike(backend: Backend) -> None:
    data = payload(2 * CHUNK_SIZE + 5, seed=1)
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    from_bytes = backend.store.put(data)
    from_stream = backend.store.put(io.BytesIO(data))
    from_iterable = backend.store.put(iter(pieces))
    assert from_bytes == from_stream == from_iterable


def test_get_accepts_the_cid_as_text_binary_or_v0(backend: Backend) -> None:
    data = payload(CHUNK_SIZE + 1, seed=2)
    cid = backend.store.put(data).cid
    assert backend.store.get_bytes(str(cid)) == data
    assert backend.store.get_bytes(cid.binary) == data
    assert backend.store.get_bytes(str(cid).upper()) == data  # base32 upper-case multibase "B"


def test_get_of_absent_content_raises_content_not_found_at_once(backend: Backend) -> None:
    absent = CID.of_block(RAW, b"never stored " + os.urandom(8))
    with pytest.raises(ContentNotFound) as caught:
        backend.store.get(absent)
    assert not backend.store.has(absent)
    with pytest.raises(ContentNotFound):
        backend.store.file_size(absent)
    if backend.name == "embedded":
        assert str(absent) in str(caught.value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", InvalidCID),
        ("not a cid", InvalidCID),
        ("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk", InvalidCID),  # truncated
        ("Qm1111", InvalidCID),
        ("bafyreihffx5a2e7k5uwrmmgofbvzujc5cmw5h4espouwuxt3liqoflx3ee", UnsupportedCID),  # cbor
        ("bafkr4ihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", UnsupportedCID),  # blake
    ],
)
def test_malformed_and_unsupported_cids_are_rejected_with_a_clear_error(
    backend: Backend, text: str, error: type[Exception]
) -> None:
    for operation in (
        backend.store.get,
        backend.store.has,
        backend.store.pin,
        backend.store.export_car,
    ):
        with pytest.raises(error) as caught:
            operation(text)
        assert str(caught.value)


@pytest.mark.parametrize("size", [CHUNK_SIZE // 2, 3 * CHUNK_SIZE + 17])
def test_a_flipped_byte_in_a_stored_block_fails_get_naming_that_block(
    backend: Backend, size: int
) -> None:
    if backend.corrupt is None:
        pytest.skip("cannot alter the blocks of a remote kubo node")
    data = payload(size, seed=3)
    root = backend.store.put(data).cid
    victim = root if root.codec == RAW else expected_leaf(data, 1)
    backend.corrupt(victim)
    with pytest.raises(IntegrityError) as caught:
        received = bytearray()
        for piece in backend.store.get(root):
            received += piece
    assert str(victim) in str(caught.value)
    assert caught.value.cid == str(victim)
    good = data[:CHUNK_SIZE] if root.codec == DAG_PB else b""
    assert bytes(received) == good  # only the blocks before the bad one came out


def expected_leaf(data: bytes, index: int) -> CID:
    return CID.of_block(RAW, data[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE])


def test_concurrent_puts_of_the_same_bytes_agree_and_leave_one_readable_copy(
    backend: Backend,
) -> None:
    data = payload(4 * CHUNK_SIZE + 3, seed=4)
    results: list[object] = []

    def put() -> None:
        results.append(backend.store.put(data))

    threads = [threading.Thread(target=put) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1  # type: ignore[arg-type]
    assert backend.store.get_bytes(expected_cid(data)) == data


def test_pins_list_unpin_and_gc_removes_unpinned_content_only(backend: Backend) -> None:
    kept = payload(2 * CHUNK_SIZE + 1, seed=5)
    dropped = payload(2 * CHUNK_SIZE + 2, seed=6)
    unpinned = payload(1000, seed=7)
    kept_cid = backend.store.put(kept).cid
    dropped_cid = backend.store.put(dropped).cid
    unpinned_cid = backend.store.put(unpinned, pin=False).cid
    assert {kept_cid, dropped_cid} <= set(backend.store.pins())
    assert unpinned_cid not in backend.store.pins()

    backend.store.unpin(dropped_cid)
    backend.store.unpin(dropped_cid)  # idempotent
    assert dropped_cid not in backend.store.pins()
    removed = backend.store.gc()

    assert removed >= 4  # dropped: root + 3 leaves; unpinned: 1 raw block
    assert backend.store.has(kept_cid)
    assert backend.store.get_bytes(kept_cid) == kept
    assert not backend.store.has(dropped_cid)
    assert not backend.store.has(unpinned_cid)
    with pytest.raises(ContentNotFound):
        backend.store.get(dropped_cid)


def test_gc_never_removes_roots_that_keep_names(backend: Backend) -> None:
    """Roots named by ``keep`` survive gc whole though unpinned (an upload between its put and
    its pin); the embedded store sweeps the rest, kubo (which spares pinned blocks only)
    sweeps nothing while such a root is held unpinned."""
    in_flight = payload(3 * CHUNK_SIZE + 3, seed=8)
    stray = payload(2 * CHUNK_SIZE + 9, seed=9)
    in_flight_cid = backend.store.put(in_flight, pin=False).cid
    stray_cid = backend.store.put(stray, pin=False).cid
    absent = CID.of_block(RAW, os.urandom(16))  # named but not held: no obstacle
    asked: list[bool] = []

    def keep() -> list[CID]:
        asked.append(True)
        return [in_flight_cid, absent]

    removed = backend.store.gc(keep=keep)

    assert asked == [True]
    assert backend.store.get_bytes(in_flight_cid) == in_flight
    if backend.name == "embedded":
        assert removed >= 4 and not backend.store.has(stray_cid)
    else:
        assert removed == 0 and backend.store.get_bytes(stray_cid) == stray
    backend.store.pin(in_flight_cid)  # what the upload does next still works
    backend.store.gc(keep=lambda: [absent])
    assert backend.store.get_bytes(in_flight_cid) == in_flight
    assert not backend.store.has(stray_cid)


def test_pin_of_absent_content_raises_content_not_found(backend: Backend) -> None:
    if backend.name == "kubo-real":
        pytest.skip("a real node would search the network for the absent CID until timeout")
    with pytest.raises(ContentNotFound):
        backend.store.pin(CID.of_block(RAW, os.urandom(16)))


def test_car_export_then_import_into_a_fresh_embedded_store(
    backend: Backend, tmp_path: object
) -> None:
    data = payload(3 * CHUNK_SIZE + 9, seed=8)
    root = backend.store.put(data).cid
    car = b"".join(backend.store.export_car(root))
    reader = CarReader(io.BytesIO(car))
    assert reader.roots == (root,)
    blocks = list(reader.blocks())
    assert blocks[0][0] == root and len(blocks) == 5

    other = EmbeddedStore(os.path.join(str(tmp_path), "other"))  # type: ignore[arg-type]
    assert other.import_car(io.BytesIO(car)) == [root]
    assert other.get_bytes(root) == data
    assert root in other.pins()


def test_import_car_round_trip_into_the_backend(backend: Backend, embedded: EmbeddedStore) -> None:
    data = payload(2 * CHUNK_SIZE + 77, seed=9)
    root = embedded.put(data).cid
    car = b"".join(embedded.export_car(root))
    assert backend.store.import_car(car) == [root]
    assert backend.store.get_bytes(root) == data
    assert root in backend.store.pins()


def test_a_car_with_a_bad_block_is_rejected_and_the_store_is_unchanged(
    backend: Backend, embedded: EmbeddedStore
) -> None:
    data = payload(2 * CHUNK_SIZE + 5, seed=10)
    root = embedded.put(data).cid
    car = bytearray(b"".join(embedded.export_car(root)))
    car[-10] ^= 0xFF  # inside the last block's bytes
    pins_before = backend.store.pins()
    with pytest.raises(CarError) as caught:
        backend.store.import_car(bytes(car))
    assert "does not match its CID" in str(caught.value)
    assert backend.store.pins() == pins_before
    assert not backend.store.has(root)


def test_a_truncated_car_is_rejected(backend: Backend, embedded: EmbeddedStore) -> None:
    root = embedded.put(payload(CHUNK_SIZE + 5, seed=11)).cid
    car = b"".join(embedded.export_car(root))
    with pytest.raises(CarError, match="truncated"):
        backend.store.import_car(car[:-100])
    assert not backend.store.has(root)


def test_parse_cid_round_trips_what_put_returns(backend: Backend) -> None:
    cid = backend.store.put(b"hello").cid
    assert parse_cid(str(cid)) == cid
    assert str(cid) == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
