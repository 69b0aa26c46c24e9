"""Artifact validators: real safetensors files and torch.export archives are accepted whatever
the chunking; malformed ones are rejected with a message naming what is wrong. The reference
parsers (``safetensors.deserialize``, :mod:`zipfile`) serve as oracles; nothing is unpickled."""

from __future__ import annotations

import io
import json
import pickle
import random
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as np_save
from safetensors.torch import save as torch_save

from service.errors import InvalidArtifact, InvalidInput
from service.ml.formats import (
    ARTIFACT_FORMATS,
    DTYPE_BITS,
    MAX_HEADER_BYTES,
    OnnxValidator,
    SafetensorsSummary,
    SafetensorsValidator,
    TorchExportSummary,
    TorchExportValidator,
    artifact_validator,
    validate_artifact,
    with_sorted_metadata,
)
from service.ml.sniff import unsafe_to_load
from service.ml.torch_export_format import UNSAFE_TO_LOAD, is_torch_export_archive

with_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

TORCH_DTYPES: dict[torch.dtype, str] = {
    torch.bool: "BOOL",
    torch.uint8: "U8",
    torch.int8: "I8",
    torch.float8_e5m2: "F8_E5M2",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.int16: "I16",
    torch.uint16: "U16",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int32: "I32",
    torch.uint32: "U32",
    torch.float32: "F32",
    torch.complex64: "C64",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.uint64: "U64",
}


