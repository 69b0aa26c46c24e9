"""Membership changes through the client: propose, vote (2 of 3 founders), apply, resign.

The session's stack is shared: the member added here resigns before the test ends, so the
consortium is back to its three founders whatever happens."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from service.client import ClientError, GovLedgerClient, InvalidArgument


def test_add_member_by_vote_then_resign(
    client: GovLedgerClient, accounts: list[LocalAccount]
) -> None:
    founders = [a.address for a in accounts[1:4]]
    newcomer = accounts[5]
    before = client.consortium()
    assert [m.address for m in before.members] == founders
    assert (before.quorum_bps, before.required_votes) == (5001, 2)

    written = client.propose_change(accounts[1], "add_member", account=newcomer.address)
    proposal = written.proposal
    assert (proposal.kind, proposal.account, proposal.state) == (
        "add_member", newcomer.address, "proposed",
    )  # fmt: skip
    assert (proposal.proposer, proposal.ballot.required) == (accounts[1].address, 2)
    assert client.get_proposal(proposal.proposal_id) == proposal
    assert proposal.proposal_id in [p.proposal_id for p in client.list_proposals(limit=500)]
    with pytest.raises(ClientError) as early:
        client.finalize_change(proposal.proposal_id)
    assert early.value.status == 409

    first = client.vote_on_change(accounts[2], proposal.proposal_id, "for")
    assert first.proposal.state == "proposed" and first.proposal.ballot.for_votes == 1
    try:
        second = client.vote_on_change(accounts[3], proposal.proposal_id, "for")
        assert second.proposal.state == "approved"
        members = client.members()
        assert [m.address for m in members] == [*founders, newcomer.address]
        assert members[-1].member_since_block == second.transaction.block_number
        assert client.consortium().required_votes == 3  # ceil(4 * 50.01%)
    finally:
        if newcomer.address in [m.address for m in client.members()]:
            resigned = client.resign(newcomer)
            assert resigned.transaction.block_number > 0
    assert [m.address for m in client.members()] == founders


def test_membership_errors(client: GovLedgerClient, accounts: list[LocalAccount]) -> None:
    with pytest.raises(ClientError) as outsider:
        client.propose_change(accounts[6], "set_quorum", value=6000)
    assert outsider.value.status == 403
    with pytest.raises(ClientError) as missing:
        client.get_proposal(10**9)
    assert missing.value.status == 404
    with pytest.raises(ClientError) as not_member:
        client.resign(accounts[7])
    assert not_member.value.status == 403
    with pytest.raises(InvalidArgument):
        client.propose_change(accounts[1], "dissolve")
