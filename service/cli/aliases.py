"""``govledger alias``: move an alias, show it (now or at a block), its history, a model's list."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import render
from service.cli.context import model_id, state
from service.cli.output import command, emit, fields

app = typer.Typer(
    help="Aliases (production, staging, ...) of a model's versions.", no_args_is_help=True
)

ModelArg = Annotated[str, typer.Argument(help="The model's id or name.")]
AliasArg = Annotated[str, typer.Argument(help="The alias, e.g. production.")]


@command(app, "set")
def set_(
    model: ModelArg,
    alias: AliasArg,
    version: Annotated[int, typer.Argument(min=0, help="An Approved version; 0 clears the alias.")],
) -> None:
    """Point an alias at an Approved version, or clear it with 0 (signed; owner or maintainer)."""
    s = state()
    client = s.client()
    written = client.move_alias(s.signer(), model_id(client, model), alias, version)
    a = written.alias
    emit(
        written,
        lambda: fields(
            [
                ("model", a.model_id),
                ("alias", a.alias),
                ("version", a.version_id),
                *render.transaction_rows(written.transaction),
            ]
        ),
        as_json=s.json_output,
    )


@command(app, "show")
def show(
    model: ModelArg,
    alias: AliasArg,
    block: Annotated[
        int | None, typer.Option("--block", min=0, help="The value at this block.")
    ] = None,
) -> None:
    """Show the version an alias points at, now or at a past block."""
    s = state()
    client = s.client()
    a = client.get_alias(model_id(client, model), alias, block=block)
    emit(
        a,
        lambda: fields(
            [
                ("model", a.model_id),
                ("alias", a.alias),
                ("version", a.version_id),
                ("at block", a.at_block if a.at_block is not None else "latest"),
            ]
        ),
        as_json=s.json_output,
    )


@command(app, "history")
def history(model: ModelArg, alias: AliasArg) -> None:
    """Every move of an alias with block, time and who moved it."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    moves = client.alias_history(mid, alias)
    title = f"history of {alias} on model {mid}"
    emit(moves, lambda: render.alias_moves(moves, title=title), as_json=s.json_output)


@command(app, "list")
def list_(model: ModelArg) -> None:
    """Every alias a model has had, with its version now."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    items = client.list_aliases(mid)
    emit(
        items, lambda: render.aliases(items, title=f"aliases of model {mid}"), as_json=s.json_output
    )
