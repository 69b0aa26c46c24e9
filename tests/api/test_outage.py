"""With the chain or the content store down the service stays alive and says so: what needs
the missing backend answers 503 problem+json with Retry-After, /ready is 503, /health is 200;
once the backend is back, all of it works again without restarting the service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import (
    OWNER,
    PROBLEM_JSON,
    READER,
    ZERO32,
    TcpSwitch,
    api_on,
    cid_of,
    fresh_artifact,
    unique_name,
)
from tests.stack import Stack
from tests.store.fake_kubo import FakeKubo


def assert_unavailable(
    r: httpx.Response, what: str, type_: str = "/problems/chain-unavailable"
) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM_JSON, what
    assert int(r.headers["retry-after"]) > 0, what
    body = r.json()
    assert body["type"] == type_, (what, body)
    assert ("chain" if "chain" in type_ else "kubo") in body["detail"], what


def test_chain_down_is_503_and_recovers(private_stack: Stack) -> None:
    stack = private_stack
    with api_on(stack) as api:
        model = api.register(OWNER)
        model_id = model["model_id"]
        data = fresh_artifact()
        version = api.propose(model_id, data)
        version_id = version["version_id"]
        api.approve(version_id)
        assert api.move_alias(model_id, "production", version_id).status_code == 200
        token = api.login(READER)
        name = unique_name()
        register = {
            "name": name,
            **api.signed(
                "RegisterModel",
                OWNER,
                {"name": name, "metadataDigest": ZERO32, "restricted": False},
            ),
        }
        vote = api.signed("CastVote", READER, {"versionId": version_id, "support": 1})
        reads = [
            "/v1/models",
            f"/v1/models/{model_id}",
            f"/v1/models/by-name/{model['name']}",
            f"/v1/models/{model_id}/versions",
            f"/v1/versions/{version_id}",
            f"/v1/versions/{version_id}/votes",
            f"/v1/versions/{version_id}/artifact",
            f"/v1/artifacts/{version['artifact_cid']}",
            f"/v1/models/{model_id}/aliases",
            f"/v1/models/{model_id}/aliases/production",
            f"/v1/models/{model_id}/aliases/production/history",
            f"/v1/models/{model_id}/rights",
            f"/v1/models/{model_id}/rights/{READER.address}",
            f"/v1/accounts/{READER.address}/rights",
            "/v1/members",
            "/v1/consortium",
            "/v1/membership-proposals",
            "/v1/membership-proposals/1",
        ]
        answered = {path: api.get(path).status_code for path in reads}
        assert answered == {path: 200 for path in reads[:-1]} | {reads[-1]: 404}

        stack.stop_chain()

        assert api.get("/health").json() == {"status": "ok"}
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert int(ready.headers["retry-after"]) > 0
        assert ready.json()["ready"] is False
        assert ready.json()["store"] == "ok"
        assert ready.json()["chain"] != "ok"

        for path in reads:
            assert_unavailable(api.get(path), path)
        signed_in = {"authorization": f"Bearer {token}"}
        assert_unavailable(api.get(reads[6], headers=signed_in), "signed-in download")
        assert_unavailable(api.post("/v1/models", json=register), "register")
        assert_unavailable(
            api.post(f"/v1/versions/{version_id}/votes", json={"support": "for", **vote}), "vote"
        )
        assert_unavailable(api.post(f"/v1/versions/{version_id}/finalize"), "finalize")
        assert_unavailable(
            api.post("/v1/actions/prepare", json={"action": "Resign", "actor": OWNER.address}),
            "prepare",
        )
        assert_unavailable(
            api.post(
                f"/v1/models/{model_id}/versions",
                params={
                    "artifact_format": "safetensors",
                    "artifact_cid": str(cid_of(data)),
                    **register,
                },
                content=data,
                headers={"content-type": "application/octet-stream"},
            ),
            "upload",
        )
        # what the deployment record or the store alone can answer still works
        assert api.ok("/v1/info")["chain_id"] == 31337
        assert api.ok("/v1/auth/nonce")["chain_id"] == 31337
        # storing metadata needs the chain too (only members may, asked of the chain now)
        assert_unavailable(api.metadata_request({"during": "outage"}), "metadata")
        assert api.get("/metrics").status_code == 200

        stack.start_chain()

        assert api.wait_ready()["ready"] is True
        assert {path: api.get(path).status_code for path in reads} == answered
        assert api.get(f"/v1/versions/{version_id}/artifact").content == data
        assert api.metadata_request({"during": "outage"}).status_code == 201
        r = api.post("/v1/models", json=register)  # the signature made before the outage
        assert r.status_code == 201, r.text
        assert r.json()["model"]["name"] == name


@pytest.fixture
def kubo_behind_a_switch(tmp_path: Path) -> Iterator[tuple[Stack, TcpSwitch]]:
    """A stack whose content store is a kubo RPC node reached through a TcpSwitch. The node is
    the loopback fake of tests/store (no kubo daemon can be installed here; see its module)."""
    kubo = FakeKubo(tmp_path / "kubo")
    switch = TcpSwitch(int(kubo.url.rsplit(":", 1)[1]))
    stack = Stack(
        data_dir=tmp_path / "stack", extra_env={"GOVLEDGER_IPFS_API_URL": switch.url}
    ).start()
    yield stack, switch
    stack.stop()
    switch.down()
    kubo.stop()


def test_store_down_is_503_and_recovers(kubo_behind_a_switch: tuple[Stack, TcpSwitch]) -> None:
    stack, switch = kubo_behind_a_switch
    with api_on(stack) as api:
        assert api.ok("/v1/info")["store_backend"] == "kubo"
        model_id = api.register(OWNER)["model_id"]
        data = fresh_artifact()
        version = api.approved_version(model_id, data)
        download = f"/v1/versions/{version}/artifact"
        assert api.get(download).content == data

        switch.down()

        assert api.get("/health").status_code == 200
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert int(ready.headers["retry-after"]) > 0
        assert (ready.json()["chain"], ready.json()["contracts"]) == ("ok", "ok")
        assert ready.json()["store"] != "ok"

        unavailable = "/problems/store-unavailable"
        assert_unavailable(api.get(download), "download", unavailable)
        assert_unavailable(api.get(f"/v1/artifacts/{cid_of(data)}"), "by CID", unavailable)
        assert_unavailable(api.metadata_request({"a": 1}), "metadata", unavailable)
        other = fresh_artifact()
        assert_unavailable(api.upload(model_id, other), "upload", unavailable)
        # what lives on chain alone is still served, and the refused upload proposed nothing
        assert api.ok(f"/v1/models/{model_id}")["owner"] == OWNER.address
        assert api.ok(f"/v1/models/{model_id}/versions")["total"] == 1

        switch.up()

        assert api.wait_ready()["ready"] is True
        assert api.get(download).content == data
        assert api.propose(model_id, other)["artifact_cid"] == str(cid_of(other))


def assert_store_unavailable(r: httpx.Response, what: str, store_dir: Path) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM_JSON, what
    assert int(r.headers["retry-after"]) > 0, what
    body = r.json()
    assert body["type"] == "/problems/store-unavailable", (what, body)
    assert str(store_dir) in body["detail"], (what, body["detail"])


@pytest.mark.parametrize("breakage", ["removed", "replaced by a file"])
def test_embedded_store_missing_is_503_and_recovers(private_stack: Stack, breakage: str) -> None:
    """The embedded store's directory removed (moved away) or replaced by a file: uploads,
    metadata and reads answer 503 with Retry-After, never 500 or 404, and work again once the
    directory is back, without restarting the service."""
    stack = private_stack
    store_dir = stack.settings.store_dir
    with api_on(stack) as api:
        doc = {"about": unique_name()}
        stored = api.store_metadata(doc)
        model_id = api.register(OWNER, metadata_digest=stored["digest"])["model_id"]
        data = fresh_artifact()
        version = api.propose(model_id, data)
        reads = [
            f"/v1/versions/{version['version_id']}/artifact",
            f"/v1/artifacts/{version['artifact_cid']}",
            f"/v1/artifacts/{stored['cid']}",
            f"/v1/models/{model_id}/metadata",
        ]
        assert [api.get(path).status_code for path in reads] == [200] * len(reads)

        away = store_dir.with_name("store.away")
        store_dir.rename(away)
        if breakage == "replaced by a file":
            store_dir.write_bytes(b"not a directory")

        for path in reads:
            assert_store_unavailable(api.get(path), path, store_dir)
        other = fresh_artifact()
        assert_store_unavailable(api.upload(model_id, other), "upload", store_dir)
        assert_store_unavailable(api.metadata_request({"a": 1}), "metadata", store_dir)
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert str(store_dir) in ready.json()["store"]
        # nothing was proposed by the refused upload, nothing recreated the store
        assert api.ok(f"/v1/models/{model_id}/versions")["total"] == 1
        assert not store_dir.is_dir()

        if store_dir.exists():
            store_dir.unlink()
        away.rename(store_dir)

        assert api.wait_ready()["ready"] is True
        assert api.get(reads[0]).content == data
        assert api.ok(reads[3]) == doc
        assert api.propose(model_id, other)["artifact_cid"] == str(cid_of(other))
        assert api.store_metadata({"a": 1})["cid"]
