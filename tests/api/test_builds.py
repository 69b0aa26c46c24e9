"""Accelerated builds over HTTP on the real stack: a digits MLP is trained, its evaluation set
registered, its safetensors version approved; the service builds and measures; the owner signs
the proposal of a build; members approve it; it serves predictions that agree with the parent;
its recipe and report round-trip against the chain's digest."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import numpy as np
import pytest
import torch
from eth_account.signers.local import LocalAccount
from safetensors.numpy import save as save_numpy

from service.api.caching import RESTRICTED_CACHING
from service.chain.actions import Domain, store_metadata_statement
from service.ml.digits import DigitsMLP, digits_split, save_safetensors, train_digits_mlp
from tests.api.conftest import (
    MEMBER2,
    OUTSIDER,
    OWNER,
    READER,
    Api,
    assert_problem,
    cid_of,
    digest_of,
    sign_typed_data,
)

BUILDS = ["fp32-basic", "int8-dynamic"]
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while (found := check()) is None:
        assert time.monotonic() < deadline, f"{what} did not finish within {timeout}s"
        time.sleep(0.3)
    return found


def evaluation_request(api: Api, data: bytes, actor: LocalAccount = OWNER) -> httpx.Response:
    """POST an evaluation set with ``actor``'s StoreMetadata signature over its digest."""
    info = api.ok("/v1/info")
    registry = info["contracts"]["ModelRegistry"]
    domain = Domain(
        name=registry["eip712_name"],
        chain_id=info["chain_id"],
        verifying_contract=registry["address"],
    )
    deadline = int(time.time()) + 600
    digest = cid_of(data).digest
    statement = store_metadata_statement(
        domain=domain, digest=digest, actor=actor.address, deadline=deadline
    )
    return api.post(
        "/v1/evaluation-sets",
        params={
            "actor": actor.address,
            "digest": "0x" + digest.hex(),
            "deadline": deadline,
            "signature": sign_typed_data(statement.typed_data(), actor),
        },
        content=data,
        headers={"content-type": "application/octet-stream"},
    )


def evaluation_bytes() -> bytes:
    split = digits_split()
    return save_numpy({"inputs": split.test_x.numpy(), "labels": split.test_y.numpy()})


def register_with_evaluation(api: Api, *, restricted: bool = False) -> int:
    r = evaluation_request(api, evaluation_bytes())
    assert r.status_code == 201, r.text
    stored = r.json()
    doc = api.store_metadata({"task": "digits", "evaluation": {"cid": stored["cid"]}})
    return int(
        api.register(OWNER, restricted=restricted, metadata_digest=doc["digest"])["model_id"]
    )


def start(api: Api, model_id: int, version_id: int, token: str | None, **body: Any) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return api.post(
        f"/v1/models/{model_id}/builds",
        json={"version_id": version_id, **body},
        headers=headers,
    )


