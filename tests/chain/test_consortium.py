"""Consortium through the chain adapter, on a real anvil: membership governed by the members'
votes, the quorum and the voting period, resignation. Every success asserts its events and the
state read back; every revert asserts the custom error with its arguments and that nothing
changed (no block mined, reads unchanged)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from service.chain.ledger import ActionReceipt, Ledger
from service.chain.reverts import (
    ConsortiumAlreadyMember,
    ConsortiumAlreadyVoted,
    ConsortiumInvalidMember,
    ConsortiumInvalidQuorum,
    ConsortiumInvalidVotingPeriod,
    ConsortiumLastMember,
    ConsortiumNotEligible,
    ConsortiumNotMember,
    ConsortiumUnexpectedProposalState,
    ConsortiumUnknownProposal,
    ConsortiumVotingClosed,
    ConsortiumVotingOpen,
)
from service.chain.types import Ballot, ChangeKind, ProposalRecord, State, Support
from tests.chain.conftest import QUORUM_BPS, VOTING_PERIOD, increase_time
from tests.chain.helpers import ZERO_ADDRESS, block_time, emitted, mine_at, pass_change, reverts

YEAR = 365 * 24 * 3600

both_paths = pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])


# ---------------------------------------------------------------- helpers and fixtures


def membership(ledger: Ledger) -> tuple[Any, ...]:
    """Everything a membership change or vote could alter."""
    return (
        ledger.members(),
        ledger.quorum_bps(),
        ledger.voting_period(),
        ledger.proposal_count(),
    )


def propose(
    ledger: Ledger,
    actor: LocalAccount,
    kind: ChangeKind,
    *,
    account: str = ZERO_ADDRESS,
    value: int = 0,
    direct: bool = False,
) -> ActionReceipt:
    return ledger.act(
        actor,
        "ProposeChange",
        {"kind": int(kind), "account": account, "value": value},
        direct=direct,
    )


def vote(
    ledger: Ledger, voter: LocalAccount, proposal_id: int, support: Support, *, direct: bool = False
) -> ActionReceipt:
    return ledger.act(
        voter, "VoteOnChange", {"proposalId": proposal_id, "support": int(support)}, direct=direct
    )


def status_changed(proposal_id: int, current: State) -> tuple[str, dict[str, Any]]:
    return (
        "ChangeStatusChanged",
        {"proposalId": proposal_id, "previous": State.PROPOSED, "current": current},
    )


def vote_cast(
    proposal_id: int, voter: LocalAccount, support: Support
) -> tuple[str, dict[str, Any]]:
    return (
        "ChangeVoteCast",
        {"proposalId": proposal_id, "voter": voter.address, "support": support},
    )


@pytest.fixture
def newcomer(accounts: list[LocalAccount]) -> LocalAccount:
    return accounts[4]


@pytest.fixture
def add_newcomer(ledger: Ledger, members: list[LocalAccount], newcomer: LocalAccount) -> int:
    """An open proposal (by members[0]) to add ``newcomer``; returns its id."""
    return ledger.propose_change(members[0], ChangeKind.ADD_MEMBER, account=newcomer.address)


# ---------------------------------------------------------------- views


def test_founders_and_parameters_after_deployment(
    ledger: Ledger, members: list[LocalAccount], outsider: LocalAccount
):
    founders = [m.address for m in members]
    deploy_block = ledger.deployment.deploy_block

    assert ledger.members() == founders
    assert ledger.deployment.founders == founders
    assert all(ledger.is_member(a) for a in founders)
    assert not ledger.is_member(outsider.address)
    assert all(0 < ledger.member_since(a) <= ledger.block_number() for a in founders)
    assert all(ledger.member_since(a) >= deploy_block - 1 for a in founders)
    assert ledger.member_since(outsider.address) == 0
    assert ledger.consortium.functions.memberCount().call() == 3
    assert ledger.quorum_bps() == QUORUM_BPS
    assert ledger.voting_period() == VOTING_PERIOD
    assert ledger.consortium.functions.ballotParameters().call() == [3, 2, VOTING_PERIOD]
    assert ledger.proposal_count() == 0
    assert ledger.registry.functions.consortium().call() == ledger.deployment.consortium


def test_deployment_recorded_founders_and_parameters_as_events(
    ledger: Ledger, members: list[LocalAccount]
):
    events = [
        (e.name, e.args)
        for e in ledger.events(contract="Consortium", to_block=ledger.deployment.deploy_block)
    ]
    assert events == [
        *[
            ("MemberAdded", {"account": m.address, "memberCount": i + 1})
            for i, m in enumerate(members)
        ],
        ("QuorumChanged", {"previousQuorumBps": 0, "quorumBps": QUORUM_BPS}),
        ("VotingPeriodChanged", {"previousVotingPeriod": 0, "votingPeriod": VOTING_PERIOD}),
    ]


# ---------------------------------------------------------------- adding a member


@both_paths
def test_add_member_by_vote(
    ledger: Ledger, members: list[LocalAccount], newcomer: LocalAccount, direct: bool
):
    proposed = propose(
        ledger, members[0], ChangeKind.ADD_MEMBER, account=newcomer.address, direct=direct
    )
    deadline = block_time(ledger.w3, proposed.block_number) + VOTING_PERIOD
    assert emitted(proposed) == [
        (
            "ChangeProposed",
            {
                "proposalId": 1,
                "kind": ChangeKind.ADD_MEMBER,
                "account": newcomer.address,
                "value": 0,
                "proposer": members[0].address,
                "deadline": deadline,
                "requiredVotes": 2,
                "eligibleVoters": 3,
            },
        )
    ]
    assert ledger.proposal_count() == 1
    assert ledger.proposal(1) == ProposalRecord(
        proposal_id=1,
        kind=ChangeKind.ADD_MEMBER,
        account=newcomer.address,
        value=0,
        proposer=members[0].address,
        state=State.PROPOSED,
        ballot=Ballot(
            deadline=deadline,
            snapshot_block=proposed.block_number,
            for_votes=0,
            against_votes=0,
            abstain_votes=0,
            required=2,
            eligible=3,
            stored_state=State.PROPOSED,
        ),
    )

    first = vote(ledger, members[0], 1, Support.FOR, direct=direct)
    assert emitted(first) == [vote_cast(1, members[0], Support.FOR)]
    assert not ledger.is_member(newcomer.address)
    assert ledger.change_vote_of(1, members[0].address) is Support.FOR
    assert ledger.change_vote_of(1, members[1].address) is None

    deciding = vote(ledger, members[1], 1, Support.FOR, direct=direct)
    assert emitted(deciding) == [
        vote_cast(1, members[1], Support.FOR),
        status_changed(1, State.APPROVED),
        ("MemberAdded", {"account": newcomer.address, "memberCount": 4}),
    ]
    assert ledger.is_member(newcomer.address)
    assert ledger.member_since(newcomer.address) == deciding.block_number
    assert ledger.members() == [*(m.address for m in members), newcomer.address]
    record = ledger.proposal(1)
    assert (record.state, record.ballot.stored_state, record.ballot.for_votes) == (
        State.APPROVED,
        State.APPROVED,
        2,
    )
    # the new member counts in the next ballots: 5001 bps of 4 is 3
    assert ledger.consortium.functions.ballotParameters().call() == [4, 3, VOTING_PERIOD]


def test_typed_vote_returns_the_proposal_state(
    ledger: Ledger, members: list[LocalAccount], add_newcomer: int
):
    assert ledger.vote_on_change(members[0], add_newcomer, Support.FOR) is State.PROPOSED
    assert ledger.vote_on_change(members[1], add_newcomer, Support.FOR) is State.APPROVED


def test_new_member_can_propose_and_vote(
    ledger: Ledger, members: list[LocalAccount], newcomer: LocalAccount, outsider: LocalAccount
):
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=newcomer.address)

    proposal_id = ledger.propose_change(newcomer, ChangeKind.ADD_MEMBER, account=outsider.address)
    assert ledger.proposal(proposal_id).ballot.required == 3
    assert ledger.vote_on_change(newcomer, proposal_id, Support.FOR) is State.PROPOSED
    assert ledger.vote_on_change(members[0], proposal_id, Support.FOR) is State.PROPOSED
    assert ledger.vote_on_change(members[1], proposal_id, Support.FOR) is State.APPROVED
    assert ledger.members()[-1] == outsider.address


def test_already_member(ledger: Ledger, members: list[LocalAccount]):
    with reverts(
        ledger,
        ConsortiumAlreadyMember,
        {"account": members[1].address},
        unchanged=lambda: membership(ledger),
    ):
        ledger.propose_change(members[0], ChangeKind.ADD_MEMBER, account=members[1].address)


def test_invalid_member(ledger: Ledger, members: list[LocalAccount]):
    with reverts(
        ledger,
        ConsortiumInvalidMember,
        {"account": ZERO_ADDRESS},
        unchanged=lambda: membership(ledger),
    ):
        ledger.propose_change(members[0], ChangeKind.ADD_MEMBER, account=ZERO_ADDRESS)


def test_approved_change_already_in_effect_changes_nothing(
    ledger: Ledger, members: list[LocalAccount], newcomer: LocalAccount
):
    """Two proposals to add the same account: once the first passes, the second still passes
    (the members asked for a state that holds) and adds nobody twice."""
    first = ledger.propose_change(members[0], ChangeKind.ADD_MEMBER, account=newcomer.address)
    second = ledger.propose_change(members[1], ChangeKind.ADD_MEMBER, account=newcomer.address)
    ledger.vote_on_change(members[0], first, Support.FOR)
    ledger.vote_on_change(members[1], first, Support.FOR)
    since = ledger.member_since(newcomer.address)
    ledger.vote_on_change(members[0], second, Support.FOR)

    deciding = vote(ledger, members[1], second, Support.FOR)

    assert emitted(deciding) == [
        vote_cast(second, members[1], Support.FOR),
        status_changed(second, State.APPROVED),
    ]
    assert ledger.proposal(second).state is State.APPROVED
    assert ledger.members().count(newcomer.address) == 1
    assert ledger.member_since(newcomer.address) == since


def test_approved_removal_of_a_member_already_gone_changes_nothing(
    ledger: Ledger, members: list[LocalAccount]
):
    proposal = ledger.propose_change(
        members[0], ChangeKind.REMOVE_MEMBER, account=members[2].address
    )
    ledger.resign(members[2])
    ledger.vote_on_change(members[0], proposal, Support.FOR)

    deciding = vote(ledger, members[1], proposal, Support.FOR)

    assert emitted(deciding) == [
        vote_cast(proposal, members[1], Support.FOR),
        status_changed(proposal, State.APPROVED),
    ]
    assert ledger.members() == [members[0].address, members[1].address]


# ---------------------------------------------------------------- removing a member, resigning


@both_paths
def test_remove_member_by_vote(ledger: Ledger, members: list[LocalAccount], direct: bool):
    proposed = propose(
        ledger, members[0], ChangeKind.REMOVE_MEMBER, account=members[2].address, direct=direct
    )
    assert proposed.event("ChangeProposed").args["kind"] == ChangeKind.REMOVE_MEMBER
    assert proposed.event("ChangeProposed").args["account"] == members[2].address
    vote(ledger, members[0], 1, Support.FOR, direct=direct)

    deciding = vote(ledger, members[1], 1, Support.FOR, direct=direct)

    assert emitted(deciding) == [
        vote_cast(1, members[1], Support.FOR),
        status_changed(1, State.APPROVED),
        ("MemberRemoved", {"account": members[2].address, "memberCount": 2}),
    ]
    assert not ledger.is_member(members[2].address)
    assert ledger.member_since(members[2].address) == 0
    assert ledger.members() == [members[0].address, members[1].address]
    assert ledger.consortium.functions.ballotParameters().call() == [2, 2, VOTING_PERIOD]


def test_removed_member_cannot_vote_on_open_proposals(
    ledger: Ledger, members: list[LocalAccount], add_newcomer: int
):
    pass_change(ledger, members, ChangeKind.REMOVE_MEMBER, account=members[2].address)

    with reverts(
        ledger,
        ConsortiumNotMember,
        {"account": members[2].address},
        unchanged=lambda: ledger.proposal(add_newcomer),
    ):
        ledger.vote_on_change(members[2], add_newcomer, Support.FOR)


def test_removed_member_rejoins_with_a_new_member_since(
    ledger: Ledger, members: list[LocalAccount]
):
    leaver = members[2]
    first_since = ledger.member_since(leaver.address)
    pass_change(ledger, members[:2], ChangeKind.REMOVE_MEMBER, account=leaver.address)

    rejoined = pass_change(ledger, members[:2], ChangeKind.ADD_MEMBER, account=leaver.address)

    assert ledger.member_since(leaver.address) == rejoined.block_number > first_since
    assert ledger.members()[-1] == leaver.address


def test_remove_non_member(ledger: Ledger, members: list[LocalAccount], outsider: LocalAccount):
    with reverts(
        ledger,
        ConsortiumNotMember,
        {"account": outsider.address},
        unchanged=lambda: membership(ledger),
    ):
        ledger.propose_change(members[0], ChangeKind.REMOVE_MEMBER, account=outsider.address)


@both_paths
def test_resign(ledger: Ledger, members: list[LocalAccount], direct: bool):
    receipt = ledger.resign(members[1], direct=direct)

    assert emitted(receipt) == [
        ("MemberRemoved", {"account": members[1].address, "memberCount": 2})
    ]
    assert ledger.members() == [members[0].address, members[2].address]
    assert not ledger.is_member(members[1].address)
    assert ledger.member_since(members[1].address) == 0


@both_paths
def test_resign_needs_a_member(ledger: Ledger, outsider: LocalAccount, direct: bool):
    with reverts(
        ledger,
        ConsortiumNotMember,
        {"account": outsider.address},
        unchanged=lambda: membership(ledger),
    ):
        ledger.resign(outsider, direct=direct)


def test_last_member_cannot_leave_or_be_removed(ledger: Ledger, members: list[LocalAccount]):
    last = members[0]
    pass_change(ledger, members, ChangeKind.REMOVE_MEMBER, account=members[2].address)
    pass_change(ledger, members[:2], ChangeKind.REMOVE_MEMBER, account=members[1].address)
    assert ledger.members() == [last.address]
    assert ledger.consortium.functions.ballotParameters().call() == [1, 1, VOTING_PERIOD]

    with reverts(
        ledger,
        ConsortiumLastMember,
        {"account": last.address},
        unchanged=lambda: membership(ledger),
    ):
        ledger.resign(last)
    with reverts(
        ledger,
        ConsortiumLastMember,
        {"account": last.address},
        unchanged=lambda: membership(ledger),
    ):
        ledger.propose_change(last, ChangeKind.REMOVE_MEMBER, account=last.address)


def test_resign_down_to_the_last_member(ledger: Ledger, members: list[LocalAccount]):
    ledger.resign(members[0])
    ledger.resign(members[1])

    with reverts(ledger, ConsortiumLastMember, {"account": members[2].address}):
        ledger.resign(members[2], direct=True)
    assert ledger.members() == [members[2].address]


# ---------------------------------------------------------------- quorum and voting period


@both_paths
def test_set_quorum_by_vote(ledger: Ledger, members: list[LocalAccount], direct: bool):
    proposed = propose(ledger, members[0], ChangeKind.SET_QUORUM, value=10_000, direct=direct)
    args = proposed.event("ChangeProposed").args
    assert (args["kind"], args["account"], args["value"]) == (
        ChangeKind.SET_QUORUM,
        ZERO_ADDRESS,
        10_000,
    )
    vote(ledger, members[0], 1, Support.FOR, direct=direct)

    deciding = vote(ledger, members[1], 1, Support.FOR, direct=direct)

    assert emitted(deciding) == [
        vote_cast(1, members[1], Support.FOR),
        status_changed(1, State.APPROVED),
        ("QuorumChanged", {"previousQuorumBps": QUORUM_BPS, "quorumBps": 10_000}),
    ]
    assert ledger.quorum_bps() == 10_000
    # every member must now approve
    next_proposal = propose(ledger, members[0], ChangeKind.SET_QUORUM, value=QUORUM_BPS)
    assert next_proposal.event("ChangeProposed").args["requiredVotes"] == 3


@pytest.mark.parametrize(
    ("quorum", "required"), [(1, 1), (3333, 1), (3334, 2), (6667, 3), (10_000, 3)]
)
def test_quorum_bounds_and_rounding(
    ledger: Ledger, members: list[LocalAccount], quorum: int, required: int
):
    pass_change(ledger, members, ChangeKind.SET_QUORUM, value=quorum)

    assert ledger.quorum_bps() == quorum
    assert ledger.consortium.functions.ballotParameters().call()[1] == required


@pytest.mark.parametrize("quorum", [0, 10_001, 2**64 - 1])
def test_invalid_quorum(ledger: Ledger, members: list[LocalAccount], quorum: int):
    with reverts(
        ledger,
        ConsortiumInvalidQuorum,
        {"quorumBps": quorum},
        unchanged=lambda: membership(ledger),
    ):
        ledger.propose_change(members[0], ChangeKind.SET_QUORUM, value=quorum)


@both_paths
def test_set_voting_period_by_vote(ledger: Ledger, members: list[LocalAccount], direct: bool):
    propose(ledger, members[0], ChangeKind.SET_VOTING_PERIOD, value=600, direct=direct)
    vote(ledger, members[0], 1, Support.FOR, direct=direct)

    deciding = vote(ledger, members[1], 1, Support.FOR, direct=direct)

    assert emitted(deciding) == [
        vote_cast(1, members[1], Support.FOR),
        status_changed(1, State.APPROVED),
        ("VotingPeriodChanged", {"previousVotingPeriod": VOTING_PERIOD, "votingPeriod": 600}),
    ]
    assert ledger.voting_period() == 600
    # the next ballots of both contracts use it
    proposal = propose(ledger, members[0], ChangeKind.SET_VOTING_PERIOD, value=VOTING_PERIOD)
    assert proposal.event("ChangeProposed").args["deadline"] == (
        block_time(ledger.w3, proposal.block_number) + 600
    )
    model_id = ledger.register_model(members[0], "model")
    version = ledger.act(
        members[0],
        "ProposeVersion",
        {"modelId": model_id, "parentId": 0, "kind": 0, "artifactDigest": b"\x01" * 32,
         "metadataDigest": bytes(32)},
    )  # fmt: skip
    assert version.event("VersionProposed").args["deadline"] == (
        block_time(ledger.w3, version.block_number) + 600
    )


@pytest.mark.parametrize("period", [60, YEAR])
def test_voting_period_bounds(ledger: Ledger, members: list[LocalAccount], period: int):
    pass_change(ledger, members, ChangeKind.SET_VOTING_PERIOD, value=period)

    assert ledger.voting_period() == period


@pytest.mark.parametrize("period", [0, 59, YEAR + 1])
def test_invalid_voting_period(ledger: Ledger, members: list[LocalAccount], period: int):
    with reverts(
        ledger,
        ConsortiumInvalidVotingPeriod,
        {"votingPeriod": period},
        unchanged=lambda: membership(ledger),
    ):
        ledger.propose_change(members[0], ChangeKind.SET_VOTING_PERIOD, value=period)


def test_quorum_change_does_not_touch_open_ballots(
    ledger: Ledger, members: list[LocalAccount], add_newcomer: int
):
    pass_change(ledger, members, ChangeKind.SET_QUORUM, value=10_000)

    assert ledger.proposal(add_newcomer).ballot.required == 2
    ledger.vote_on_change(members[0], add_newcomer, Support.FOR)
    assert ledger.vote_on_change(members[2], add_newcomer, Support.FOR) is State.APPROVED


# ---------------------------------------------------------------- rejection


@both_paths
def test_rejected_by_votes(
    ledger: Ledger,
    members: list[LocalAccount],
    newcomer: LocalAccount,
    add_newcomer: int,
    direct: bool,
):
    assert emitted(vote(ledger, members[0], add_newcomer, Support.AGAINST, direct=direct)) == [
        vote_cast(add_newcomer, members[0], Support.AGAINST)
    ]

    deciding = vote(ledger, members[1], add_newcomer, Support.AGAINST, direct=direct)

    assert emitted(deciding) == [
        vote_cast(add_newcomer, members[1], Support.AGAINST),
        status_changed(add_newcomer, State.REJECTED),
    ]
    record = ledger.proposal(add_newcomer)
    assert (record.state, record.ballot.stored_state, record.ballot.against_votes) == (
        State.REJECTED,
        State.REJECTED,
        2,
    )
    assert not ledger.is_member(newcomer.address)


def test_abstentions_can_leave_quorum_out_of_reach(
    ledger: Ledger, members: list[LocalAccount], add_newcomer: int
):
    assert ledger.vote_on_change(members[0], add_newcomer, Support.ABSTAIN) is State.PROPOSED
    assert ledger.vote_on_change(members[1], add_newcomer, Support.ABSTAIN) is State.REJECTED
    ballot = ledger.proposal(add_newcomer).ballot
    assert (ballot.for_votes, ballot.against_votes, ballot.abstain_votes) == (0, 0, 2)
    assert ledger.change_vote_of(add_newcomer, members[1].address) is Support.ABSTAIN


def test_rejected_by_window_and_finalized(
    ledger: Ledger, members: list[LocalAccount], newcomer: LocalAccount, add_newcomer: int
):
    ledger.vote_on_change(members[0], add_newcomer, Support.FOR)
    increase_time(ledger.w3, VOTING_PERIOD + 1)

    record = ledger.proposal(add_newcomer)
    assert (record.state, record.ballot.stored_state) == (State.REJECTED, State.PROPOSED)

    receipt = ledger.finalize_change(add_newcomer)

    assert emitted(receipt) == [status_changed(add_newcomer, State.REJECTED)]
    record = ledger.proposal(add_newcomer)
    assert (record.state, record.ballot.stored_state) == (State.REJECTED, State.REJECTED)
    assert not ledger.is_member(newcomer.address)


def test_finalize_while_open(ledger: Ledger, add_newcomer: int):
    deadline = ledger.proposal(add_newcomer).ballot.deadline
    with reverts(
        ledger,
        ConsortiumVotingOpen,
        {"proposalId": add_newcomer, "deadline": deadline},
        unchanged=lambda: ledger.proposal(add_newcomer),
    ):
        ledger.finalize_change(add_newcomer)


@pytest.mark.parametrize(
    ("votes", "state"),
    [
        ((Support.FOR, Support.FOR), State.APPROVED),
        ((Support.AGAINST, Support.AGAINST), State.REJECTED),
    ],
    ids=["approved", "rejected"],
)
def test_decided_proposal_takes_no_votes_and_no_finalize(
    ledger: Ledger,
    members: list[LocalAccount],
    add_newcomer: int,
    votes: tuple[Support, Support],
    state: State,
):
    for voter, support in zip(members, votes, strict=False):
        ledger.vote_on_change(voter, add_newcomer, support)
    expected = {"proposalId": add_newcomer, "current": state, "expected": State.PROPOSED}

    with reverts(
        ledger,
        ConsortiumUnexpectedProposalState,
        expected,
        unchanged=lambda: (membership(ledger), ledger.proposal(add_newcomer)),
    ):
        ledger.vote_on_change(members[2], add_newcomer, Support.FOR)
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    with reverts(ledger, ConsortiumUnexpectedProposalState, expected):
        ledger.finalize_change(add_newcomer)


def test_finalize_twice(ledger: Ledger, add_newcomer: int):
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    ledger.finalize_change(add_newcomer)

    with reverts(
        ledger,
        ConsortiumUnexpectedProposalState,
        {"proposalId": add_newcomer, "current": State.REJECTED, "expected": State.PROPOSED},
    ):
        ledger.finalize_change(add_newcomer)


# ---------------------------------------------------------------- who may propose and vote


@both_paths
def test_non_member_cannot_propose(
    ledger: Ledger, outsider: LocalAccount, newcomer: LocalAccount, direct: bool
):
    with reverts(
        ledger,
        ConsortiumNotMember,
        {"account": outsider.address},
        unchanged=lambda: (membership(ledger), ledger.nonce_of("Consortium", outsider.address)),
    ):
        propose(ledger, outsider, ChangeKind.ADD_MEMBER, account=newcomer.address, direct=direct)


@both_paths
def test_non_member_cannot_vote(
    ledger: Ledger, outsider: LocalAccount, add_newcomer: int, direct: bool
):
    with reverts(
        ledger,
        ConsortiumNotMember,
        {"account": outsider.address},
        unchanged=lambda: (
            ledger.proposal(add_newcomer),
            ledger.nonce_of("Consortium", outsider.address),
        ),
    ):
        vote(ledger, outsider, add_newcomer, Support.FOR, direct=direct)


@both_paths
def test_double_vote(ledger: Ledger, members: list[LocalAccount], add_newcomer: int, direct: bool):
    vote(ledger, members[0], add_newcomer, Support.AGAINST, direct=direct)

    for support in Support:
        with reverts(
            ledger,
            ConsortiumAlreadyVoted,
            {"proposalId": add_newcomer, "voter": members[0].address},
            unchanged=lambda: ledger.proposal(add_newcomer),
        ):
            vote(ledger, members[0], add_newcomer, support, direct=direct)
    assert ledger.change_vote_of(add_newcomer, members[0].address) is Support.AGAINST


@both_paths
def test_vote_after_the_window(
    ledger: Ledger, members: list[LocalAccount], add_newcomer: int, direct: bool
):
    deadline = ledger.proposal(add_newcomer).ballot.deadline
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    now = block_time(ledger.w3)

    with reverts(
        ledger,
        ConsortiumVotingClosed,
        {"proposalId": add_newcomer, "deadline": deadline, "timestamp": now},
        unchanged=lambda: ledger.proposal(add_newcomer),
    ):
        vote(ledger, members[0], add_newcomer, Support.FOR, direct=direct)


def test_window_includes_its_deadline(
    ledger: Ledger, members: list[LocalAccount], add_newcomer: int
):
    deadline = ledger.proposal(add_newcomer).ballot.deadline
    mine_at(ledger.w3, deadline - 1)  # the vote lands in the next block, at the deadline or after

    ledger.w3.provider.make_request("evm_setNextBlockTimestamp", [deadline])  # type: ignore[arg-type]
    receipt = vote(ledger, members[0], add_newcomer, Support.FOR, direct=True)
    assert block_time(ledger.w3, receipt.block_number) == deadline

    mine_at(ledger.w3, deadline + 1)
    with reverts(
        ledger,
        ConsortiumVotingClosed,
        {"proposalId": add_newcomer, "deadline": deadline, "timestamp": deadline + 1},
    ):
        vote(ledger, members[1], add_newcomer, Support.FOR, direct=True)


@both_paths
def test_member_who_joined_after_the_proposal_is_not_eligible(
    ledger: Ledger,
    members: list[LocalAccount],
    newcomer: LocalAccount,
    outsider: LocalAccount,
    direct: bool,
):
    open_proposal = ledger.propose_change(
        members[0], ChangeKind.ADD_MEMBER, account=outsider.address
    )
    snapshot = ledger.proposal(open_proposal).ballot.snapshot_block
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=newcomer.address)
    since = ledger.member_since(newcomer.address)
    assert since > snapshot

    with reverts(
        ledger,
        ConsortiumNotEligible,
        {
            "proposalId": open_proposal,
            "voter": newcomer.address,
            "memberSince": since,
            "snapshotBlock": snapshot,
        },
        unchanged=lambda: ledger.proposal(open_proposal),
    ):
        vote(ledger, newcomer, open_proposal, Support.FOR, direct=direct)


@pytest.mark.parametrize("proposal_id", [0, 1, 2**64])
def test_unknown_proposal(ledger: Ledger, members: list[LocalAccount], proposal_id: int):
    unknown = {"proposalId": proposal_id}
    with reverts(ledger, ConsortiumUnknownProposal, unknown, unchanged=lambda: membership(ledger)):
        ledger.vote_on_change(members[0], proposal_id, Support.FOR)
    with reverts(ledger, ConsortiumUnknownProposal, unknown):
        ledger.finalize_change(proposal_id)
    with reverts(ledger, ConsortiumUnknownProposal, unknown):
        ledger.proposal(proposal_id)


def test_membership_history_from_events(
    ledger: Ledger, members: list[LocalAccount], newcomer: LocalAccount
):
    start = ledger.block_number() + 1
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=newcomer.address)
    ledger.resign(members[2])
    pass_change(ledger, [*members[:2], newcomer], ChangeKind.SET_QUORUM, value=7500)

    changes = [
        (e.name, e.args)
        for e in ledger.events(contract="Consortium", from_block=start)
        if e.name in ("MemberAdded", "MemberRemoved", "QuorumChanged", "VotingPeriodChanged")
    ]
    assert changes == [
        ("MemberAdded", {"account": newcomer.address, "memberCount": 4}),
        ("MemberRemoved", {"account": members[2].address, "memberCount": 3}),
        ("QuorumChanged", {"previousQuorumBps": QUORUM_BPS, "quorumBps": 7500}),
    ]
