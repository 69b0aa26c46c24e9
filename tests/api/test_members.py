"""The consortium over HTTP: members, parameters, membership proposals and votes, resignation."""

from __future__ import annotations

import httpx
from eth_account.signers.local import LocalAccount

from tests.api.conftest import (
    FOUNDERS,
    MEMBER2,
    MEMBER3,
    NEWCOMER,
    OUTSIDER,
    OWNER,
    ZERO_ADDRESS,
    Api,
    assert_contract_error,
    assert_problem,
)


def propose_change(
    api: Api, actor: LocalAccount, kind: str, account: str | None = None, value: int = 0
) -> httpx.Response:
    kinds = {"add_member": 0, "remove_member": 1, "set_quorum": 2, "set_voting_period": 3}
    sig = api.signed(
        "ProposeChange",
        actor,
        {"kind": kinds[kind], "account": account or ZERO_ADDRESS, "value": value},
    )
    body: dict[str, object] = {"kind": kind, "value": value, **sig}
    if account is not None:
        body["account"] = account
    return api.post("/v1/membership-proposals", json=body)


def vote_on_change(
    api: Api, voter: LocalAccount, proposal_id: int, support: str = "for"
) -> httpx.Response:
    codes = {"against": 0, "for": 1, "abstain": 2}
    sig = api.signed("VoteOnChange", voter, {"proposalId": proposal_id, "support": codes[support]})
    return api.post(
        f"/v1/membership-proposals/{proposal_id}/votes", json={"support": support, **sig}
    )


def resign(api: Api, actor: LocalAccount) -> httpx.Response:
    return api.post("/v1/members/resign", json=api.signed("Resign", actor, {}))


def member_addresses(api: Api) -> list[str]:
    return [m["address"] for m in api.ok("/v1/members")]


def test_members_and_parameters(api: Api) -> None:
    members = api.ok("/v1/members")
    assert [m["address"] for m in members] == [f.address for f in FOUNDERS]
    deploy_block = api.ok("/v1/info")["deploy_block"]
    assert all(0 < m["member_since_block"] <= deploy_block for m in members)

    consortium = api.ok("/v1/consortium")
    assert consortium["members"] == members
    assert consortium["quorum_bps"] == 5001
    assert consortium["voting_period_s"] == 3600
    assert consortium["required_votes"] == 2


def test_a_membership_proposal_adds_a_member_who_can_resign(api: Api) -> None:
    r = propose_change(api, OWNER, "add_member", NEWCOMER.address)
    assert r.status_code == 201, r.text
    proposal = r.json()["proposal"]
    pid = proposal["proposal_id"]
    assert proposal["kind"] == "add_member"
    assert proposal["account"] == NEWCOMER.address
    assert proposal["proposer"] == OWNER.address
    assert proposal["state"] == "proposed"
    assert (proposal["ballot"]["required"], proposal["ballot"]["eligible"]) == (2, 3)
    assert api.ok(f"/v1/membership-proposals/{pid}") == proposal
    assert proposal in api.ok("/v1/membership-proposals", params={"limit": 500})

    first = vote_on_change(api, MEMBER2, pid)
    assert first.status_code == 201, first.text
    assert first.json()["proposal"]["state"] == "proposed"
    assert NEWCOMER.address not in member_addresses(api)

    again = vote_on_change(api, MEMBER2, pid, "against")
    assert_contract_error(
        again, 409, "ConsortiumAlreadyVoted", proposalId=pid, voter=MEMBER2.address
    )

    deciding = vote_on_change(api, MEMBER3, pid)
    assert deciding.status_code == 201, deciding.text
    decided = deciding.json()
    assert decided["proposal"]["state"] == "approved"
    assert decided["proposal"]["ballot"]["for_votes"] == 2
    try:
        members = api.ok("/v1/members")
        joined = {m["address"]: m["member_since_block"] for m in members}
        assert joined[NEWCOMER.address] == decided["transaction"]["block_number"]
        assert api.ok("/v1/consortium")["required_votes"] == 3  # a majority of four

        r = vote_on_change(api, OWNER, pid)
        assert_contract_error(
            r, 409, "ConsortiumUnexpectedProposalState", proposalId=pid, current=1, expected=0
        )
    finally:
        left = resign(api, NEWCOMER)
    assert left.status_code == 200, left.text
    assert api.rpc("eth_getTransactionReceipt", left.json()["transaction"]["transaction_hash"])
    assert member_addresses(api) == [f.address for f in FOUNDERS]
    assert api.ok("/v1/consortium")["required_votes"] == 2

    r = resign(api, NEWCOMER)
    assert_contract_error(r, 403, "ConsortiumNotMember", account=NEWCOMER.address)


def test_refused_membership_changes(api: Api) -> None:
    r = propose_change(api, OUTSIDER, "add_member", OUTSIDER.address)
    assert_contract_error(r, 403, "ConsortiumNotMember", account=OUTSIDER.address)

    r = propose_change(api, OWNER, "add_member", MEMBER2.address)
    assert_contract_error(r, 409, "ConsortiumAlreadyMember", account=MEMBER2.address)

    r = propose_change(api, OWNER, "add_member")
    assert_contract_error(r, 422, "ConsortiumInvalidMember", account=ZERO_ADDRESS)

    r = propose_change(api, OWNER, "set_quorum", value=10_001)
    assert_contract_error(r, 422, "ConsortiumInvalidQuorum", quorumBps=10_001)

    r = propose_change(api, OWNER, "set_voting_period", value=59)
    assert_contract_error(r, 422, "ConsortiumInvalidVotingPeriod", votingPeriod=59)

    sig = api.signed("ProposeChange", OWNER, {"kind": 0, "account": OUTSIDER.address, "value": 0})
    r = api.post(
        "/v1/membership-proposals",
        json={"kind": "make_king", "account": OUTSIDER.address, **sig},
    )
    assert_problem(r, 422, "/problems/invalid-request", "kind")

    assert_contract_error(
        api.get("/v1/membership-proposals/4040"), 404, "ConsortiumUnknownProposal", proposalId=4040
    )
    r = vote_on_change(api, MEMBER2, 4040)
    assert_contract_error(r, 404, "ConsortiumUnknownProposal", proposalId=4040)

    # an open proposal cannot be finalized yet
    opened = propose_change(api, OWNER, "set_quorum", value=6000)
    assert opened.status_code == 201, opened.text
    pid = opened.json()["proposal"]["proposal_id"]
    r = api.post(f"/v1/membership-proposals/{pid}/finalize")
    assert_contract_error(r, 409, "ConsortiumVotingOpen", proposalId=pid)

    assert member_addresses(api) == [f.address for f in FOUNDERS]
    assert api.ok("/v1/consortium")["quorum_bps"] == 5001
