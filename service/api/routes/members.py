"""The consortium: members, parameters, membership proposals and votes, resignations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from service.api.deps import LedgerDep, RelayerDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.schemas import (
    CHANGE_BY_NAME,
    SUPPORT_BY_NAME,
    ChangeProposalCreate,
    ConsortiumPublic,
    MemberPublic,
    ProposalPublic,
    ProposalWritten,
    Resignation,
    TransactionPublic,
    VoteCreate,
    Written,
)
from service.chain.ledger import ZERO_ADDRESS
from service.domain import catalog
from service.domain.actions import finalize, relay

router = APIRouter(prefix="/v1", tags=["members"], responses=PROBLEM_RESPONSES)

ProposalId = Annotated[int, Path(ge=1, le=2**40, description="the membership proposal's id")]


@router.get("/members", response_model=list[MemberPublic])
def list_members(ledger: LedgerDep) -> list[MemberPublic]:
    """The consortium's members and the block each joined at."""
    return [
        MemberPublic(address=a, member_since_block=ledger.member_since(a)) for a in ledger.members()
    ]


@router.get("/consortium", response_model=ConsortiumPublic)
def consortium(ledger: LedgerDep) -> ConsortiumPublic:
    """Members, quorum, voting period and the For votes a ballot opened now needs."""
    members = list_members(ledger)
    _, required, period = ledger.ballot_parameters()
    return ConsortiumPublic(
        members=members,
        quorum_bps=ledger.quorum_bps(),
        voting_period_s=int(period),
        required_votes=int(required),
    )


@router.post("/membership-proposals", response_model=ProposalWritten, status_code=201)
def propose_change(
    body: ChangeProposalCreate, ledger: LedgerDep, relayer: RelayerDep
) -> ProposalWritten:
    """Propose adding or removing a member, a quorum or a voting period (signed ProposeChange)."""
    receipt = relay(
        relayer,
        "ProposeChange",
        {
            "kind": int(CHANGE_BY_NAME[body.kind]),
            "account": body.account or ZERO_ADDRESS,
            "value": body.value,
        },
        body,
    )
    proposal_id = int(receipt.event("ChangeProposed").args["proposalId"])
    return ProposalWritten(
        proposal=ProposalPublic.of(ledger.proposal(proposal_id)),
        transaction=TransactionPublic.of(receipt),
    )


@router.get("/membership-proposals", response_model=list[ProposalPublic])
def list_proposals(
    ledger: LedgerDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ProposalPublic]:
    """Membership proposals with their state."""
    return [
        ProposalPublic.of(p) for p in catalog.proposals(ledger, offset=offset, limit=limit).items
    ]


@router.get("/membership-proposals/{proposal_id}", response_model=ProposalPublic)
def get_proposal(proposal_id: ProposalId, ledger: LedgerDep) -> ProposalPublic:
    """One membership proposal with its tally."""
    return ProposalPublic.of(ledger.proposal(proposal_id))


@router.post(
    "/membership-proposals/{proposal_id}/votes", response_model=ProposalWritten, status_code=201
)
def vote_on_change(
    proposal_id: ProposalId, body: VoteCreate, ledger: LedgerDep, relayer: RelayerDep
) -> ProposalWritten:
    """Vote on a membership proposal; the deciding vote applies it (signed VoteOnChange)."""
    receipt = relay(
        relayer,
        "VoteOnChange",
        {"proposalId": proposal_id, "support": int(SUPPORT_BY_NAME[body.support])},
        body,
    )
    return ProposalWritten(
        proposal=ProposalPublic.of(ledger.proposal(proposal_id)),
        transaction=TransactionPublic.of(receipt),
    )


@router.post("/membership-proposals/{proposal_id}/finalize", response_model=ProposalWritten)
def finalize_change(
    proposal_id: ProposalId, ledger: LedgerDep, relayer: RelayerDep
) -> ProposalWritten:
    """Record that a proposal's window ended without approval (anyone may ask)."""
    receipt = finalize(relayer, "Consortium", "finalizeChange", proposal_id)
    return ProposalWritten(
        proposal=ProposalPublic.of(ledger.proposal(proposal_id)),
        transaction=TransactionPublic.of(receipt),
    )


@router.post("/members/resign", response_model=Written)
def resign(body: Resignation, relayer: RelayerDep) -> Written:
    """Leave the consortium (signed Resign; the last member cannot leave)."""
    return Written(transaction=TransactionPublic.of(relay(relayer, "Resign", {}, body)))
