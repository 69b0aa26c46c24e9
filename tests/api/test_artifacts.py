"""Artifacts over HTTP: download by CID verified against the CID, read rights of restricted
models checked on chain at request time (Sign-In with Ethereum sessions)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid
from tests.api.conftest import (
    MEMBER2,
    OWNER,
    READER,
    Api,
    assert_problem,
    cid_of,
    fresh_artifact,
)


def verified_download(api: Api, path: str, expected: bytes, **kw: Any) -> None:
    """The body is the artifact, and its CID recomputed here is the one the service names."""
    r = api.get(path, **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    cid, size = compute_cid(iter_chunks(r.content))
    assert size == len(expected)
    assert str(cid) == r.headers["x-content-cid"] == str(cid_of(expected))
    assert r.headers["etag"] == f'"{cid}"'
    assert r.headers["content-length"] == str(len(expected))  # from the root block, up front
    assert r.content == expected


def test_open_model_artifact_by_cid(api: Api) -> None:
    model = api.register(OWNER)
    data = fresh_artifact()
    version = api.propose(model["model_id"], data)
    cid = version["artifact_cid"]
    verified_download(api, f"/v1/artifacts/{cid}", data)
    verified_download(api, f"/v1/versions/{version['version_id']}/artifact", data)


@pytest.fixture
def restricted(api: Api) -> dict[str, Any]:
    model = api.register(OWNER, restricted=True)
    data = fresh_artifact()
    version = api.propose(model["model_id"], data)
    return {"model": model, "version": version, "data": data}


def test_restricted_artifact_needs_the_read_right_on_chain_now(
    api: Api, restricted: dict[str, Any]
) -> None:
    model_id = restricted["model"]["model_id"]
    data = restricted["data"]
    paths = [
        f"/v1/artifacts/{restricted['version']['artifact_cid']}",
        f"/v1/versions/{restricted['version']['version_id']}/artifact",
    ]

    for path in paths:
        r = api.get(path)
        assert_problem(r, 401, "/problems/unauthenticated", "restricted", "sign in")
        assert r.headers["www-authenticate"].startswith("Bearer")

    reader = {"authorization": f"Bearer {api.login(READER)}"}
    for path in paths:
        assert_problem(
            api.get(path, headers=reader), 403, "/problems/forbidden", READER.address, str(model_id)
        )

    assert (
        api.change_rights("grant", model_id, READER.address, ["read_artifacts"]).status_code == 200
    )
    for path in paths:
        verified_download(api, path, data, headers=reader)

    # the same session, after the right is revoked: refused again (asked of the chain per request)
    assert (
        api.change_rights("revoke", model_id, READER.address, ["read_artifacts"]).status_code == 200
    )
    for path in paths:
        assert_problem(api.get(path, headers=reader), 403, "/problems/forbidden", READER.address)

    owner = {"authorization": f"Bearer {api.login(OWNER)}"}
    verified_download(api, paths[0], data, headers=owner)


def test_read_policy_change_applies_at_once(api: Api, restricted: dict[str, Any]) -> None:
    model_id = restricted["model"]["model_id"]
    path = f"/v1/artifacts/{restricted['version']['artifact_cid']}"
    assert api.get(path).status_code == 401
    sig = api.signed("SetReadPolicy", OWNER, {"modelId": model_id, "restricted": False})
    assert (
        api.put(f"/v1/models/{model_id}/read-policy", json={"restricted": False, **sig}).status_code
        == 200
    )
    verified_download(api, path, restricted["data"])


def test_unknown_malformed_and_unsupported_cids(api: Api) -> None:
    never_stored = cid_of(b"bytes no model references")
    assert_problem(
        api.get(f"/v1/artifacts/{never_stored}"), 404, "/problems/not-found", never_stored
    )
    assert_problem(api.get("/v1/artifacts/not-a-cid"), 422, "/problems/invalid-cid", "'not-a-cid'")
    # multibase of a binary CID that carries a version prefix of 0 (CIDv0 has none)
    prefixed_v0 = "b" + base64.b32encode(bytes.fromhex("00551220") + bytes(32)).decode()
    prefixed_v0 = prefixed_v0.lower().rstrip("=")
    assert_problem(
        api.get(f"/v1/artifacts/{prefixed_v0}"),
        422,
        "/problems/invalid-cid",
        "version prefix 0, but a CIDv0 has no prefix",
    )
    dag_cbor = "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    assert_problem(
        api.get(f"/v1/artifacts/{dag_cbor}"), 422, "/problems/unsupported-cid", "codec 0x71"
    )


def test_bad_tokens_are_401(api: Api, restricted: dict[str, Any]) -> None:
    path = f"/v1/artifacts/{restricted['version']['artifact_cid']}"
    r = api.get(path, headers={"authorization": "Bearer not-a-session"})
    assert_problem(r, 401, "/problems/unauthenticated", "unknown or expired")
    assert r.headers["www-authenticate"].startswith("Bearer")
    # a token is checked even for content anyone may read
    open_model = api.register(MEMBER2)
    version = api.propose(open_model["model_id"], actor=MEMBER2)
    r = api.get(f"/v1/artifacts/{version['artifact_cid']}", headers={"authorization": "Bearer x"})
    assert_problem(r, 401, "/problems/unauthenticated", "sign in again")
