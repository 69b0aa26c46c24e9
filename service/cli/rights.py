"""``govledger rights``: grant, revoke and show per-model access rights."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from service.api.schemas import RightsWritten
from service.cli import render
from service.cli.context import model_id, state
from service.cli.output import command, emit

app = typer.Typer(help="Access rights on models.", no_args_is_help=True)

ModelArg = Annotated[str, typer.Argument(help="The model's id or name.")]
AccountArg = Annotated[str, typer.Argument(help="The account's address.")]


class Right(StrEnum):
    submit_updates = "submit_updates"
    read_artifacts = "read_artifacts"
    maintain = "maintain"


RightsArg = Annotated[
    list[Right], typer.Argument(help="One or more of submit_updates, read_artifacts, maintain.")
]


def _show_written(written: RightsWritten) -> None:
    s = state()
    emit(
        written,
        lambda: render.rights([written.rights], title=f"tx {written.transaction.transaction_hash}"),
        as_json=s.json_output,
    )


@command(app, "grant")
def grant(model: ModelArg, account: AccountArg, rights: RightsArg) -> None:
    """Grant rights on a model to an account (signed; owner only)."""
    s = state()
    client = s.client()
    names = [r.value for r in rights]
    _show_written(client.grant_rights(s.signer(), model_id(client, model), account, names))


@command(app, "revoke")
def revoke(model: ModelArg, account: AccountArg, rights: RightsArg) -> None:
    """Revoke rights on a model from an account (signed; owner only)."""
    s = state()
    client = s.client()
    names = [r.value for r in rights]
    _show_written(client.revoke_rights(s.signer(), model_id(client, model), account, names))


@command(app, "show")
def show(
    model: ModelArg,
    account: Annotated[
        str | None, typer.Argument(help="One account; default: every holder.")
    ] = None,
) -> None:
    """Show what an account may do on a model, or every holder of rights on it."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    if account is not None:
        one = client.get_rights(mid, account)
        emit(one, lambda: render.rights([one]), as_json=s.json_output)
    else:
        items = client.rights_on_model(mid)
        emit(
            items,
            lambda: render.rights(items, title=f"rights on model {mid}"),
            as_json=s.json_output,
        )


@command(app, "of")
def of(account: AccountArg) -> None:
    """Every model on which an account holds rights (or which it owns)."""
    s = state()
    items = s.client().rights_of_account(account)
    emit(items, lambda: render.rights(items, title=f"rights of {account}"), as_json=s.json_output)
