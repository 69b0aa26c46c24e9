"""Open ballots: the versions and membership changes that can still be voted on, and for one
member, which of them wait for its vote (may vote, has not yet)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

from service.chain.ledger import Ledger
from service.chain.types import ChangeKind, ProposalRecord, State, Support, VersionRecord


@dataclass(frozen=True, kw_only=True)
class OpenBallot:
    """One ballot still open; ``vote`` and ``may_vote`` are the voter's (None without one)."""

    version: VersionRecord | None = None
    proposal: ProposalRecord | None = None
    deadline: int
    vote: Support | None = None
    may_vote: bool | None = None


def open_ballots(ledger: Ledger, *, voter: str | None = None) -> list[OpenBallot]:
    """Every open ballot, soonest deadline first; with ``voter``, each with its vote and
    whether it may vote (a member that joined before the ballot's snapshot, and not the
    subject of a removal)."""
    now = ledger.history.block_timestamp(ledger.block_number())
    account = to_checksum_address(voter) if voter else None
    since = ledger.member_since(account) if account else 0
    found: list[OpenBallot] = []
    for e in ledger.events(
        contract="ModelRegistry", event="VersionProposed", with_timestamps=False
    ):
        if int(e.args["deadline"]) < now:
            continue  # closed already: nothing to read
        version = ledger.version(int(e.args["versionId"]))
        if version.state != State.PROPOSED:
            continue
        vote = ledger.vote_of(version.version_id, account) if account else None
        may = _eligible(since, version.ballot.snapshot_block) if account else None
        found.append(
            OpenBallot(version=version, deadline=version.ballot.deadline, vote=vote, may_vote=may)
        )
    for proposal_id in range(1, ledger.proposal_count() + 1):
        proposal = ledger.proposal(proposal_id)
        if proposal.state != State.PROPOSED or proposal.ballot.deadline < now:
            continue
        vote = ledger.change_vote_of(proposal_id, account) if account else None
        may = None
        if account:
            subject = proposal.kind == ChangeKind.REMOVE_MEMBER and proposal.account == account
            may = _eligible(since, proposal.ballot.snapshot_block) and not subject
        found.append(
            OpenBallot(
                proposal=proposal, deadline=proposal.ballot.deadline, vote=vote, may_vote=may
            )
        )
    return sorted(found, key=lambda b: b.deadline)


def waiting_for(ledger: Ledger, voter: str) -> list[OpenBallot]:
    """The open ballots ``voter`` may vote on and has not."""
    return [b for b in open_ballots(ledger, voter=voter) if b.may_vote and b.vote is None]


def _eligible(member_since: int, snapshot_block: int) -> bool:
    return 0 < member_since < snapshot_block
