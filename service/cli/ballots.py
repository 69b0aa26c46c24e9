"""``govledger ballots``: what is open for votes, and with ``--mine`` what waits for yours."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from service.api.schemas import OpenBallotPublic
from service.cli import render
from service.cli.context import state
from service.cli.exits import ExitCode
from service.cli.output import CliError, emit, table


def ballots(
    mine: Annotated[
        bool,
        typer.Option(
            "--mine",
            help="Only what waits for the acting account's vote (--as, --dev-account): open, "
            "eligible, not voted yet.",
        ),
    ] = False,
) -> None:
    """Versions and membership changes open for votes, soonest deadline first."""
    s = state()
    client = s.client()
    voter = s.address()
    if mine and voter is None:
        raise CliError(
            "--mine needs to know who you are: give --as NAME or --dev-account N",
            code=ExitCode.SIGNATURE,
        )
    items = client.open_ballots(voter=voter, waiting=mine)
    if mine:
        title = f"waiting for the vote of {voter} ({len(items)})"
    else:
        title = f"open ballots ({len(items)})"
    emit(items, lambda: _table(items, title=title, voter=voter), as_json=s.json_output)


def _table(items: list[OpenBallotPublic], *, title: str, voter: str | None) -> Table:
    rows = []
    for b in items:
        if b.version is not None:
            v = b.version
            what = f"{render.label(v)} (id {v.version_id}, {v.kind})"
            tally = render.tally(v.ballot)
            needs = f"{v.ballot.required} of {v.ballot.eligible}"
            how = f"govledger vote {render.label(v)} for|against|abstain"
        else:
            assert b.proposal is not None
            p = b.proposal
            target = p.account or p.value
            what = f"membership proposal {p.proposal_id}: {p.kind} {target}"
            tally = render.tally(p.ballot)
            needs = f"{p.ballot.required} of {p.ballot.eligible}"
            how = f"govledger membership vote {p.proposal_id} for|against|abstain"
        yours = "-" if voter is None else (b.vote or ("not yet" if b.may_vote else "may not vote"))
        rows.append((what, tally, needs, render.until(b.deadline), yours, how))
    return table("ballot", "votes", "needs", "open until", "your vote", "to vote", rows=rows,
                 title=title)  # fmt: skip