def finished(
    api: Api, job_id: int, timeout: float = 300, token: str | None = None
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = api.ok(f"/v1/builds/{job_id}", headers=headers)
        return job if job["state"] in ("succeeded", "failed") else None

    return wait_for(done, timeout, f"build job {job_id}")


def propose(api: Api, job: dict[str, Any], name: str, actor: Any = OWNER) -> Any:
    candidate = next(c for c in job["result"]["candidates"] if c["build"] == name)
    sig = api.signed(
        "ProposeVersion",
        actor,
        {
            "modelId": job["model_id"],
            "parentId": job["version_id"],
            "kind": 2,
            "artifactDigest": candidate["artifact"]["digest"],
            "metadataDigest": candidate["metadata"]["digest"],
        },
    )
    return api.post(f"/v1/builds/{job['job_id']}/candidates/{name}/proposal", json=sig)


@dataclass
class Built:
    model: DigitsMLP
    model_id: int
    parent: int
    job: dict[str, Any]
    fast: int  # the approved int8 build
    exact: int  # the approved fp32 build


@pytest.fixture(scope="module")
def built(api: Api) -> Built:
    model, _ = train_digits_mlp(epochs=5)
    model_id = register_with_evaluation(api)
    parent = api.approved_version(model_id, save_safetensors(model))
    r = start(api, model_id, parent, api.login(OWNER), builds=BUILDS, budget_points=1.0)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/builds/{r.json()['job_id']}"
    assert r.json()["state"] in ("queued", "running")
    job = finished(api, r.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    ids = {}
    for name in BUILDS:
        proposed = propose(api, job, name)
        assert proposed.status_code == 201, proposed.text
        ids[name] = proposed.json()["version"]["version_id"]
        api.approve(ids[name])
    return Built(model, model_id, parent, job, ids["int8-dynamic"], ids["fp32-basic"])


def test_the_job_measures_every_candidate_against_the_parent(built: Built) -> None:
    job = built.job
    assert job["progress"] == 1 and job["error"] is None
    result = job["result"]
    assert result["baseline"] == result["reference"] == "pytorch-eager"
    assert result["parent"]["format"] == "safetensors"
    assert result["parent"]["architecture"] == "DigitsMLP"
    assert result["evaluation"]["rows"] == 450
    assert [r["name"] for r in result["rows"]] == ["pytorch-eager", "ort-fp32-basic",
                                                   "ort-int8-dynamic"]  # fmt: skip
    for row in result["rows"]:
        assert {"p50", "p95"} <= set(row["latency_ms"]["1"]) and row["throughput_per_s"] > 0
    assert [c["build"] for c in result["candidates"]] == BUILDS and result["refused"] == []
    report = json.loads(result["report"]["document"])
    assert report["rows"] == result["rows"]
    assert report["machine"]["cores"] >= 1 and report["threads"] == 1
    assert set(report["libraries"]) >= {"torch", "onnx", "onnxruntime", "python"}


def test_build_versions_link_to_their_approved_parent(api: Api, built: Built) -> None:
    for version_id in (built.fast, built.exact):
        version = api.ok(f"/v1/versions/{version_id}")
        assert version["kind"] == "accelerated" and version["parent_id"] == built.parent
        assert version["state"] == "approved"
        assert version["proposer"] == OWNER.address


def test_recipe_and_report_round_trip_against_the_chains_digest(api: Api, built: Built) -> None:
    docs = api.ok(f"/v1/versions/{built.fast}/build")
    version = api.ok(f"/v1/versions/{built.fast}")
    metadata = docs["metadata"]["document"].encode()
    assert digest_of(metadata) == version["metadata_digest"]  # the chain commits to it
    meta = json.loads(metadata)
    for key in ("recipe", "metrics"):
        text = docs[key]["document"].encode()
        assert str(cid_of(text)) == meta[key]["cid"] == docs[key]["cid"]
        assert digest_of(text) == meta[key]["digest"]
    recipe = json.loads(docs["recipe"]["document"])
    assert recipe["build"] == "int8-dynamic"
    assert recipe["options"]["weight_type"] == "QInt8"
    assert recipe["parent"]["version_id"] == built.parent
    assert (
        recipe["parent"]["artifact_digest"]
        == api.ok(f"/v1/versions/{built.parent}")["artifact_digest"]
    )
    assert recipe["libraries"]["onnxruntime"] and recipe["machine"]["cpu"]
    assert meta["artifact"]["cid"] == version["artifact_cid"]
    report = json.loads(docs["metrics"]["document"])
    assert report == json.loads(built.job["result"]["report"]["document"])
    # a version that is not a build has no such documents
    assert_problem(api.get(f"/v1/versions/{built.parent}/build"), 404, "/problems/not-found")


def predictions(api: Api, version_id: int, batch: np.ndarray, **headers: str) -> list[int]:
    r = predict_npy(api, version_id, batch, **headers)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [len(batch), 10]
    return list(r.json()["predictions"])


def predict_npy(api: Api, version_id: int, batch: np.ndarray, **headers: str) -> Any:
    import io

    buffer = io.BytesIO()
    np.save(buffer, batch, allow_pickle=True)
    return api.post(
        f"/v1/versions/{version_id}/predict",
        content=buffer.getvalue(),
        headers={"content-type": "application/x-npy", **headers},
    )


def test_predictions_of_the_builds_agree_with_the_parent(api: Api, built: Built) -> None:
    x = digits_split().test_x
    with torch.inference_mode():
        parent = built.model(x).argmax(1).numpy()
    exact = np.array(predictions(api, built.exact, x.numpy()))
    fast = np.array(predictions(api, built.fast, x.numpy()))
    assert (exact == parent).all()
    assert (fast == parent).mean() >= 0.97
    as_json = api.post(f"/v1/versions/{built.fast}/predict", json={"inputs": x[:3].tolist()})
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["predictions"] == list(fast[:3])
    safetensors_body = save_numpy({"pixels": x[:4].numpy()})
    r = api.post(
        f"/v1/versions/{built.exact}/predict",
        content=safetensors_body,
        headers={"content-type": "application/x-safetensors"},
    )
    assert r.status_code == 200 and r.json()["predictions"] == list(exact[:4])


def test_predict_refuses_wrong_shapes_dtypes_and_bodies(
    api: Api, built: Built, tmp_path: Any
) -> None:
    x = digits_split().test_x.numpy()
    path = f"/v1/versions/{built.fast}/predict"
    wrong = [
        (predict_npy(api, built.fast, x[:2].astype(np.float64)), "must be float32, not float64"),
        (predict_npy(api, built.fast, x[:2, :63]), "dimension 1 is 63, not 64"),
        (predict_npy(api, built.fast, x[:2].reshape(2, 8, 8)), "must have 2 dimensions"),
        (api.post(path, json={"inputs": [[1.0] * 64, [1.0] * 3]}), "not a rectangular"),
        (api.post(path, json={"inputs": [["a"] * 64]}), "numbers only"),
        (api.post(path, json={"inputs": {"other": [[0.0] * 64]}}), "no input 'other'"),
        (api.post(path, content=b"x", headers={"content-type": "text/plain"}), "not accepted"),
    ]
    for response, mention in wrong:
        assert_problem(response, 422, "/problems/invalid-input", mention)
    # an object array needs pickle: refused, and the payload never runs
    marker = tmp_path / "pwned"
    payload = np.array([_Marker(str(marker))], dtype=object)
    assert_problem(
        predict_npy(api, built.fast, payload), 422, "/problems/invalid-input", "unpickling"
    )
    assert not marker.exists()


class _Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_predict_serves_only_approved_onnx_versions(api: Api, built: Built) -> None:
    x = digits_split().test_x.numpy()[:2]
    assert_problem(predict_npy(api, built.parent, x), 409, "/problems/conflict", "is safetensors")
    onnx_bytes = api.get(f"/v1/versions/{built.exact}/artifact").content
    unapproved = api.propose(
        built.model_id, onnx_bytes, artifact_format="onnx", allow_duplicate=True
    )["version_id"]
    assert_problem(predict_npy(api, unapproved, x), 409, "/problems/conflict", "is proposed")
    # only those who may propose the model's versions can propose its builds
    r = propose(api, built.job, "int8-dynamic", actor=MEMBER2)
    assert_problem(r, 403, "/problems/registry-not-maintainer")


def test_starting_a_build_is_for_maintainers_of_approved_versions(api: Api, built: Built) -> None:
    no_session = start(api, built.model_id, built.parent, None)
    assert_problem(no_session, 401, "/problems/unauthenticated", "sign-in session")
    outsider = start(api, built.model_id, built.parent, api.login(OUTSIDER))
    assert_problem(outsider, 403, "/problems/forbidden", "only its owner and maintainers")
    token = api.login(OWNER)
    proposed = api.propose(built.model_id)["version_id"]
    assert_problem(
        start(api, built.model_id, proposed, token), 409, "/problems/conflict", "is proposed"
    )
    assert_problem(
        start(api, built.model_id, built.parent, token, builds=["int4-magic"]),
        422,
        "/problems/invalid-request",
    )
    bare = api.register(OWNER)["model_id"]
    bare_version = api.approved_version(bare, save_safetensors(built.model))
    assert_problem(
        start(api, bare, bare_version, token), 409, "/problems/conflict", "no evaluation set"
    )
    assert_problem(
        api.post(f"/v1/builds/{built.job['job_id']}/candidates/fp16/proposal",
                 json=api.signed("Resign", OWNER, {})),
        404, "/problems/not-found", "no accepted build 'fp16'",
    )  # fmt: skip


def test_an_evaluation_set_must_hold_inputs_and_labels(api: Api) -> None:
    pins = api.pins()
    bad = save_numpy({"inputs": np.zeros((4, 64), np.float32)})
    r = evaluation_request(api, bad)
    assert_problem(r, 422, "/problems/invalid-input", "'inputs' (F32) and 'labels' (I64)")
    assert api.pins() == pins
    r = evaluation_request(api, evaluation_bytes(), actor=OUTSIDER)
    assert_problem(r, 403, "/problems/forbidden", "not a member")


def test_restricted_models_predict_only_for_readers(api: Api) -> None:
    """An ONNX version uploaded directly (format onnx), on a restricted model."""
    from service.ml.accelerate.export import export_onnx

    model, _ = train_digits_mlp(epochs=2)
    model_id = register_with_evaluation(api, restricted=True)
    onnx_bytes = export_onnx(model, digits_split().test_x[:4])
    version = api.approved_version(model_id, onnx_bytes, artifact_format="onnx")
    x = digits_split().test_x.numpy()[:3]
    assert_problem(predict_npy(api, version, x), 401, "/problems/unauthenticated")
    reader = OUTSIDER
    token = api.login(reader)
    denied = predict_npy(api, version, x, authorization=f"Bearer {token}")
    assert_problem(denied, 403, "/problems/forbidden", "read right")
    granted = api.change_rights("grant", model_id, reader.address, ["read_artifacts"])
    assert granted.status_code == 200, granted.text
    r = predict_npy(api, version, x, authorization=f"Bearer {token}")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == RESTRICTED_CACHING
    assert len(r.json()["predictions"]) == 3


def test_build_jobs_of_a_restricted_model_are_shown_only_to_readers(api: Api) -> None:
    """A job's result names the parent's CID and carries the table and documents made from its
    bytes: read under the download rule, like the parent's artifact."""
    model, _ = train_digits_mlp(epochs=2)
    model_id = register_with_evaluation(api, restricted=True)
    parent = api.approved_version(model_id, save_safetensors(model))
    owner = api.login(OWNER)
    r = start(api, model_id, parent, owner, builds=["fp32-basic"])
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    job = finished(api, job_id, token=owner)
    assert job["state"] == "succeeded", job["error"]
    reads = (f"/v1/builds/{job_id}", f"/v1/models/{model_id}/builds")
    outsider = {"authorization": f"Bearer {api.login(OUTSIDER)}"}
    reader = {"authorization": f"Bearer {api.login(READER)}"}
    for path in reads:
        anonymous = api.get(path)
        assert_problem(anonymous, 401, "/problems/unauthenticated", "sign in with Ethereum")
        assert job["result"]["parent"]["artifact_cid"] not in anonymous.text
        denied = api.get(path, headers=outsider)
        assert_problem(denied, 403, "/problems/forbidden", OUTSIDER.address, str(model_id))
        assert_problem(api.get(path, headers=reader), 403, "/problems/forbidden", "read right")
    granted = api.change_rights("grant", model_id, READER.address, ["read_artifacts"])
    assert granted.status_code == 200, granted.text
    shown = api.get(reads[0], headers=reader)
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == RESTRICTED_CACHING
    assert shown.json()["result"] == job["result"]
    listed = api.get(reads[1], headers=reader)
    assert listed.status_code == 200, listed.text
    assert listed.headers["cache-control"] == RESTRICTED_CACHING
    assert [j["job_id"] for j in listed.json()] == [job_id]
    # an open model's jobs need no session (and no Cache-Control: a job changes as it runs)
    open_jobs = api.get(f"/v1/models/{register_with_evaluation(api)}/builds")
    assert open_jobs.status_code == 200 and open_jobs.json() == []
    assert "cache-control" not in open_jobs.headers


def fresh_onnx() -> tuple[DigitsMLP, bytes]:
    """A digits MLP as ONNX bytes no other test uploads (one bias moved by a random amount)."""
    from service.ml.accelerate.export import export_onnx

    model, _ = train_digits_mlp(epochs=2)
    with torch.no_grad():
        model.net[0].bias[0] += float(np.random.default_rng().uniform(0.01, 0.1))
    return model, export_onnx(model, digits_split().test_x[:4])


def test_prediction_sessions_are_cached_by_digest(api: Api) -> None:
    """The first prediction of an artifact reads its bytes from the store (verified) and loads
    a session; later ones, of that version or of any version with the same bytes, do not read
    the store again (the bytes read out of the store are counted in /metrics)."""
    from tests.api.test_service import metric_samples, value

    _, onnx_bytes = fresh_onnx()
    first = api.approved_version(register_with_evaluation(api), onnx_bytes, artifact_format="onnx")
    same_bytes = api.approved_version(api.register(OWNER)["model_id"], onnx_bytes,
                                      artifact_format="onnx")  # fmt: skip
    x = digits_split().test_x.numpy()[:5]

    def read_out_while(version_id: int) -> tuple[float, list[int]]:
        before = value(metric_samples(api), "govledger_store_bytes_total", direction="out")
        answer = predictions(api, version_id, x)
        after = value(metric_samples(api), "govledger_store_bytes_total", direction="out")
        return after - before, answer

    loaded, answer = read_out_while(first)
    assert loaded == len(onnx_bytes)  # read once, in full
    assert read_out_while(first) == (0, answer)  # the cached session
    assert read_out_while(same_bytes) == (0, answer)  # keyed by the digest, not the version


def test_predict_refuses_a_version_whose_stored_bytes_were_tampered_with(api: Api) -> None:
    """A stored block that no longer matches its CID (so not the digest on chain) is refused
    while it streams, before anything loads it; the same version serves again once the bytes
    are the ones the chain records."""
    import hashlib

    from service.store.cid import CHUNK_SIZE
    from service.store.flatfs import FlatFS

    model, onnx_bytes = fresh_onnx()
    version = api.approved_version(register_with_evaluation(api), onnx_bytes,
                                   artifact_format="onnx")  # fmt: skip
    leaf = hashlib.sha256(onnx_bytes[:CHUNK_SIZE]).digest()
    path = FlatFS(api.stack.settings.store_dir).path(leaf)
    original = path.read_bytes()
    tampered = bytearray(original)
    tampered[-1] ^= 0x01  # one bit of the last weight
    x = digits_split().test_x.numpy()[:5]
    path.write_bytes(bytes(tampered))
    try:
        refused = predict_npy(api, version, x)
    finally:
        path.write_bytes(original)
    assert_problem(refused, 500, "/problems/integrity-error", "match its CID", "Restore it")
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).argmax(1).tolist()
    assert predictions(api, version, x) == expected  # nothing bad was cached
