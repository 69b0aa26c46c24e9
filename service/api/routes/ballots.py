"""Open ballots: what can still be voted on, and what waits for one member's vote."""

from __future__ import annotations

from typing import Annotated

from eth_utils import to_checksum_address
from fastapi import APIRouter, Query

from service.api.deps import ArtifactsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.routes.versions import public_version
from service.api.schemas import Address, OpenBallotPublic, ProposalPublic, support_name
from service.domain import ballots, catalog
from service.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["ballots"], responses=PROBLEM_RESPONSES)


@router.get("/ballots", response_model=list[OpenBallotPublic])
def open_ballots(
    artifacts: ArtifactsDep,
    voter: Annotated[
        Address | None,
        Query(description="a member: each ballot says its vote and whether it may vote"),
    ] = None,
    waiting: Annotated[
        bool,
        Query(description="with voter: only the ballots it may vote on and has not"),
    ] = False,
) -> list[OpenBallotPublic]:
    """Versions and membership changes still open for votes, soonest deadline first."""
    ledger = artifacts.backends.ledger
    if waiting and voter is None:
        raise InvalidInput("waiting=true needs voter=ADDRESS: the member whose vote is waited for")
    account = to_checksum_address(voter) if voter else None
    if account and waiting:
        found = ballots.waiting_for(ledger, account)
    else:
        found = ballots.open_ballots(ledger, voter=account)
    numbers: dict[int, dict[int, int]] = {}
    out = []
    for b in found:
        vote = support_name(b.vote) if b.vote is not None else None
        if b.version is not None:
            mid = b.version.model_id
            if mid not in numbers:
                numbers[mid] = catalog.version_numbers(ledger, mid)
            out.append(
                OpenBallotPublic(
                    kind="version",
                    version=public_version(artifacts, b.version, numbers=numbers[mid]),
                    deadline=b.deadline,
                    vote=vote,
                    may_vote=b.may_vote,
                )
            )
        elif b.proposal is not None:
            out.append(
                OpenBallotPublic(
                    kind="membership",
                    proposal=ProposalPublic.of(b.proposal),
                    deadline=b.deadline,
                    vote=vote,
                    may_vote=b.may_vote,
                )
            )
    return out
