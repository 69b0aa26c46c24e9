"""The ONNX validator on real exports and on files built to break each rule; nothing is run."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from service.errors import InvalidArtifact
from service.ml.accelerate.export import export_onnx
from service.ml.accelerate.recipes import _portable
from service.ml.digits import DigitsMLP, digits_split
from service.ml.formats import format_of, validate_artifact
from service.ml.onnx_format import MAX_OPSET, OnnxValidator, check_model_bytes


@pytest.fixture(scope="module")
def exported(digits_model: DigitsMLP) -> bytes:
    return export_onnx(digits_model, digits_split().test_x[:4])


def tiny(
    *,
    node_domain: str = "",
    op: str = "Relu",
    opsets: tuple[tuple[str, int], ...] = (("", 20),),
    external: bool = False,
) -> bytes:
    """A one-node model, y = op(x) + w, with the given domain, opsets and weight storage."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    if external:
        weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
        weight.data_location = TensorProto.EXTERNAL
        weight.external_data.add(key="location", value="/etc/passwd")
    graph = helper.make_graph(
        [
            helper.make_node(op, ["x"], ["h"], domain=node_domain),
            helper.make_node("Add", ["h", "w"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [weight],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], ir_version=10
    )
    return model.SerializeToString()


def test_a_real_export_is_accepted_with_its_signature(exported: bytes) -> None:
    summary = validate_artifact("onnx", exported)
    assert summary.format == "onnx"
    assert summary.opsets == {"ai.onnx": 20}
    assert [(i.name, i.dtype, i.shape) for i in summary.inputs] == [
        ("pixels", "float32", ("batch", 64))
    ]
    assert summary.outputs[0].shape == ("batch", 10)
    assert summary.parameter_count == 64 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10 + 1
    assert "Gemm" in summary.operators
    assert format_of(exported) == "onnx"


def test_fed_in_small_chunks_gives_the_same_summary(exported: bytes) -> None:
    validator = OnnxValidator()
    for i in range(0, len(exported), 999):
        validator.feed(exported[i : i + 999])
    assert validator.finish() == check_model_bytes(exported)


def test_the_tiny_model_itself_is_accepted() -> None:
    assert check_model_bytes(tiny()).operators == ("Add", "Relu")


@pytest.mark.parametrize(
    ("data", "mentions"),
    [
        (tiny(node_domain="com.microsoft", op="FusedGemm"), "'com.microsoft'"),
        (tiny(node_domain="evil.ops", op="RunShell", opsets=(("", 20), ("evil.ops", 1))), "evil"),
        (tiny(opsets=(("", 12),)), "opset 12"),
        (tiny(opsets=(("", MAX_OPSET + 1),)), f"opset {MAX_OPSET + 1}"),
        (tiny(op="NoSuchOperator"), "'NoSuchOperator' does not exist"),
        (tiny(external=True), "'/etc/passwd'"),
        (b"\x08\x07garbage that is not protobuf" * 3, "not an ONNX protobuf"),
        (b"", "empty"),
    ],
    ids=[
        "custom-domain-node", "custom-domain-import", "old-opset", "new-opset", "unknown-op",
        "external-data", "garbage", "empty",
    ],
)  # fmt: skip
def test_what_a_file_cannot_be(data: bytes, mentions: str) -> None:
    with pytest.raises(InvalidArtifact) as refused:
        validate_artifact("onnx", data)
    assert mentions in str(refused.value)


def test_model_local_functions_are_refused() -> None:
    model = onnx.load_model_from_string(tiny())
    function = helper.make_function(
        "mine.ops", "Twice", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 20)],
    )  # fmt: skip
    model.functions.append(function)
    with pytest.raises(InvalidArtifact, match="model-local functions"):
        check_model_bytes(model.SerializeToString())


def test_an_ort_extended_graph_is_not_portable_and_is_refused(
    exported: bytes, tmp_path: Path
) -> None:
    """Why builds store ORT's basic level only: the extended level writes com.microsoft
    fusions, which the validator refuses like any custom domain."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "extended.onnx")
    ort.InferenceSession(exported, options, providers=["CPUExecutionProvider"])
    extended = onnx.load_model(str(tmp_path / "extended.onnx"))
    assert ("com.microsoft", "FusedGemm") in {(n.domain, n.op_type) for n in extended.graph.node}
    with pytest.raises(InvalidArtifact, match="declares operator domain"):
        check_model_bytes(extended.SerializeToString())
    with pytest.raises(InvalidArtifact, match=r"domain 'com\.microsoft'"):
        check_model_bytes(_portable(extended))  # even with the unused domains left out


class _Payload:
    """Unpickling this creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_pickles_and_zips_are_refused_on_their_first_bytes(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    saved = io.BytesIO()
    torch.save({"weights": _Payload(marker)}, saved)
    raw_pickle = pickle.dumps(_Payload(marker))
    for data, what in ((saved.getvalue(), "zip archive"), (raw_pickle, "Python pickle")):
        validator = OnnxValidator()
        with pytest.raises(InvalidArtifact, match=what):
            validator.feed(data[:16])
        assert format_of(data) is None or format_of(data) == "torch-export"
    assert not marker.exists()
