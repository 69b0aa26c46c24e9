"""The service itself over HTTP: liveness, readiness, metrics, /v1/info, action preparation,
the OpenAPI document and its docs page."""

from __future__ import annotations

import re
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from service.chain.accounts import dev_account
from tests.api.conftest import (
    OWNER,
    PROBLEM_JSON,
    Api,
    assert_problem,
    fresh_artifact,
    sign_typed_data,
)


def test_health_and_ready(api: Api) -> None:
    r = api.get("/health")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = api.get("/ready")
    assert r.status_code == 200
    body = r.json()
    index = body.pop("index")
    assert body == {"ready": True, "chain": "ok", "store": "ok", "contracts": "ok", "journal": "ok"}
    # the event index's own state, informational: not yet written or catching up at first,
    # then used, at most a block or so behind (it follows the chain every second)
    deadline = time.monotonic() + 30
    while not index.startswith("ok:") and time.monotonic() < deadline:
        time.sleep(0.2)
        index = api.get("/ready").json()["index"]
    assert re.fullmatch(r"ok: at block \d+, \d+ behind the latest", index), index


def metric_samples(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_per_route_chain_calls_and_store_bytes(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    data = fresh_artifact()
    before = metric_samples(api)

    for _ in range(3):
        api.ok(f"/v1/models/{model_id}")
    api.get("/v1/models/987654")
    version = api.propose(model_id, data)
    assert api.get(f"/v1/artifacts/{version['artifact_cid']}").content == data
    after = metric_samples(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "govledger_http_requests_total"
    route = "/v1/models/{model_id}"
    assert delta(requests, method="GET", route=route, status="200") == 3
    assert delta(requests, method="GET", route=route, status="404") == 1
    assert delta(requests, method="POST", route="/v1/models/{model_id}/versions", status="201") == 1
    assert delta(requests, method="GET", route="/v1/artifacts/{cid}", status="200") == 1
    assert delta("govledger_http_request_duration_seconds_count", method="GET", route=route) == 4
    # no label per resource id
    assert not any("987654" in dict(labels).get("route", "") for _, labels in after)

    assert delta("govledger_chain_calls_total", kind="transaction", outcome="ok") == 1
    assert delta("govledger_chain_calls_total", kind="read", outcome="ok") >= 4
    assert delta("govledger_chain_calls_total", kind="read", outcome="error") >= 1  # the 404
    assert delta("govledger_store_bytes_total", direction="in") == len(data)
    assert delta("govledger_store_bytes_total", direction="out") == len(data)


def test_info(api: Api) -> None:
    info = api.ok("/v1/info")
    assert info["chain_id"] == 31337
    assert info["relayer"] == dev_account(0).address
    assert info["store_backend"] == "embedded"
    assert info["max_upload_bytes"] == 2 * 1024**3
    assert info["siwe_domain"] == f"127.0.0.1:{api.stack.service_port}"
    assert set(info["contracts"]) == {"Consortium", "ModelRegistry", "FederatedRounds"}
    for name, contract in info["contracts"].items():
        assert contract["eip712_name"] == f"GovLedger {name}"
        assert contract["eip712_version"] == "1"
        assert api.rpc("eth_getCode", contract["address"], "latest") not in ("0x", "0x0")
    assert 0 < info["deploy_block"] <= api.block_number()


def test_prepare_builds_what_the_contract_checks(api: Api) -> None:
    info = api.ok("/v1/info")
    prepared = api.prepare("CastVote", OWNER, {"versionId": 1, "support": 1})
    typed = prepared["typed_data"]
    assert typed["primaryType"] == "CastVote"
    assert typed["domain"] == {
        "name": "GovLedger ModelRegistry",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": info["contracts"]["ModelRegistry"]["address"],
    }
    assert typed["message"]["actor"] == OWNER.address
    assert typed["message"]["nonce"] == prepared["nonce"]
    assert prepared["deadline"] > api.block_timestamp(api.block_number())
    assert sign_typed_data(typed, OWNER)  # a wallet can sign it as is

    explicit = api.prepare("Resign", OWNER, {}, deadline=2_000_000_000)
    assert explicit["deadline"] == 2_000_000_000
    assert explicit["typed_data"]["domain"]["name"] == "GovLedger Consortium"

    def refused(body: dict[str, Any], *mentions: object) -> None:
        assert_problem(api.post("/v1/actions/prepare", json=body), 422, *mentions)

    refused({"action": "Nope", "actor": OWNER.address}, "/problems/invalid-input", "'Nope'")
    refused(
        {"action": "CastVote", "actor": OWNER.address, "args": {"versionId": 1}},
        "/problems/invalid-input",
        "'support'",
    )
    refused(
        {"action": "CastVote", "actor": OWNER.address, "args": {"versionId": -1, "support": 1}},
        "/problems/invalid-input",
        "versionId",
    )
    refused(
        {"action": "Resign", "actor": OWNER.address, "args": {"x": 1}},
        "/problems/invalid-input",
        "'x'",
    )
    refused({"action": "Resign", "actor": "0x12"}, "/problems/invalid-request", "actor")
    # JSON types as documented: no boolean or string for an integer
    refused(
        {"action": "Resign", "actor": OWNER.address, "deadline": False},
        "/problems/invalid-request",
        "deadline",
    )
    refused(
        {"action": "Resign", "actor": OWNER.address, "deadline": "2000000000"},
        "/problems/invalid-request",
        "deadline",
    )


def test_unknown_route_is_problem_json(api: Api) -> None:
    r = api.get("/v1/nowhere")
    assert_problem(r, 404, "about:blank", "/v1/nowhere")
    r = api.http.patch("/v1/models")
    assert r.status_code == 405
    assert r.headers["content-type"] == PROBLEM_JSON
    assert r.json()["status"] == 405
    assert r.headers["allow"] == "GET, POST"  # every method of the path
    r = api.http.delete("/v1/models/1/metadata")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, PUT")


def test_docs_page(api: Api) -> None:
    r = api.get("/docs")
    assert r.status_code == 200
    assert "swagger-ui" in r.text
    assert "/openapi.json" in r.text


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        node = spec["components"]["schemas"][name]
    return node


def test_both_downloads_warn_in_openapi_that_loading_a_pt2_may_run_code(api: Api) -> None:
    spec = api.ok("/openapi.json")
    for path in ("/v1/artifacts/{cid}", "/v1/versions/{version_id}/artifact"):
        description = spec["paths"][path]["get"]["description"]
        assert "torch.export archive (.pt2)" in description, path
        assert "torch.export.load unpickles" in description and "`warning`" in description


def test_openapi_documents_every_operation_with_examples(api: Api) -> None:
    spec = api.ok("/openapi.json")
    operations = {
        (method.upper(), path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    expected = {
        ("POST", "/v1/models"), ("GET", "/v1/models"), ("GET", "/v1/models/{model_id}"),
        ("GET", "/v1/models/by-name/{name}"), ("PUT", "/v1/models/{model_id}/metadata"),
        ("GET", "/v1/models/{model_id}/metadata"), ("POST", "/v1/metadata"),
        ("PUT", "/v1/models/{model_id}/owner"), ("POST", "/v1/models/{model_id}/owner/accept"),
        ("PUT", "/v1/models/{model_id}/read-policy"),
        ("POST", "/v1/models/{model_id}/versions"), ("GET", "/v1/models/{model_id}/versions"),
        ("GET", "/v1/versions/{version_id}"), ("POST", "/v1/versions/{version_id}/finalize"),
        ("POST", "/v1/versions/{version_id}/votes"), ("GET", "/v1/versions/{version_id}/votes"),
        ("GET", "/v1/versions/{version_id}/artifact"),
        ("PUT", "/v1/models/{model_id}/aliases/{alias}"),
        ("GET", "/v1/models/{model_id}/aliases/{alias}"),
        ("GET", "/v1/models/{model_id}/aliases/{alias}/history"),
        ("GET", "/v1/models/{model_id}/aliases"),
        ("POST", "/v1/models/{model_id}/rights/{account}/grant"),
        ("POST", "/v1/models/{model_id}/rights/{account}/revoke"),
        ("GET", "/v1/models/{model_id}/rights/{account}"), ("GET", "/v1/models/{model_id}/rights"),
        ("GET", "/v1/accounts/{account}/rights"), ("GET", "/v1/members"),
        ("GET", "/v1/consortium"), ("POST", "/v1/membership-proposals"),
        ("GET", "/v1/membership-proposals"), ("POST", "/v1/members/resign"),
        ("POST", "/v1/membership-proposals/{proposal_id}/votes"),
        ("GET", "/v1/artifacts/{cid}"), ("GET", "/v1/auth/nonce"), ("POST", "/v1/auth/login"),
        ("DELETE", "/v1/auth/session"), ("GET", "/health"), ("GET", "/ready"),
        ("GET", "/metrics"), ("GET", "/v1/info"), ("POST", "/v1/actions/prepare"),
        ("POST", "/v1/models/{model_id}/builds"), ("GET", "/v1/models/{model_id}/builds"),
        ("GET", "/v1/builds/{job_id}"), ("POST", "/v1/builds/{job_id}/candidates/{name}/proposal"),
        ("GET", "/v1/versions/{version_id}/build"), ("POST", "/v1/versions/{version_id}/predict"),
        ("POST", "/v1/evaluation-sets"),
        ("GET", "/v1/models/{model_id}/versions/{number}"), ("GET", "/v1/versions/by-ref/{ref}"),
        ("GET", "/v1/versions"), ("GET", "/v1/versions/{version_id}/metadata"),
        ("POST", "/v1/versions/{version_id}/votes/reason"), ("GET", "/v1/ballots"),
        ("POST", "/v1/models/{model_id}/rounds"), ("GET", "/v1/models/{model_id}/rounds"),
        ("GET", "/v1/rounds"), ("GET", "/v1/rounds/{round_id}"),
        ("POST", "/v1/rounds/{round_id}/updates"), ("POST", "/v1/rounds/{round_id}/close"),
        ("POST", "/v1/rounds/{round_id}/cancel"), ("POST", "/v1/rounds/{round_id}/aggregate"),
        ("POST", "/v1/rounds/{round_id}/finalize"),
    }  # fmt: skip
    assert expected <= set(operations)

    with_body = 0
    for key, op in operations.items():
        assert op.get("summary"), key
        assert op.get("description"), key  # the route's docstring
        body = op.get("requestBody")
        if body is None:
            continue
        with_body += 1
        for media, content in body["content"].items():
            schema = _resolve(spec, content.get("schema", {}))
            examples = content.get("example") or content.get("examples") or schema.get("examples")
            assert examples, f"{key} {media} has no example"
        if key[1].startswith("/v1/"):
            assert "422" in op["responses"], key
    assert with_body == 26
    # reads of open content need no token: the Bearer scheme is optional there
    for key in [
        ("GET", "/v1/artifacts/{cid}"),
        ("GET", "/v1/versions/{version_id}/artifact"),
        ("GET", "/v1/models/{model_id}/metadata"),
        ("GET", "/v1/versions/{version_id}/build"),
        ("POST", "/v1/versions/{version_id}/predict"),
        ("GET", "/v1/versions/{version_id}/metadata"),
        ("GET", "/v1/versions"),
    ]:
        assert operations[key]["security"] == [{"HTTPBearer": []}, {}], key
    assert operations[("DELETE", "/v1/auth/session")]["security"] == [{"HTTPBearer": []}]
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["required"])
