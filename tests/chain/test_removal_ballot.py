"""A RemoveMember ballot leaves out the member it would remove: it may not vote and is not
counted among the eligible voters. So a member that stopped answering can be removed at any
quorum, 100% included, and governance cannot be frozen by one silent member; and a lone
member approves its own versions (the rule a ballot of one voter has to follow).

On a real anvil; every revert asserts its custom error and arguments and that nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from service.chain.ledger import Ledger
from service.chain.reverts import ConsortiumAlreadyVoted, ConsortiumVoterIsSubject
from service.chain.types import ChangeKind, State, Support
from tests.chain.conftest import VOTING_PERIOD
from tests.chain.helpers import digest, emitted, pass_change, reverts

both_paths = pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])


def membership(ledger: Ledger, proposal_id: int) -> tuple[Any, ...]:
    return (ledger.members(), ledger.proposal(proposal_id), ledger.quorum_bps())


def ballot_of(ledger: Ledger, proposal_id: int) -> tuple[int, int]:
    """(eligible voters, For votes required) of a proposal, as stored."""
    b = ledger.proposal(proposal_id).ballot
    return b.eligible, b.required


@both_paths
def test_the_member_to_be_removed_is_not_a_voter(
    ledger: Ledger, members: list[LocalAccount], direct: bool
):
    a, b, c = members
    receipt = ledger.act(
        a,
        "ProposeChange",
        {"kind": int(ChangeKind.REMOVE_MEMBER), "account": c.address, "value": 0},
        direct=direct,
    )
    proposed = receipt.event("ChangeProposed").args
    proposal_id = proposed["proposalId"]

    # three members, of which two vote; a majority quorum (5001 bps) of two is two
    assert (proposed["eligibleVoters"], proposed["requiredVotes"]) == (2, 2)
    assert ballot_of(ledger, proposal_id) == (2, 2)
    # other ballots still count every member
    assert ledger.consortium.functions.ballotParameters().call() == [3, 2, VOTING_PERIOD]

    with reverts(
        ledger,
        ConsortiumVoterIsSubject,
        {"proposalId": proposal_id, "voter": c.address},
        unchanged=lambda: membership(ledger, proposal_id),
    ):
        ledger.act(
            c,
            "VoteOnChange",
            {"proposalId": proposal_id, "support": int(Support.AGAINST)},
            direct=direct,
        )

    assert ledger.vote_on_change(a, proposal_id, Support.FOR) is State.PROPOSED
    deciding = ledger.act(
        b, "VoteOnChange", {"proposalId": proposal_id, "support": int(Support.FOR)}
    )
    assert emitted(deciding) == [
        (
            "ChangeVoteCast",
            {"proposalId": proposal_id, "voter": b.address, "support": Support.FOR},
        ),
        (
            "ChangeStatusChanged",
            {"proposalId": proposal_id, "previous": State.PROPOSED, "current": State.APPROVED},
        ),
        ("MemberRemoved", {"account": c.address, "memberCount": 2}),
    ]
    assert ledger.members() == [a.address, b.address]


def test_a_member_may_propose_its_own_removal_but_not_vote_on_it(
    ledger: Ledger, members: list[LocalAccount]
):
    a, b, c = members
    proposal_id = ledger.propose_change(c, ChangeKind.REMOVE_MEMBER, account=c.address)
    with reverts(
        ledger,
        ConsortiumVoterIsSubject,
        {"proposalId": proposal_id, "voter": c.address},
        unchanged=lambda: membership(ledger, proposal_id),
    ):
        ledger.vote_on_change(c, proposal_id, Support.FOR)

    ledger.vote_on_change(a, proposal_id, Support.FOR)
    assert ledger.vote_on_change(b, proposal_id, Support.FOR) is State.APPROVED
    assert not ledger.is_member(c.address)


def test_one_silent_member_cannot_freeze_governance_at_a_quorum_of_100_percent(
    ledger: Ledger, members: list[LocalAccount], accounts: list[LocalAccount]
):
    """The freeze of the issue: the members vote the quorum to 10000 bps, then one member
    stops answering. Every ballot that counts it needs its vote, but its own removal does not,
    and once it is gone the others govern again."""
    a, b, silent = members
    pass_change(ledger, members, ChangeKind.SET_QUORUM, value=10_000)
    assert ledger.quorum_bps() == 10_000
    assert ledger.consortium.functions.ballotParameters().call() == [3, 3, VOTING_PERIOD]

    # with the silent member counted, nothing passes: two For votes of the three required
    stuck = ledger.propose_change(a, ChangeKind.SET_QUORUM, value=6_000)
    ledger.vote_on_change(a, stuck, Support.FOR)
    assert ledger.vote_on_change(b, stuck, Support.FOR) is State.PROPOSED
    with reverts(
        ledger,
        ConsortiumAlreadyVoted,
        {"proposalId": stuck, "voter": b.address},
        unchanged=lambda: membership(ledger, stuck),
    ):
        ledger.vote_on_change(b, stuck, Support.FOR)
    model = ledger.register_model(a, "frozen-model")
    version = ledger.propose_version(a, model, digest("weights"))
    ledger.cast_vote(a, version, Support.FOR)
    assert ledger.cast_vote(b, version, Support.FOR) is State.PROPOSED

    # its removal is decided by the two others alone, at 100% of them
    removal = ledger.propose_change(a, ChangeKind.REMOVE_MEMBER, account=silent.address)
    assert ballot_of(ledger, removal) == (2, 2)
    ledger.vote_on_change(a, removal, Support.FOR)
    assert ledger.vote_on_change(b, removal, Support.FOR) is State.APPROVED
    assert ledger.members() == [a.address, b.address]

    # and governance moves again: a new member joins, the quorum comes down
    assert ledger.consortium.functions.ballotParameters().call() == [2, 2, VOTING_PERIOD]
    pass_change(ledger, [a, b], ChangeKind.ADD_MEMBER, account=accounts[4].address)
    pass_change(ledger, [a, b, accounts[4]], ChangeKind.SET_QUORUM, value=5_001)
    assert ledger.quorum_bps() == 5_001


def test_of_two_members_either_removes_the_other_alone(ledger: Ledger, members: list[LocalAccount]):
    """The price of the rule: with two members, a removal has one voter, so either member can
    remove the other. (The alternative, needing the other's consent, is a veto on one's own
    removal, which is the freeze again.)"""
    a, b, c = members
    pass_change(ledger, members, ChangeKind.REMOVE_MEMBER, account=c.address)

    removal = ledger.propose_change(b, ChangeKind.REMOVE_MEMBER, account=a.address)
    assert ballot_of(ledger, removal) == (1, 1)
    assert ledger.vote_on_change(b, removal, Support.FOR) is State.APPROVED
    assert ledger.members() == [b.address]


def test_a_lone_member_approves_its_own_versions(ledger: Ledger, members: list[LocalAccount]):
    """With one member, every ballot has one voter and needs its vote: the member proposes and
    approves alone (documented in docs/ARCHITECTURE.md, "Ballots")."""
    lone = members[0]
    ledger.resign(members[1])
    ledger.resign(members[2])
    model = ledger.register_model(lone, "solo")
    version = ledger.propose_version(lone, model, digest("solo weights"))
    assert (ledger.version(version).ballot.eligible, ledger.version(version).ballot.required) == (
        1,
        1,
    )

    assert ledger.cast_vote(lone, version, Support.FOR) is State.APPROVED
