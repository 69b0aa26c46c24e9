"""``govledger alias``: move an alias, show it (now or at a block), its history, a model's list."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Annotated

import typer

from service.cli import render
from service.cli.context import model_id, naming, state, version_of
from service.cli.output import CliError, command, emit, fields

app = typer.Typer(
    help="Aliases (production, staging, ...) of a model's versions.", no_args_is_help=True
)

ModelArg = Annotated[str, typer.Argument(help="The model's id or name.")]
AliasArg = Annotated[str, typer.Argument(help="The alias, e.g. production.")]


CLEAR = ("0", "none")


@command(app, "set")
def set_(
    model: ModelArg,
    alias: AliasArg,
    version: Annotated[
        str,
        typer.Argument(
            help="An Approved version of this model: its number (3, or @3), or another alias "
            "(:staging); 0 or none clears the alias.",
            metavar="VERSION",
        ),
    ],
) -> None:
    """Point an alias at an Approved version (by its number in the model), or clear it
    (signed; owner or maintainer)."""
    from service.chain.types import alias_to_bytes32
    from service.errors import InvalidInput

    try:
        alias_to_bytes32(alias)  # a bad name is said before anything is looked up
    except InvalidInput as exc:
        raise CliError(str(exc)) from None
    s = state()
    client = s.client()
    mid = model_id(client, model)
    named: AbstractContextManager[None] = contextlib.nullcontext()
    if version.strip().lower() in CLEAR:
        version_id, shown = 0, "- (cleared)"
    else:
        v = version_of(client, version, model=model)
        version_id, shown, named = v.version_id, f"{render.label(v)} (id {v.version_id})", naming(v)
    with named:
        written = client.move_alias(s.signer(), mid, alias, version_id)
    a = written.alias
    emit(
        written,
        lambda: fields(
            [
                ("model", f"{model} (id {a.model_id})" if model != str(a.model_id) else model),
                ("alias", a.alias),
                ("version", shown),
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
    if a.version_id is not None:
        shown = render.numbered(a.version_number, a.version_id, _name(model))
    elif block is None:
        shown = "- (cleared: it points at no version)"
    else:
        shown = "- (not set at that block)"
    emit(
        a,
        lambda: fields(
            [
                ("model", model),
                ("alias", a.alias),
                ("version", shown),
                ("at block", a.at_block if a.at_block is not None else "latest"),
            ]
        ),
        as_json=s.json_output,
    )


def _name(model: str) -> str | None:
    return None if model.isdigit() else model


@command(app, "history")
def history(model: ModelArg, alias: AliasArg) -> None:
    """Every move of an alias with block, time and who moved it."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    moves = client.alias_history(mid, alias)
    title = f"history of {alias} on {model}"
    emit(
        moves,
        lambda: render.alias_moves(moves, title=title, model=_name(model)),
        as_json=s.json_output,
    )


@command(app, "list")
def list_(model: ModelArg) -> None:
    """Every alias a model has had, with its version now."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    items = client.list_aliases(mid)
    emit(
        items,
        lambda: render.aliases(items, title=f"aliases of {model}", model=_name(model)),
        as_json=s.json_output,
    )
