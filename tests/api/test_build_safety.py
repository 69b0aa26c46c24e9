"""Untrusted model files are refused or stored inert, never executed; a build job interrupted by
a crash of the service is reported as failed, never lost.

Each pickle payload here, if unpickled, would create a marker file; every test checks that the
file never appears, and a positive control checks that torch's unpickling loaders do create it."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from onnx import TensorProto, helper

from service.ml.digits import digits_split, export_archive, save_safetensors, train_digits_mlp
from tests.api.conftest import OWNER, Api, api_on, assert_problem
from tests.api.test_builds import finished, predict_npy, register_with_evaluation, start
from tests.stack import Stack


class _Payload:
    """Unpickling this creates ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def torch_save_payload(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"net.0.weight": _Payload(marker)}, buffer)
    return buffer.getvalue()


def pt2_with_payload(marker: Path) -> bytes:
    """A real torch.export archive whose sample inputs (which torch.export.load unpickles) are
    replaced by the payload."""
    model, _ = train_digits_mlp(epochs=1)
    original = zipfile.ZipFile(io.BytesIO(export_archive(model)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in original.infolist():
            data = original.read(info)
            if "/data/sample_inputs/" in info.filename:
                data = torch_save_payload(marker)
            archive.writestr(info, data)
    return out.getvalue()


def custom_domain_onnx() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("RunShell", ["x"], ["y"], domain="com.example.ops")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
    )
    opsets = [helper.make_opsetid("", 20), helper.make_opsetid("com.example.ops", 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=10).SerializeToString()


LOADERS = {  # what the service never calls on untrusted bytes, and the payload each would run
    "torch.load": ("import sys, torch; torch.load(sys.argv[1], weights_only=False)", "pt"),
    "torch.export.load": ("import sys, torch; torch.export.load(sys.argv[1])", "pt2"),
}


@pytest.mark.parametrize("loader", list(LOADERS))
def test_the_payloads_do_run_when_torch_unpickles_them(tmp_path: Path, loader: str) -> None:
    """The positive control of every "the marker never appears" here: the same payloads, given
    in another process to the loaders that unpickle, create their marker. Should a torch
    release stop running them, this fails, instead of the checks above passing vacuously."""
    code, kind = LOADERS[loader]
    marker = tmp_path / "pwned"
    payload = tmp_path / f"payload.{kind}"
    payload.write_bytes(torch_save_payload(marker) if kind == "pt" else pt2_with_payload(marker))
    subprocess.run(
        [sys.executable, "-c", code, str(payload)],
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
        check=False,  # what it does after unpickling (it may fail) is not the point
    )
    assert marker.exists(), f"{loader} no longer runs the payload: the checks above prove nothing"


def test_pickled_and_custom_op_uploads_are_refused_and_never_run(api: Api, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model_id = api.register(OWNER)["model_id"]
    pins = api.pins()
    uploads = [
        (torch_save_payload(marker), "onnx", "zip archive"),
        (torch_save_payload(marker), "safetensors", "zip archive"),
        (pt2_with_payload(marker), "onnx", "zip archive"),
        (custom_domain_onnx(), "onnx", "'com.example.ops'"),
    ]
    for data, fmt, mention in uploads:
        r = api.upload(model_id, data, artifact_format=fmt)
        assert_problem(r, 422, "/problems/invalid-artifact", mention)
    assert api.pins() == pins  # nothing stored
    assert api.ok(f"/v1/models/{model_id}/versions")["total"] == 0
    assert not marker.exists()


def test_a_pt2_is_stored_inert_and_neither_built_nor_served(api: Api, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model_id = register_with_evaluation(api)
    version = api.approved_version(
        model_id, pt2_with_payload(marker), artifact_format="torch-export"
    )
    r = start(api, model_id, version, api.login(OWNER), builds=["fp32-basic"])
    assert r.status_code == 202, r.text
    job = finished(api, r.json()["job_id"])
    assert job["state"] == "failed" and "never loaded" in job["error"], job
    x = digits_split().test_x.numpy()[:2]
    assert_problem(predict_npy(api, version, x), 409, "/problems/conflict", "torch-export")
    assert not marker.exists()


def test_a_job_interrupted_by_a_crash_is_reported_failed(tmp_path: Path) -> None:
    stack = Stack(
        data_dir=tmp_path / "stack",
        extra_env={
            "GOVLEDGER_BUILD_MEASURE_SECONDS": "100",
            "GOVLEDGER_BUILD_MEASURE_ROUNDS": "50",
        },
    ).start()
    try:
        with api_on(stack) as api:
            model, _ = train_digits_mlp(epochs=2)
            model_id = register_with_evaluation(api)
            version = api.approved_version(model_id, save_safetensors(model))
            r = start(api, model_id, version, api.login(OWNER), builds=["fp32-basic"])
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            deadline = time.monotonic() + 120
            while api.ok(f"/v1/builds/{job_id}")["message"].startswith(
                ("waiting", "started", "preparing", "building", "loading")
            ):
                assert time.monotonic() < deadline, "the job never reached its timing"
                time.sleep(0.3)
            assert api.ok(f"/v1/builds/{job_id}")["state"] == "running"
            service = stack._service
            assert service is not None
            service.kill()  # SIGKILL: nothing runs on the way out
            service.wait()
            stack._service = None
            stack.start_service()
            api.wait_ready()
            job = api.ok(f"/v1/builds/{job_id}")
            assert job["state"] == "failed"
            assert "interrupted by a restart of the service while running" in job["error"]
            again = start(api, model_id, version, api.login(OWNER), builds=["fp32-basic"])
            assert again.status_code == 202 and again.json()["job_id"] == job_id + 1
    finally:
        stack.stop()


@pytest.fixture(autouse=True)
def _no_marker_in_cwd() -> None:
    assert not Path("pwned").exists()
