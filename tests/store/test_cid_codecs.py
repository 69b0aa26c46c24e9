"""Pure codecs: CIDs, the bytes32 digest rule, varints, dag-pb, UnixFS data, CAR headers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID as ReferenceCID
from multiformats import multihash

from service.errors import InvalidCID, UnsupportedCID
from service.store import dagcbor
from service.store.cid import (
    CHUNK_SIZE,
    CID,
    DAG_PB,
    RAW,
    cid_from_digest,
    decode_varint,
    encode_varint,
    parse_cid,
    read_cid,
)
from service.store.dagpb import DagPbError, PBLink, decode_node, encode_node
from service.store.unixfs import UNIXFS_FILE, decode_unixfs, encode_file_data

EMPTY_DIGEST = hashlib.sha256(b"").digest()
digests = st.binary(min_size=32, max_size=32)
codecs = st.sampled_from([RAW, DAG_PB])


def test_the_empty_raw_block_cid_is_written_as_kubo_writes_it() -> None:
    cid = CID(RAW, EMPTY_DIGEST)
    assert str(cid) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert cid.binary == bytes.fromhex("01551220") + EMPTY_DIGEST


@given(codecs, digests)
def test_text_and_binary_forms_agree_with_the_multiformats_package(
    codec: int, digest: bytes
) -> None:
    ours = CID(codec, digest)
    name = "raw" if codec == RAW else "dag-pb"
    reference = ReferenceCID("base32", 1, name, multihash.wrap(digest, "sha2-256"))
    assert str(ours) == str(reference)
    assert ours.binary == bytes(reference)
    assert parse_cid(str(reference)) == ours
    assert parse_cid(reference.encode("base58btc")) == ours
    assert parse_cid(ours.binary) == ours


def test_a_cidv0_is_normalised_to_the_cidv1_of_the_same_block() -> None:
    v0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    cid = parse_cid(v0)
    assert cid.codec == DAG_PB
    assert str(cid) == "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"


@pytest.mark.parametrize(
    ("size", "codec"),
    [(0, RAW), (1, RAW), (CHUNK_SIZE, RAW), (CHUNK_SIZE + 1, DAG_PB), (10**12, DAG_PB)],
)
def test_the_digest_rule_rebuilds_the_root_codec_from_the_file_size(size: int, codec: int) -> None:
    cid = cid_from_digest(EMPTY_DIGEST, file_size=size)
    assert cid == CID(codec, EMPTY_DIGEST)
    assert cid.digest == EMPTY_DIGEST  # what the chain stores as bytes32


def test_a_digest_of_the_wrong_length_is_rejected() -> None:
    with pytest.raises(InvalidCID, match="32 bytes"):
        cid_from_digest(b"\x00" * 31, file_size=1)


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b"", InvalidCID, "truncated"),
        (bytes.fromhex("02551220") + EMPTY_DIGEST, InvalidCID, "version 2 does not exist"),
        (
            bytes.fromhex("00551220") + EMPTY_DIGEST,
            InvalidCID,
            r"version prefix 0, but a CIDv0 has no prefix: it is a bare sha2-256 multihash",
        ),
        (bytes.fromhex("01551220") + EMPTY_DIGEST[:5], InvalidCID, "fewer follow"),
        (bytes.fromhex("01551310") + bytes(16), UnsupportedCID, "0x13"),
        (bytes.fromhex("01711220") + EMPTY_DIGEST, UnsupportedCID, "0x71"),
        (bytes.fromhex("01551210") + bytes(16), InvalidCID, "32 bytes"),
        (bytes.fromhex("01551220") + EMPTY_DIGEST + b"!", InvalidCID, "trailing"),
    ],
)
def test_malformed_binary_cids_say_what_is_wrong(
    raw: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        parse_cid(raw)
    assert "only 0 and 1" not in str(info.value)  # said of version 0, it contradicted itself


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_varints_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))


def test_non_minimal_varints_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-minimal"):
        decode_varint(b"\x80\x00", 0)


def test_a_file_node_is_encoded_as_written_out_by_hand() -> None:
    leaf = CID(RAW, EMPTY_DIGEST)
    data = encode_file_data(300, [200, 100])
    assert data == bytes([0x08, 0x02, 0x18, 0xAC, 0x02, 0x20, 0xC8, 0x01, 0x20, 0x64])
    node = encode_node([PBLink(leaf, 200)], data)
    link = bytes([0x0A, 0x24]) + leaf.binary + bytes([0x12, 0x00, 0x18, 0xC8, 0x01])
    assert node == bytes([0x12, len(link)]) + link + bytes([0x0A, len(data)]) + data
    decoded = decode_node(node)
    assert decoded.links == (PBLink(leaf, 200),)
    meta = decode_unixfs(decoded.data or b"")
    assert (meta.type, meta.filesize, meta.blocksizes) == (UNIXFS_FILE, 300, (200, 100))


@pytest.mark.parametrize(
    "block", [b"\x0a\x05ab", b"\x1a\x00", b"\x12\x02\x18\x01", b"\x0d\x00\x00\x00\x00"]
)
def test_malformed_dag_pb_is_rejected(block: bytes) -> None:
    with pytest.raises(DagPbError):
        decode_node(block)


@given(st.lists(st.tuples(codecs, digests), max_size=4))
def test_car_headers_round_trip(roots: list[tuple[int, bytes]]) -> None:
    cids = [CID(codec, digest) for codec, digest in roots]
    assert dagcbor.decode(dagcbor.encode_car_header(cids)) == {"roots": cids, "version": 1}


def test_read_cid_reads_a_cidv0_multihash_inside_a_buffer() -> None:
    buf = b"xx" + bytes([0x12, 0x20]) + EMPTY_DIGEST + b"yy"
    assert read_cid(buf, 2) == (CID(DAG_PB, EMPTY_DIGEST), 36)
