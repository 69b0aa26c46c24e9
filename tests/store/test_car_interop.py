"""CAR files interoperate with the independent JS tooling (@ipld/car, ipfs-unixfs-importer)."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest

from service.errors import CarError
from service.store.car import CarReader, car_header, section_prefix
from service.store.cid import CHUNK_SIZE, CID, RAW, parse_cid
from service.store.embedded import EmbeddedStore

from .jsref import run_js

SIZE = 3 * CHUNK_SIZE + 1234


def test_a_car_exported_here_is_read_by_ipld_car_with_the_same_root_and_blocks(
    embedded: EmbeddedStore, tmp_path: Path
) -> None:
    data = random.Random(1).randbytes(SIZE)
    root = embedded.put(data).cid
    path = tmp_path / "export.car"
    embedded.save_car(root, path)

    (answer,) = run_js("car_read.mjs", path)

    ours = list(CarReader(io.BytesIO(path.read_bytes())).blocks())
    assert answer["version"] == 1
    assert answer["roots"] == [str(root)]
    assert [block["cid"] for block in answer["blocks"]] == [str(cid) for cid, _ in ours]
    assert all(block["ok"] for block in answer["blocks"])
    assert len(answer["blocks"]) == 5  # root + 4 leaves


def test_a_car_written_by_the_js_tooling_is_imported_and_read_back(
    embedded: EmbeddedStore, tmp_path: Path
) -> None:
    data = random.Random(2).randbytes(SIZE)
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    car = tmp_path / "js.car"

    (answer,) = run_js("car_write.mjs", source, car)

    with car.open("rb") as stream:
        roots = embedded.import_car(stream)
    assert [str(root) for root in roots] == [answer["root"]]
    assert embedded.get_bytes(roots[0]) == data
    assert embedded.pins() == roots


def test_the_header_matches_ipld_car_byte_for_byte(tmp_path: Path) -> None:
    """@ipld/car writes the header {roots, version} in canonical DAG-CBOR; so do we."""
    data = random.Random(3).randbytes(1000)
    source = tmp_path / "small.bin"
    source.write_bytes(data)
    car = tmp_path / "small.car"
    (answer,) = run_js("car_write.mjs", source, car)
    root = parse_cid(answer["root"])
    expected = car_header([root]) + section_prefix(root, len(data)) + data
    assert car.read_bytes() == expected


def _carv2(v1: bytes) -> bytes:
    pragma = bytes.fromhex("0aa16776657273696f6e02")
    data_offset = len(pragma) + 40 + 7  # 7 bytes of padding, allowed by the spec
    header = bytes(16) + struct.pack("<QQQ", data_offset, len(v1), 0)
    return pragma + header + bytes(7) + v1 + b"index bytes are ignored"


def test_a_carv2_is_imported_through_its_v1_payload(
    embedded: EmbeddedStore, tmp_path: Path
) -> None:
    data = random.Random(4).randbytes(CHUNK_SIZE + 10)
    source = EmbeddedStore(tmp_path / "source")
    root = source.put(data).cid
    v2 = _carv2(b"".join(source.export_car(root)))
    assert embedded.import_car(v2) == [root]
    assert embedded.get_bytes(root) == data


@pytest.mark.parametrize(
    ("car", "message"),
    [
        (b"", "truncated"),
        (b"\x04\xa1\x61\x61\x01", "must be a map with an integer 'version'"),
        (bytes.fromhex("0aa16776657273696f6e03"), "version 3 is not supported"),
        (b"\x02\xa0", "truncated"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "varint longer than 9 bytes"),
    ],
)
def test_malformed_cars_are_rejected_with_a_clear_error(
    embedded: EmbeddedStore, car: bytes, message: str
) -> None:
    with pytest.raises(CarError, match=message):
        embedded.import_car(car)


def test_a_car_whose_root_dag_is_incomplete_is_rejected_whole(
    embedded: EmbeddedStore, tmp_path: Path
) -> None:
    source = EmbeddedStore(tmp_path / "source")
    data = random.Random(5).randbytes(2 * CHUNK_SIZE + 1)
    root = source.put(data).cid
    sections = list(CarReader(io.BytesIO(b"".join(source.export_car(root)))).blocks())
    partial = car_header([root]) + b"".join(
        section_prefix(cid, len(block)) + block for cid, block in sections[:-1]
    )
    with pytest.raises(CarError, match="is missing"):
        embedded.import_car(partial)
    assert not embedded.has(root)
    assert embedded.pins() == []
    assert not any(embedded._fs.digests())  # nothing of it was kept
    assert not any(embedded._fs.tmp_dir.iterdir())


def test_a_car_block_with_an_unsupported_codec_is_rejected(embedded: EmbeddedStore) -> None:
    cbor_cid = b"\x01\x71\x12\x20" + bytes(32)
    block = b"\xa0"
    car = car_header([CID(RAW, bytes(32))]) + bytes([len(cbor_cid) + 1]) + cbor_cid + block
    with pytest.raises(CarError, match="codec 0x71 is not supported"):
        embedded.import_car(car)
