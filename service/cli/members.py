"""``govledger members``, ``consortium``, ``membership`` (proposals and votes) and ``resign``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from service.cli import render
from service.cli.context import state
from service.cli.output import CliError, command, emit
from service.cli.versions import Choice

members_app = typer.Typer(help="The consortium's members.", no_args_is_help=True)
consortium_app = typer.Typer(help="The consortium's parameters.", no_args_is_help=True)
membership_app = typer.Typer(
    help="Membership changes: propose, vote, list, show, finalize.", no_args_is_help=True
)


class ChangeKind(StrEnum):
    add_member = "add_member"
    remove_member = "remove_member"
    set_quorum = "set_quorum"
    set_voting_period = "set_voting_period"


ProposalArg = Annotated[int, typer.Argument(min=1, help="The membership proposal's id.")]


@command(members_app, "list")
def list_members() -> None:
    """List the members and the block each joined at."""
    s = state()
    items = s.client().members()
    emit(items, lambda: render.members(items, title="members"), as_json=s.json_output)


@command(consortium_app, "show")
def show_consortium() -> None:
    """Show members, quorum, voting period and the For votes a ballot needs now."""
    s = state()
    c = s.client().consortium()
    emit(c, lambda: render.consortium(c), as_json=s.json_output)


@command(membership_app, "propose")
def propose(
    kind: Annotated[ChangeKind, typer.Argument(help="The change.")],
    account: Annotated[
        str | None, typer.Option("--account", help="The member to add or remove.")
    ] = None,
    value: Annotated[
        int,
        typer.Option(
            "--value", min=0, help="Basis points (set_quorum) or seconds (set_voting_period)."
        ),
    ] = 0,
) -> None:
    """Propose a membership change (signed; members only)."""
    needs_account = kind in (ChangeKind.add_member, ChangeKind.remove_member)
    if needs_account and account is None:
        raise CliError(f"{kind.value} needs --account ADDRESS")
    if not needs_account and value == 0:
        raise CliError(f"{kind.value} needs --value N")
    s = state()
    written = s.client().propose_change(s.signer(), kind.value, account=account, value=value)
    emit(
        written,
        lambda: render.proposal(written.proposal, written.transaction),
        as_json=s.json_output,
    )


@command(membership_app, "vote")
def vote(
    proposal: ProposalArg,
    choice: Annotated[Choice, typer.Argument(help="for, against or abstain")],
) -> None:
    """Vote on a membership proposal; the deciding vote applies it (signed; members only)."""
    s = state()
    written = s.client().vote_on_change(s.signer(), proposal, choice.value)
    emit(
        written,
        lambda: render.proposal(written.proposal, written.transaction),
        as_json=s.json_output,
    )


@command(membership_app, "list")
def list_proposals(
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """List membership proposals with their state."""
    s = state()
    items = s.client().list_proposals(offset=offset, limit=limit)
    emit(
        items,
        lambda: render.proposals(items, title="membership proposals"),
        as_json=s.json_output,
    )


@command(membership_app, "show")
def show(proposal: ProposalArg) -> None:
    """Show a membership proposal with its tally."""
    s = state()
    p = s.client().get_proposal(proposal)
    emit(p, lambda: render.proposal(p), as_json=s.json_output)


@command(membership_app, "finalize")
def finalize(proposal: ProposalArg) -> None:
    """Record that a proposal's window ended without approval (no signature needed)."""
    s = state()
    written = s.client().finalize_change(proposal)
    emit(
        written,
        lambda: render.proposal(written.proposal, written.transaction),
        as_json=s.json_output,
    )


def resign(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Leave the consortium (signed; the last member cannot leave)."""
    s = state()
    signer = s.signer()
    if not yes:
        typer.confirm(f"{signer.address} leaves the consortium. Continue?", abort=True)
    written = s.client().resign(signer)
    tx = written.transaction
    emit(
        written,
        lambda: (
            f"{signer.address} left the consortium (transaction {tx.transaction_hash}, "
            f"block {tx.block_number})"
        ),
        as_json=s.json_output,
    )
