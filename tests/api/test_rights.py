"""Access rights over HTTP: grant and revoke (signed), query per model and per account."""

from __future__ import annotations

from tests.api.conftest import (
    MEMBER2,
    OUTSIDER,
    OWNER,
    READER,
    ZERO_ADDRESS,
    Api,
    assert_contract_error,
    assert_problem,
)


def test_grant_query_and_revoke(api: Api) -> None:
    model = api.register(OWNER, restricted=True)
    model_id = model["model_id"]
    one = f"/v1/models/{model_id}/rights/{READER.address}"

    before = api.ok(one)
    assert before == {
        "model_id": model_id,
        "account": READER.address,
        "rights": [],
        "is_owner": False,
        "can_read": False,
        "can_submit_updates": False,
    }

    r = api.change_rights("grant", model_id, READER.address, ["read_artifacts", "submit_updates"])
    assert r.status_code == 200, r.text
    granted = r.json()["rights"]
    assert granted["rights"] == ["submit_updates", "read_artifacts"]
    assert (granted["can_read"], granted["can_submit_updates"]) == (True, True)
    assert api.ok(one) == granted
    assert api.ok(f"/v1/models/{model_id}/rights/{READER.address.lower()}") == granted

    holders = api.ok(f"/v1/models/{model_id}/rights")
    assert [h["account"] for h in holders] == [OWNER.address, READER.address]
    assert holders[0]["is_owner"] is True
    assert holders[0]["rights"] == ["submit_updates", "read_artifacts", "maintain"]
    assert holders[1] == granted

    per_account = api.ok(f"/v1/accounts/{READER.address}/rights")
    assert granted in per_account
    assert all(v["rights"] for v in per_account)

    r = api.change_rights("revoke", model_id, READER.address, ["read_artifacts"])
    assert r.status_code == 200, r.text
    after = r.json()["rights"]
    assert after["rights"] == ["submit_updates"]
    assert (after["can_read"], after["can_submit_updates"]) == (False, True)
    assert api.ok(one) == after

    r = api.change_rights("revoke", model_id, READER.address, ["submit_updates"])
    assert r.json()["rights"]["rights"] == []
    assert model_id not in {v["model_id"] for v in api.ok(f"/v1/accounts/{READER.address}/rights")}
    # a past holder is still listed on the model, with no rights now
    assert api.ok(f"/v1/models/{model_id}/rights")[1]["rights"] == []


def test_maintain_right_lets_another_account_propose(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    r = api.upload(model_id, b"unused", actor=MEMBER2)
    assert_contract_error(
        r, 403, "RegistryNotMaintainer", modelId=model_id, account=MEMBER2.address
    )

    assert api.change_rights("grant", model_id, MEMBER2.address, ["maintain"]).status_code == 200
    version = api.propose(model_id, actor=MEMBER2)
    assert version["proposer"] == MEMBER2.address


def test_refused_rights_changes(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]

    r = api.change_rights("grant", model_id, READER.address, ["read_artifacts"], actor=MEMBER2)
    assert_contract_error(
        r, 403, "RegistryNotModelOwner", modelId=model_id, account=MEMBER2.address
    )

    r = api.change_rights("grant", model_id, ZERO_ADDRESS, ["read_artifacts"])
    assert_contract_error(r, 422, "RegistryInvalidAccount", account=ZERO_ADDRESS)

    r = api.change_rights("grant", 515_151, READER.address, ["read_artifacts"])
    assert_contract_error(r, 404, "RegistryUnknownModel", modelId=515_151)

    sig = api.signed(
        "GrantRights", OWNER, {"modelId": model_id, "account": READER.address, "rights": 2}
    )
    path = f"/v1/models/{model_id}/rights/{READER.address}/grant"
    assert_problem(
        api.post(path, json={"rights": [], **sig}), 422, "/problems/invalid-request", "rights"
    )
    assert_problem(
        api.post(path, json={"rights": ["admin"], **sig}),
        422,
        "/problems/invalid-request",
        "rights",
    )
    assert_problem(
        api.get(f"/v1/models/{model_id}/rights/0x1234"), 422, "/problems/invalid-request", "account"
    )
    assert_problem(
        api.get(f"/v1/accounts/{OUTSIDER.address}x/rights"),
        422,
        "/problems/invalid-request",
        "account",
    )
    assert api.ok(f"/v1/models/{model_id}/rights/{READER.address}")["rights"] == []