def chunked(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """``data`` cut into pieces of the given sizes, cycled (0 gives an empty chunk)."""
    pos = index = 0
    while pos < len(data):
        size = sizes[index % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        index += 1


def st_file(header: dict[str, Any] | bytes, data: bytes = b"") -> bytes:
    """A safetensors file from a header (a dict is JSON-encoded) and a data section."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


def entry(dtype: str, shape: list[Any], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def reference_tensors(data: bytes) -> list[tuple[str, str, tuple[int, ...]]]:
    tensors = safetensors.deserialize(data)
    return sorted((name, t["dtype"], tuple(t["shape"])) for name, t in tensors)


def ours(summary: SafetensorsSummary) -> list[tuple[str, str, tuple[int, ...]]]:
    return sorted((t.name, t.dtype, t.shape) for t in summary.tensors)


def st_summary(data: bytes | Iterator[bytes]) -> SafetensorsSummary:
    summary = validate_artifact("safetensors", data)
    assert isinstance(summary, SafetensorsSummary)
    return summary


def export_summary(data: bytes | Iterator[bytes]) -> TorchExportSummary:
    summary = validate_artifact("torch-export", data)
    assert isinstance(summary, TorchExportSummary)
    return summary


def reject(format: str, data: bytes) -> str:
    """The message of the InvalidArtifact that validating ``data`` raises."""
    with pytest.raises(InvalidArtifact) as caught:
        validate_artifact(format, data)
    return str(caught.value)


# ---------------------------------------------------------------- safetensors: accepted


def test_accepts_a_file_written_by_safetensors_with_its_summary() -> None:
    data = torch_save(
        {"w": torch.ones(3, 4), "b": torch.zeros(4, dtype=torch.bfloat16), "s": torch.tensor(7)},
        metadata={"format": "pt", "owner": "lab-1"},
    )
    summary = st_summary(data)
    assert isinstance(summary, SafetensorsSummary)
    assert summary.format == "safetensors"
    assert {t.name: (t.dtype, t.shape) for t in summary.tensors} == {
        "w": ("F32", (3, 4)),
        "b": ("BF16", (4,)),
        "s": ("I64", ()),
    }
    assert summary.parameter_count == 12 + 4 + 1
    assert summary.metadata == {"format": "pt", "owner": "lab-1"}
    assert summary.data_size == 12 * 4 + 4 * 2 + 8
    assert summary.size == len(data) == 8 + summary.header_size + summary.data_size
    assert [t.data_offsets[0] for t in summary.tensors] == sorted(
        t.data_offsets[0] for t in summary.tensors
    )


def test_accepts_every_dtype_torch_writes_and_numpy_files() -> None:
    tensors = {name: torch.zeros(2, 3, dtype=dtype) for dtype, name in TORCH_DTYPES.items()}
    summary = st_summary(torch_save(tensors))
    assert {t.name: t.dtype for t in summary.tensors} == {n: n for n in TORCH_DTYPES.values()}
    numpy_file = np_save({"x": np.arange(10, dtype=np.int16), "empty": np.zeros((0, 5))})
    assert ours(st_summary(numpy_file)) == reference_tensors(numpy_file)


def test_the_dtype_table_matches_the_reference_parser() -> None:
    for dtype, bits in DTYPE_BITS.items():
        data = st_file({"t": entry(dtype, [8], 0, bits)}, bytes(bits))
        assert reference_tensors(data) == [("t", dtype, (8,))]
        assert ours(st_summary(data)) == [("t", dtype, (8,))]


def test_accepts_the_edge_cases_the_format_allows() -> None:
    header = {
        "a": entry("U8", [0], 0, 0),
        "b": entry("F4", [2], 0, 1),  # two 4-bit values in one byte
        "c": entry("U8", [0, 3], 1, 1),
        "d": entry("F32", [], 1, 5),
    }
    data = st_file(json.dumps(header).encode() + b"  \n", bytes(5))  # trailing whitespace
    summary = st_summary(data)
    assert ours(summary) == reference_tensors(data)
    assert summary.parameter_count == 0 + 2 + 0 + 1
    assert st_summary(st_file({})).tensors == ()


@pytest.mark.parametrize("sizes", [[1], [7], [8, 1, 3], [100_000]])
def test_any_chunking_gives_the_same_summary(model_safetensors: bytes, sizes: list[int]) -> None:
    whole = st_summary(model_safetensors)
    assert st_summary(chunked(model_safetensors, sizes)) == whole


@with_fixtures
@given(sizes=st.lists(st.integers(0, 4096), min_size=1, max_size=20).filter(any))
def test_any_random_chunking_gives_the_same_summary(
    model_safetensors: bytes, sizes: list[int]
) -> None:
    pieces = [
        bytearray(c) if i % 2 else memoryview(c)
        for i, c in enumerate(chunked(model_safetensors, sizes))
    ]
    validator = SafetensorsValidator()
    for piece in pieces:
        validator.feed(piece)
    assert validator.finish() == st_summary(model_safetensors)


tensor_specs = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda n: n != "__metadata__"),
    st.tuples(st.sampled_from(list(TORCH_DTYPES)), st.lists(st.integers(0, 4), max_size=3)),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(specs=tensor_specs, metadata=st.dictionaries(st.text(max_size=8), st.text(max_size=8)))
def test_files_written_by_safetensors_validate_to_what_was_written(
    specs: dict[str, tuple[torch.dtype, list[int]]], metadata: dict[str, str]
) -> None:
    tensors = {name: torch.zeros(shape, dtype=dtype) for name, (dtype, shape) in specs.items()}
    data = torch_save(tensors, metadata=metadata or None)
    summary = st_summary(data)
    assert ours(summary) == sorted(
        (name, TORCH_DTYPES[dtype], tuple(shape)) for name, (dtype, shape) in specs.items()
    )
    assert summary.parameter_count == sum(t.numel() for t in tensors.values())
    assert summary.metadata == metadata
    assert ours(summary) == reference_tensors(data)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_never_accepts_a_mutation_the_reference_rejects(data: st.DataObject) -> None:
    """Byte edits in the header: whatever the validator accepts, safetensors accepts too and
    reads the same tensors (the validator is at least as strict as the reference)."""
    header = {"a": entry("F32", [2, 3], 0, 24), "b": entry("U8", [4], 24, 28)}
    original = bytearray(st_file({"__metadata__": {"k": "v"}, **header}, bytes(28)))
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(original) - 29))
        original[position] = data.draw(st.sampled_from(b'0123456789[]{},:" FUI8ab\x00\xff'))
    mutated = bytes(original)
    try:
        summary = st_summary(mutated)
    except InvalidArtifact as exc:
        assert str(exc).startswith("invalid safetensors file: ")
        return
    assert ours(summary) == reference_tensors(mutated)


def test_sorted_metadata_gives_canonical_bytes() -> None:
    tensors = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(3, dtype=torch.int64)}
    metadata = {f"key{i}": str(i) for i in range(8)}
    writes = {with_sorted_metadata(torch_save(tensors, metadata=metadata)) for _ in range(5)}
    assert len(writes) == 1
    (canonical,) = writes
    header = json.loads(canonical[8 : 8 + int.from_bytes(canonical[:8], "little")])
    assert list(header["__metadata__"]) == sorted(metadata)
    assert (8 + int.from_bytes(canonical[:8], "little")) % 8 == 0
    assert with_sorted_metadata(canonical) == canonical
    reread = safetensors.torch.load(canonical)
    assert all(torch.equal(reread[name], tensors[name]) for name in tensors)
    summary = st_summary(canonical)
    assert isinstance(summary, SafetensorsSummary)
    assert summary.metadata == metadata
    assert with_sorted_metadata(torch_save(tensors)) == torch_save(tensors)


# ---------------------------------------------------------------- safetensors: rejected


def test_truncated_files_are_rejected_at_every_stage(model_safetensors: bytes) -> None:
    header_end = 8 + int.from_bytes(model_safetensors[:8], "little")
    for cut, expected in [
        (0, "truncated: the file has 0 bytes, fewer than the 8-byte header length"),
        (5, "truncated: the file has 5 bytes"),
        (8, "but the file ends after 0 of them"),
        (header_end - 1, f"but the file ends after {header_end - 9} of them"),
        (header_end, "but the file holds only 0"),
        (len(model_safetensors) - 1, "truncated: the header declares"),
    ]:
        assert expected in reject("safetensors", model_safetensors[:cut])


def test_trailing_bytes_are_rejected_as_soon_as_they_arrive(model_safetensors: bytes) -> None:
    validator = SafetensorsValidator()
    validator.feed(model_safetensors)
    with pytest.raises(InvalidArtifact, match="unexpected bytes after the end of the tensor data"):
        validator.feed(b"\x00")
    with pytest.raises(InvalidArtifact, match="at least 1 more follow"):
        validator.finish()  # the error sticks


def test_an_absurd_header_length_is_rejected_before_anything_is_buffered() -> None:
    validator = SafetensorsValidator()
    with pytest.raises(InvalidArtifact, match="header length 1099511627776 exceeds the limit of"):
        validator.feed((1 << 40).to_bytes(8, "little"))
    small = SafetensorsValidator(max_header_bytes=64)
    with pytest.raises(InvalidArtifact, match="header length 65 exceeds the limit of 64 bytes"):
        small.feed((65).to_bytes(8, "little"))
    assert "too small for a JSON object" in reject("safetensors", (1).to_bytes(8, "little") + b"{")


def test_the_header_is_bounded_by_a_documented_constant() -> None:
    """The service's validator buffers and parses at most MAX_HEADER_BYTES of header (a 100 MB
    one, the reference parser's limit, cost the service ~290 MB): past it, the file is refused
    as soon as its 8-byte length arrives, naming both sizes; a header of exactly the bound is
    accepted."""
    assert MAX_HEADER_BYTES == 8 * 2**20
    for length in (MAX_HEADER_BYTES + 1, 100_000_000):
        with pytest.raises(
            InvalidArtifact,
            match=f"header length {length} exceeds the limit of {MAX_HEADER_BYTES} bytes",
        ):
            artifact_validator("safetensors").feed(length.to_bytes(8, "little"))
    header = json.dumps({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * (MAX_HEADER_BYTES - len(header))  # safetensors pads with spaces, too
    summary = validate_artifact(
        "safetensors", len(header).to_bytes(8, "little") + header + bytes(4)
    )
    assert (summary.header_size, summary.names) == (MAX_HEADER_BYTES, ("t",))


def test_a_torch_export_archive_is_told_by_structure_alone(
    model_pt2: bytes, model_safetensors: bytes, model_pickle: bytes
) -> None:
    """What the CLI's download warning relies on: the zip directory, nothing unpickled."""
    assert is_torch_export_archive([model_pt2[i : i + 1000] for i in range(0, 50_000, 1000)]
                                   + [model_pt2[50_000:]])  # fmt: skip
    assert not is_torch_export_archive([model_safetensors])
    assert not is_torch_export_archive([model_pickle])  # a zip, but torch.save's
    assert not is_torch_export_archive([])


def test_the_download_warning_names_what_loading_would_unpickle(
    model_pt2: bytes, model_safetensors: bytes, model_pickle: bytes
) -> None:
    """The one check behind the CLI's and the Python client's download warnings."""
    pieces = [model_pt2[i : i + 3] for i in range(0, len(model_pt2), 3)]  # 4 bytes span pieces
    pt2 = unsafe_to_load("m.pt2", pieces)
    assert pt2 is not None and pt2.startswith("m.pt2 is a torch.export archive (.pt2): ")
    assert UNSAFE_TO_LOAD in pt2
    saved = unsafe_to_load("m.pt", [model_pickle])
    assert saved is not None and saved.startswith("m.pt is a zip archive, as torch.save writes")
    assert unsafe_to_load("m.safetensors", [model_safetensors]) is None
    assert unsafe_to_load("empty", []) is None


def test_pickles_presented_as_safetensors_are_named_as_such(model_pickle: bytes) -> None:
    assert "looks like a zip archive: a torch.save pickle" in reject("safetensors", model_pickle)
    legacy = io.BytesIO()
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    assert "looks like a Python pickle" in reject("safetensors", legacy.getvalue())
    plain = pickle.dumps({"w": list(range(100))}, protocol=4)
    assert "looks like a Python pickle" in reject("safetensors", plain)


def test_random_bytes_are_rejected() -> None:
    rng = random.Random(20240601)
    for size in (0, 3, 8, 100, 10_000):
        assert reject("safetensors", rng.randbytes(size)).startswith("invalid safetensors file:")


GOOD = entry("F32", [2], 0, 8)


@pytest.mark.parametrize(
    ("header", "data", "expected"),
    [
        (b'{"t": oops}', b"", "the header is not valid JSON: Expecting value at header byte 6"),
        (b"\xff\xfe{}", b"", "the header is not valid UTF-8 (at header byte 0)"),
        (b"[1, 2]", b"", "must be a JSON object starting with '{', not '[1, 2]'"),
        (b' {"t": 1}', b"", "must be a JSON object starting with '{'"),
        (b'{"t": 1} x', b"", "the header is not valid JSON: Extra data"),
        (b'{"a": NaN}', b"", "the header contains NaN, which is not JSON"),
        (b'{"t": {}, "t": {}}', b"", "the header names 't' twice"),
        (b'{"a":' + b"[" * 100_000, b"", "nested too deeply"),
        ({"t": entry("F33", [2], 0, 8)}, bytes(8), "tensor 't' has unknown dtype 'F33'"),
        ({"t": entry("f32", [2], 0, 8)}, bytes(8), "unknown dtype 'f32'; safetensors dtypes are"),
        ({"t": entry("F32", [-2], 0, 8)}, bytes(8), "shape must be a list of non-negative"),
        ({"t": entry("F32", [2.0], 0, 8)}, bytes(8), "shape must be a list of non-negative"),
        ({"t": entry("F32", [True], 0, 4)}, bytes(4), "shape must be a list of non-negative"),
        ({"t": entry("F32", [2**64], 0, 8)}, bytes(8), "shape must be a list of non-negative"),
        ({"t": {**GOOD, "shape": 2}}, bytes(8), "shape must be a list of non-negative"),
        ({"t": {**GOOD, "data_offsets": [0]}}, bytes(8), "data_offsets must be [begin, end]"),
        ({"t": {**GOOD, "data_offsets": [0, -8]}}, bytes(8), "data_offsets must be [begin, end]"),
        ({"t": entry("F32", [0], 8, 0)}, b"", "data_offsets [8, 0] end before they begin"),
        (
            {"t": entry("F32", [3, 4], 0, 40)},
            bytes(40),
            "tensor 't' (F32, shape [3, 4]) needs 48 bytes, but its data_offsets [0, 40] span 40",
        ),
        ({"t": entry("F4", [3], 0, 2)}, bytes(2), "does not fill a whole number of bytes"),
        (
            {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)},
            bytes(12),
            "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8])",
        ),
        (
            {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 12, 20)},
            bytes(20),
            "gap in the tensor data: bytes 8 to 12 belong to no tensor (tensor 'b' starts at 12)",
        ),
        ({"a": entry("F32", [2], 4, 12)}, bytes(12), "gap in the tensor data: bytes 0 to 4"),
        ({"t": {"shape": [2], "data_offsets": [0, 8]}}, bytes(8), "tensor 't' has no 'dtype'"),
        ({"t": {**GOOD, "extra": 1}}, bytes(8), "tensor 't' has unexpected field(s) 'extra'"),
        ({"t": [1, 2]}, b"", "tensor 't' must be an object, not [1, 2]"),
        ({"__metadata__": {"k": 1}, "t": GOOD}, bytes(8), "metadata value for 'k' must be a str"),
        ({"__metadata__": None, "t": GOOD}, bytes(8), "'__metadata__' must be an object"),
        ({"__metadata__": ["k"], "t": GOOD}, bytes(8), "'__metadata__' must be an object"),
        ({"t\ud800": GOOD}, bytes(8), "is not valid Unicode (lone surrogate)"),
    ],
)
def test_malformed_headers_are_rejected_with_the_reason(
    header: dict[str, Any] | bytes, data: bytes, expected: str
) -> None:
    assert expected in reject("safetensors", st_file(header, data))


