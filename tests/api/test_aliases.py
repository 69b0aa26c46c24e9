"""Aliases over HTTP: move (signed), current value, value at a past block, history, list."""

from __future__ import annotations

from tests.api.conftest import (
    MEMBER2,
    OWNER,
    Api,
    assert_contract_error,
    assert_problem,
)


def test_move_read_history_and_list(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    v1 = api.approved_version(model_id)
    v2 = api.approved_version(model_id)
    base = f"/v1/models/{model_id}/aliases"
    before = api.block_number()

    # an alias the model never had is not found (not an empty value, as a cleared one is)
    assert_problem(
        api.get(f"{base}/production"), 404, "/problems/not-found", "no alias named 'production'"
    )

    r = api.move_alias(model_id, "production", v1)
    assert r.status_code == 200, r.text
    assert r.json()["alias"]["version_id"] == v1
    b1 = r.json()["transaction"]["block_number"]
    assert api.move_alias(model_id, "staging", v2).status_code == 200
    r = api.move_alias(model_id, "production", v2)
    b2 = r.json()["transaction"]["block_number"]
    assert b2 > b1 > before

    assert api.ok(f"{base}/production") == {
        "model_id": model_id,
        "alias": "production",
        "version_id": v2,
        "version_number": 2,
        "at_block": None,
    }
    assert api.ok(f"{base}/production", params={"block": before})["version_id"] is None
    at_b1 = api.ok(f"{base}/production", params={"block": b1})
    assert (at_b1["version_id"], at_b1["at_block"]) == (v1, b1)
    assert api.ok(f"{base}/production", params={"block": b2 - 1})["version_id"] == v1
    assert api.ok(f"{base}/production", params={"block": b2})["version_id"] == v2

    history = api.ok(f"{base}/production/history")
    assert [(h["version_id"], h["previous_version_id"]) for h in history] == [
        (v1, None),
        (v2, v1),
    ]
    assert [h["block_number"] for h in history] == [b1, b2]
    assert [h["timestamp"] for h in history] == [api.block_timestamp(b) for b in (b1, b2)]
    assert {h["by"] for h in history} == {OWNER.address}
    assert {h["alias"] for h in history} == {"production"}

    listed = {a["alias"]: a["version_id"] for a in api.ok(base)}
    assert listed == {"production": v2, "staging": v2}

    # 0 clears it
    r = api.move_alias(model_id, "staging", 0)
    assert r.status_code == 200, r.text
    assert r.json()["alias"]["version_id"] is None
    assert {a["alias"]: a["version_id"] for a in api.ok(base)} == {
        "production": v2,
        "staging": None,
    }
    assert api.ok(f"{base}/staging/history")[-1]["previous_version_id"] == v2


def test_refused_moves(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    approved = api.approved_version(model_id)
    assert api.move_alias(model_id, "production", approved).status_code == 200
    proposed = api.propose(model_id)["version_id"]

    r = api.move_alias(model_id, "production", proposed)
    assert_contract_error(
        r, 409, "RegistryUnexpectedState", versionId=proposed, current=0, expected=1
    )
    assert "Proposed" in r.json()["detail"]

    other = api.register(OWNER)
    foreign = api.approved_version(other["model_id"])
    r = api.move_alias(model_id, "production", foreign)
    assert_contract_error(
        r,
        422,
        "RegistryVersionOfOtherModel",
        versionId=foreign,
        actualModelId=other["model_id"],
        modelId=model_id,
    )

    r = api.move_alias(model_id, "production", approved, actor=MEMBER2)
    assert_contract_error(
        r, 403, "RegistryNotMaintainer", modelId=model_id, account=MEMBER2.address
    )

    r = api.move_alias(model_id, "production", 424_242)
    assert_contract_error(r, 404, "RegistryUnknownVersion", versionId=424_242)

    assert api.ok(f"/v1/models/{model_id}/aliases/production")["version_id"] == approved
    assert len(api.ok(f"/v1/models/{model_id}/aliases/production/history")) == 1


def test_bad_alias_requests(api: Api) -> None:
    model = api.register(OWNER)
    base = f"/v1/models/{model['model_id']}/aliases"
    assert_problem(api.get(f"{base}/Prod!"), 422, "/problems/invalid-request", "alias")
    assert_problem(api.get(f"{base}/{'x' * 33}"), 422, "/problems/invalid-request", "alias")
    latest = api.block_number()
    r = api.get(f"{base}/production", params={"block": latest + 1000})
    assert_problem(r, 422, "/problems/invalid-input", f"block {latest + 1000}")
    assert_problem(
        api.get(f"{base}/production", params={"block": -1}),
        422,
        "/problems/invalid-request",
        "block",
    )
    assert_contract_error(api.get("/v1/models/919191/aliases"), 404, "RegistryUnknownModel")
    assert_contract_error(
        api.get("/v1/models/919191/aliases/production/history"), 404, "RegistryUnknownModel"
    )
