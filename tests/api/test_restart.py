"""Nothing is lost across restarts: the service (state on chain and in the store) and the chain
(anvil writes its state on SIGTERM and loads it at start) come back serving the same models,
versions, votes, aliases, rights and artifacts, and accept new signed actions."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import (
    MEMBER2,
    MEMBER3,
    OWNER,
    READER,
    Api,
    api_on,
    cid_of,
    fresh_artifact,
)
from tests.stack import Stack


def record(api: Api, model_ids: list[int], version_ids: list[int]) -> dict[str, Any]:
    """Everything the API serves about these models and versions."""
    seen: dict[str, Any] = {
        "models": {  # how far the event index answered is no part of the ledger's state
            k: v
            for k, v in api.ok("/v1/models", params={"limit": 500}).items()
            if k != "indexed_to_block"
        },
        "members": api.ok("/v1/consortium"),
        "proposals": api.ok("/v1/membership-proposals"),
        "reader_rights": api.ok(f"/v1/accounts/{READER.address}/rights"),
    }
    for m in model_ids:
        for suffix in ("", "/versions", "/aliases", "/aliases/production/history", "/rights"):
            seen[f"model {m}{suffix}"] = api.ok(f"/v1/models/{m}{suffix}")
        seen[f"model {m} metadata"] = api.get(f"/v1/models/{m}/metadata").json()
    for v in version_ids:
        seen[f"version {v}"] = api.ok(f"/v1/versions/{v}")
        seen[f"version {v} votes"] = api.ok(f"/v1/versions/{v}/votes")
    return seen


def check_artifacts(api: Api, artifacts: dict[int, bytes], restricted: set[int]) -> None:
    token = api.login(READER)
    for version_id, data in artifacts.items():
        headers = {"authorization": f"Bearer {token}"} if version_id in restricted else {}
        r = api.get(f"/v1/versions/{version_id}/artifact", headers=headers)
        assert r.status_code == 200, r.text
        assert r.content == data
        assert r.headers["x-content-cid"] == str(cid_of(data))
        if version_id in restricted:
            assert api.get(f"/v1/artifacts/{cid_of(data)}").status_code == 401


def test_restarting_the_service_and_the_chain_loses_nothing(private_stack: Stack) -> None:
    stack = private_stack
    with api_on(stack) as api:
        doc = api.store_metadata({"about": "restart"})
        open_model = api.register(OWNER, metadata_digest=doc["digest"])["model_id"]
        closed_model = api.register(MEMBER2, restricted=True)["model_id"]
        artifacts = {}
        big, small = fresh_artifact(), fresh_artifact((32, 32))
        v1 = api.approved_version(open_model, big)
        artifacts[v1] = big
        v2 = api.propose(open_model, small)["version_id"]
        artifacts[v2] = small
        assert api.vote(MEMBER3, v2, "against").status_code == 201
        closed = fresh_artifact()
        v3 = api.approved_version(closed_model, closed, actor=MEMBER2)
        artifacts[v3] = closed
        assert api.move_alias(open_model, "production", v1).status_code == 200
        assert api.move_alias(closed_model, "production", v3, actor=MEMBER2).status_code == 200
        granted = api.change_rights(
            "grant", closed_model, READER.address, ["read_artifacts"], actor=MEMBER2
        )
        assert granted.status_code == 200
        models, versions = [open_model, closed_model], [v1, v2, v3]
        before = record(api, models, versions)
        assert before[f"model {open_model} metadata"] == {"about": "restart"}
        check_artifacts(api, artifacts, {v3})

        stack.stop_service()
        stack.start_service()
        assert record(api, models, versions) == before
        check_artifacts(api, artifacts, {v3})

        stack.stop_service()
        stack.stop_chain()
        stack.start_chain()
        stack.start_service()
        assert api.wait_ready()["ready"] is True
        assert record(api, models, versions) == before
        check_artifacts(api, artifacts, {v3})

        # and the ledger goes on: nonces, the relayer's account and ballots carry over
        r = api.vote(OWNER, v2, "for")
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "proposed"
        later = api.approved_version(open_model)
        assert api.move_alias(open_model, "production", later).status_code == 200
        history = api.ok(f"/v1/models/{open_model}/aliases/production/history")
        assert [h["version_id"] for h in history] == [v1, later]