def test_an_error_sticks_and_feeding_after_finish_is_a_bug(model_safetensors: bytes) -> None:
    validator = SafetensorsValidator()
    with pytest.raises(InvalidArtifact) as first:
        validator.feed((1 << 40).to_bytes(8, "little"))
    with pytest.raises(InvalidArtifact) as again:
        validator.feed(b"{}")
    assert again.value is first.value
    done = SafetensorsValidator()
    done.feed(model_safetensors)
    done.finish()
    with pytest.raises(RuntimeError, match="after finish"):
        done.feed(b"")


# ---------------------------------------------------------------- torch.export archives


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def entries_of(archive: bytes) -> dict[str, bytes]:
    """The entries of a trusted test archive (reading zip entries unpickles nothing)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as reader:
        return {name: reader.read(name) for name in reader.namelist()}


EOCD = struct.Struct("<4sHHHHIIH")
CDIR = struct.Struct("<4sHHHHHHIIIHHHHHII")


def with_zip64_records(data: bytes, *, wide_entries: bool) -> bytes:
    """The same archive ended by zip64 end records (torch's writer always adds them); with
    ``wide_entries`` every directory entry also moves its sizes and offset to a zip64 extra
    field, as writers do beyond 4 GiB."""
    eocd = data.rindex(b"PK\x05\x06")
    _, _, _, _, count, cd_size, cd_offset, _ = EOCD.unpack_from(data, eocd)
    directory = data[cd_offset : cd_offset + cd_size]
    if wide_entries:
        rebuilt, pos = b"", 0
        for _ in range(count):
            fields = list(CDIR.unpack_from(directory, pos))
            name_len, extra_len, comment_len = fields[10], fields[11], fields[12]
            rest = directory[pos + CDIR.size : pos + CDIR.size + name_len + extra_len + comment_len]
            wide = struct.pack("<HHQQQ", 1, 24, fields[9], fields[8], fields[16])
            fields[8] = fields[9] = fields[16] = 0xFFFFFFFF
            fields[11] = extra_len + len(wide)
            name_and_extra = rest[: name_len + extra_len]
            rebuilt += CDIR.pack(*fields) + name_and_extra + wide + rest[name_len + extra_len :]
            pos += CDIR.size + name_len + extra_len + comment_len
        directory = rebuilt
    record_at = cd_offset + len(directory)
    record = struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), cd_offset
    )
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, record_at, 1)
    end = EOCD.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:cd_offset] + directory + record + locator + end


PT2_LAYOUT = {
    "archive/archive_format",
    "archive/archive_version",
    "archive/byteorder",
    "archive/.data/version",
    "archive/.data/serialization_id",
    "archive/models/model.json",
    "archive/data/sample_inputs/model.pt",
    "archive/data/weights/model_weights_config.json",
    "archive/data/constants/model_constants_config.json",
    *(f"archive/data/weights/weight_{i}" for i in range(6)),
}


def test_accepts_a_real_torch_export_archive_and_lists_what_it_holds(model_pt2: bytes) -> None:
    summary = export_summary(model_pt2)
    assert (summary.format, summary.root, summary.models) == ("torch-export", "archive", ("model",))
    assert set(summary.entries) == PT2_LAYOUT  # what torch 2.13's torch.export.save writes
    assert summary.size == len(model_pt2)
    assert entries_of(model_pt2)["archive/archive_format"] == b"pt2"


def test_the_root_folder_follows_the_file_name(tmp_path: Path) -> None:
    program = torch.export.export(torch.nn.Linear(3, 2), (torch.ones(1, 3),))
    path = tmp_path / "tiny-linear.pt2"
    torch.export.save(program, str(path))
    summary = export_summary(path.read_bytes())
    assert (summary.root, summary.models) == ("tiny-linear", ("model",))


@pytest.mark.parametrize("sizes", [[1], [3, 1, 4096], [1 << 20]])
def test_any_chunking_of_an_archive_gives_the_same_summary(
    model_pt2: bytes, sizes: list[int]
) -> None:
    assert validate_artifact("torch-export", chunked(model_pt2, sizes)) == validate_artifact(
        "torch-export", model_pt2
    )


@with_fixtures
@given(
    sizes=st.lists(st.integers(0, 70_000), min_size=1, max_size=10).filter(any),
    tail=st.sampled_from([4096, 1 << 16, 1 << 20]),
)
def test_any_random_chunking_and_tail_give_the_same_summary(
    model_pt2: bytes, sizes: list[int], tail: int
) -> None:
    validator = TorchExportValidator(tail_bytes=tail)
    for piece in chunked(model_pt2, sizes):
        validator.feed(piece)
    assert validator.finish() == validate_artifact("torch-export", model_pt2)


def test_torch_writes_zip64_end_records_and_plain_zips_are_accepted_too(model_pt2: bytes) -> None:
    end = model_pt2.rindex(b"PK\x05\x06")
    assert model_pt2[end - 20 : end - 16] == b"PK\x06\x07"  # the zip64 locator
    plain = zip_of(entries_of(model_pt2))  # zipfile writes no zip64 records for a small zip
    end = plain.rindex(b"PK\x05\x06")
    assert plain[end - 20 : end - 16] != b"PK\x06\x07"
    assert export_summary(plain).entries == export_summary(model_pt2).entries


@pytest.mark.parametrize("wide_entries", [False, True])
def test_accepts_zip64_archives(model_pt2: bytes, wide_entries: bool) -> None:
    plain = zip_of(entries_of(model_pt2))
    wide = with_zip64_records(plain, wide_entries=wide_entries)
    assert entries_of(wide) == entries_of(model_pt2)  # zipfile, the reference, reads it
    summary = export_summary(chunked(wide, [999]))
    assert summary.entries == export_summary(model_pt2).entries
    assert summary.size == len(wide)


def test_truncated_archives_are_rejected(model_pt2: bytes) -> None:
    assert "truncated: the file has only 2 bytes" in reject("torch-export", model_pt2[:2])
    assert "truncated: 4 bytes cannot hold a zip archive's end record" in reject(
        "torch-export", model_pt2[:4]
    )
    for cut in (1000, len(model_pt2) // 2, len(model_pt2) - 300, len(model_pt2) - 1):
        message = reject("torch-export", model_pt2[:cut])
        assert "truncated or not a zip archive: no end of central directory record" in message


def test_trailing_and_inserted_bytes_are_rejected(model_pt2: bytes) -> None:
    assert "7 unexpected bytes after the end of the zip" in reject(
        "torch-export", model_pt2 + b"garbage"
    )
    inserted = model_pt2[:5000] + b"\x00" * 16 + model_pt2[5000:]
    assert "bytes are missing or inserted" in reject("torch-export", inserted)
    removed = model_pt2[:5000] + model_pt2[5016:]
    assert "bytes are missing or inserted" in reject("torch-export", removed)


def test_a_directory_beyond_the_kept_tail_is_rejected_as_too_large(model_pt2: bytes) -> None:
    validator = TorchExportValidator(tail_bytes=512)
    validator.feed(model_pt2)
    with pytest.raises(InvalidArtifact, match="the archive's directory is too large"):
        validator.finish()
    with pytest.raises(ValueError, match="cannot even hold the end records"):
        TorchExportValidator(tail_bytes=50)


def test_non_zip_bytes_are_rejected_at_their_first_bytes(model_safetensors: bytes) -> None:
    validator = TorchExportValidator()
    with pytest.raises(InvalidArtifact, match="not a zip archive: it starts with"):
        for byte in model_safetensors[:4]:
            validator.feed(bytes([byte]))
    rng = random.Random(7)
    assert "not a zip archive" in reject("torch-export", b"\x01" + rng.randbytes(5000))
    assert "not a zip archive" in reject("torch-export", zip_of({}))  # only an end record
    assert "truncated: the file has only 0 bytes" in reject("torch-export", b"")


def test_a_torch_save_pickle_is_not_an_export_archive(model_pickle: bytes) -> None:
    message = reject("torch-export", model_pickle)
    assert "no 'archive/archive_format' entry: not written by torch.export.save" in message
    assert "looks like a torch.save pickle" in message


def without(entries: dict[str, bytes], name: str) -> dict[str, bytes]:
    return {key: value for key, value in entries.items() if key != name}


def test_zips_without_the_export_entries_are_rejected(model_pt2: bytes) -> None:
    real = entries_of(model_pt2)
    assert export_summary(zip_of(real)).models == ("model",)
    cases: list[tuple[dict[str, bytes], str]] = [
        ({"notes/readme.txt": b"hello"}, "no 'notes/archive_format' entry"),
        ({**real, "archive/archive_format": b"pt3"}, "'archive/archive_format' does not hold"),
        ({**real, "archive/archive_format": b"pt2\n"}, "does not hold 'pt2'"),
        (without(real, "archive/archive_format"), "no 'archive/archive_format' entry"),
        (without(real, "archive/models/model.json"), "no exported program: no 'archive/models/"),
        (
            without(real, "archive/data/sample_inputs/model.pt"),
            "program 'model' is incomplete: missing 'archive/data/sample_inputs/model.pt'",
        ),
        (
            without(real, "archive/data/weights/model_weights_config.json"),
            "missing 'archive/data/weights/model_weights_config.json'",
        ),
        (
            without(real, "archive/data/constants/model_constants_config.json"),
            "missing 'archive/data/constants/model_constants_config.json'",
        ),
        ({**real, "other/archive_format": b"pt2"}, "has top-level 'archive/', 'other/'"),
        ({**real, "stray.txt": b""}, "keeps every entry under one top-level folder"),
        ({**real, "archive/../evil": b""}, "entry name 'archive/../evil' is unsafe"),
        ({**real, "/archive/x": b""}, "is unsafe"),
        ({**real, "archive\\x": b""}, "is unsafe"),
        (
            {**real, "archive/data/constants/custom_obj_0": b"\x80\x04."},
            "entry 'archive/data/constants/custom_obj_0' holds a pickled Python object",
        ),
        ({**real, "archive/data/constants/opaque_obj_1": b""}, "holds a pickled Python object"),
    ]
    for entries, expected in cases:
        assert expected in reject("torch-export", zip_of(entries)), expected


def test_duplicate_encrypted_and_non_utf8_entries_are_rejected(model_pt2: bytes) -> None:
    real = entries_of(model_pt2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        for name, content in [*real.items(), ("archive/byteorder", b"big")]:
            archive.writestr(name, content)
    assert "entry 'archive/byteorder' appears twice" in reject("torch-export", buffer.getvalue())
    encrypted = bytearray(zip_of(real))
    cd_offset = EOCD.unpack_from(encrypted, encrypted.rindex(b"PK\x05\x06"))[6]
    flags_at = cd_offset + 8
    (flags,) = struct.unpack_from("<H", encrypted, flags_at)
    struct.pack_into("<H", encrypted, flags_at, flags | 1)
    assert "is encrypted" in reject("torch-export", bytes(encrypted))
    latin = bytearray(zip_of(real))
    name_at = cd_offset + CDIR.size
    latin[name_at] = 0xFF
    assert "the name of entry 0 is not UTF-8" in reject("torch-export", bytes(latin))


def test_validation_never_loads_a_pickle(model_pt2: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a validator tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert export_summary(model_pt2).models == ("model",)


# ---------------------------------------------------------------- choosing a validator


def test_artifact_validator_picks_by_format_and_rejects_unknown_ones() -> None:
    assert ARTIFACT_FORMATS == ("safetensors", "torch-export", "onnx")
    assert isinstance(artifact_validator("safetensors"), SafetensorsValidator)
    assert isinstance(artifact_validator("torch-export"), TorchExportValidator)
    assert isinstance(artifact_validator("onnx"), OnnxValidator)
    for unknown in ("tflite", "pickle", "SAFETENSORS", ""):
        with pytest.raises(InvalidArtifact) as caught:
            artifact_validator(unknown)
        assert str(caught.value) == (
            f"unknown artifact format {unknown!r}; accepted formats are safetensors, torch-export, "
            "onnx"
        )
        assert isinstance(caught.value, InvalidInput)  # an HTTP 422 in the API


def test_validators_count_the_bytes_fed(model_safetensors: bytes, model_pt2: bytes) -> None:
    for format, data in [("safetensors", model_safetensors), ("torch-export", model_pt2)]:
        validator = artifact_validator(format)
        assert validator.format == format
        for piece in chunked(data, [1000]):
            validator.feed(piece)
        assert validator.size == len(data)
        assert validator.finish().size == len(data)


def test_a_refusal_names_the_declared_format_with_its_article() -> None:
    from service.ml.sniff import Identified, not_an_artifact

    zipped = Identified(format=None, what="a zip archive")
    assert not_an_artifact("m.bin", zipped, declared="onnx").startswith(
        "m.bin is not an onnx file: it is a zip archive."
    )
    assert not_an_artifact("m.bin", zipped, declared="safetensors").startswith(
        "m.bin is not a safetensors file: it is a zip archive."
    )
