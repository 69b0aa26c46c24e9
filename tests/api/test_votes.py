"""Votes over HTTP: cast (signed), refusals, and the list with voter, choice, block and time."""

from __future__ import annotations

from tests.api.conftest import (
    MEMBER2,
    MEMBER3,
    OUTSIDER,
    OWNER,
    Api,
    assert_contract_error,
    assert_problem,
)


def test_cast_votes_until_approved_and_list_them(api: Api) -> None:
    model = api.register(OWNER)
    version_id = api.propose(model["model_id"])["version_id"]

    first = api.vote(MEMBER2, version_id, "against")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["state"] == "proposed"
    vote = body["vote"]
    assert (vote["version_id"], vote["voter"], vote["support"]) == (
        version_id,
        MEMBER2.address,
        "against",
    )
    assert vote["block_number"] == body["transaction"]["block_number"]
    assert vote["timestamp"] == api.block_timestamp(vote["block_number"])

    second = api.vote(MEMBER3, version_id, "for").json()
    assert second["state"] == "proposed"
    third = api.vote(OWNER, version_id, "for").json()
    assert third["state"] == "approved"

    listed = api.ok(f"/v1/versions/{version_id}/votes")
    assert listed == [first.json()["vote"], second["vote"], third["vote"]]
    assert [v["support"] for v in listed] == ["against", "for", "for"]
    assert [v["block_number"] for v in listed] == sorted(v["block_number"] for v in listed)
    for v in listed:
        assert v["timestamp"] == api.block_timestamp(v["block_number"])

    tally = api.ok(f"/v1/versions/{version_id}")["ballot"]
    assert (tally["for_votes"], tally["against_votes"], tally["abstain_votes"]) == (2, 1, 0)


def test_double_vote_is_409(api: Api) -> None:
    model = api.register(OWNER)
    version_id = api.propose(model["model_id"])["version_id"]
    assert api.vote(MEMBER2, version_id, "abstain").status_code == 201
    r = api.vote(MEMBER2, version_id, "for")
    assert_contract_error(
        r, 409, "RegistryAlreadyVoted", versionId=version_id, voter=MEMBER2.address
    )
    assert [v["support"] for v in api.ok(f"/v1/versions/{version_id}/votes")] == ["abstain"]


def test_refused_votes(api: Api) -> None:
    model = api.register(OWNER)
    version_id = api.approved_version(model["model_id"])
    voted = api.ok(f"/v1/versions/{version_id}/votes")

    r = api.vote(MEMBER3, version_id)  # already decided
    assert_contract_error(
        r, 409, "RegistryUnexpectedState", versionId=version_id, current=1, expected=0
    )
    assert "Approved" in r.json()["detail"]

    pending = api.propose(model["model_id"])["version_id"]
    r = api.vote(OUTSIDER, pending)
    assert_contract_error(r, 403, "RegistryNotMember", account=OUTSIDER.address)

    r = api.vote(MEMBER2, 999_999)
    assert_contract_error(r, 404, "RegistryUnknownVersion", versionId=999_999)

    sig = api.signed("CastVote", MEMBER2, {"versionId": pending, "support": 1})
    r = api.post(f"/v1/versions/{pending}/votes", json={"support": "maybe", **sig})
    body = assert_problem(r, 422, "/problems/invalid-request", "support")
    assert body["errors"][0]["field"] == "support"
    r = api.post(f"/v1/versions/{pending}/votes", json={"support": "for", **sig, "extra": 1})
    assert_problem(r, 422, "/problems/invalid-request", "extra")

    assert api.ok(f"/v1/versions/{version_id}/votes") == voted
    assert api.ok(f"/v1/versions/{pending}/votes") == []
