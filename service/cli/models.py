"""``govledger models``: register, list, search and show models; metadata, owner, read policy."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import render
from service.cli.context import model_id, state
from service.cli.output import CliError, command, emit
from service.cli.session import signed_in_if_asked
from service.client import ZERO_DIGEST, GovLedgerClient, Signer

app = typer.Typer(help="Models: register, list, search, show, metadata.", no_args_is_help=True)

ModelArg = Annotated[str, typer.Argument(help="The model's id or name.")]


class ReadPolicy(StrEnum):
    open = "open"
    restricted = "restricted"


def upload_metadata(client: GovLedgerClient, signer: Signer, path: Path | None) -> str:
    """Store the JSON document at ``path`` on the service, signed by ``signer`` (a member);
    return its digest (zero if None)."""
    if path is None:
        return ZERO_DIGEST
    data = path.read_bytes()
    try:
        doc: Any = json.loads(data)
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CliError(f"{path} must hold a JSON object")
    return client.store_metadata(signer, data).digest


@command(app, "register")
def register(
    name: Annotated[str, typer.Argument(help="Unique name: 1-64 of a-z 0-9 . _ -")],
    restricted: Annotated[
        bool, typer.Option("--restricted", help="Only read-right holders may download artifacts.")
    ] = False,
    metadata: Annotated[
        Path | None,
        typer.Option("--metadata", help="A JSON file describing the model, stored by digest."),
    ] = None,
) -> None:
    """Register a model (signed; you must be a member and become its owner)."""
    s = state()
    client = s.client()
    signer = s.signer()
    written = client.register_model(
        signer,
        name,
        metadata_digest=upload_metadata(client, signer, metadata),
        restricted=restricted,
    )
    emit(written, lambda: render.model(written.model, written.transaction), as_json=s.json_output)


def _list(name: str | None, owner: str | None, offset: int, limit: int, title: str) -> None:
    s = state()
    page = s.client().list_models(name=name, owner=owner, offset=offset, limit=limit)
    shown = f"{title} ({len(page.items)} of {page.total})"
    emit(page, lambda: render.models(page.items, title=shown), as_json=s.json_output)


@command(app, "list")
def list_(
    owner: Annotated[
        str | None, typer.Option("--owner", help="Only models of this address.")
    ] = None,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """List models."""
    _list(None, owner, offset, limit, "models")


@command(app, "search")
def search(
    text: Annotated[str, typer.Argument(help="Part of the name.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Only models of this address.")
    ] = None,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """Search models by part of their name (and owner)."""
    _list(text, owner, offset, limit, f"models matching {text!r}")


@command(app, "show")
def show(model: ModelArg) -> None:
    """Show a model."""
    s = state()
    client = s.client()
    m = client.get_model(model_id(client, model))
    emit(m, lambda: render.model(m), as_json=s.json_output)


@command(app, "metadata")
def metadata(model: ModelArg) -> None:
    """Print a model's metadata document (verified against its digest on chain).

    Restricted models need a session, as for downloads: `govledger login` first, or give a key
    (--as, --dev-account) and the command signs in when the service asks for it."""
    client = state().client(session=True)
    mid = model_id(client, model)
    doc = signed_in_if_asked(lambda: client.get_model_metadata(mid))
    typer.echo(json.dumps(doc, indent=2))


@command(app, "set-metadata")
def set_metadata(
    model: ModelArg,
    file: Annotated[Path, typer.Argument(help="A JSON file describing the model.")],
) -> None:
    """Replace a model's metadata document (signed; owner only)."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    signer = s.signer()
    digest = upload_metadata(client, signer, file)
    written = client.set_model_metadata(signer, mid, digest)
    emit(written, lambda: render.model(written.model, written.transaction), as_json=s.json_output)


@command(app, "transfer")
def transfer(
    model: ModelArg,
    new_owner: Annotated[
        str,
        typer.Argument(help="The new owner's address; the zero address cancels a transfer."),
    ],
) -> None:
    """Start handing a model to another account, who then runs `models accept` (signed; owner
    only; you stay owner until then)."""
    s = state()
    client = s.client()
    written = client.transfer_model(s.signer(), model_id(client, model), new_owner)
    emit(written, lambda: render.model(written.model, written.transaction), as_json=s.json_output)


@command(app, "accept")
def accept(model: ModelArg) -> None:
    """Take over a model that its owner is handing to you (signed; pending owner only)."""
    s = state()
    client = s.client()
    written = client.accept_model(s.signer(), model_id(client, model))
    emit(written, lambda: render.model(written.model, written.transaction), as_json=s.json_output)


@command(app, "read-policy")
def read_policy(
    model: ModelArg,
    policy: Annotated[ReadPolicy, typer.Argument(help="open or restricted")],
) -> None:
    """Open a model's artifacts to all, or restrict them to read-right holders (signed)."""
    s = state()
    client = s.client()
    written = client.set_read_policy(
        s.signer(), model_id(client, model), restricted=policy is ReadPolicy.restricted
    )
    emit(written, lambda: render.model(written.model, written.transaction), as_json=s.json_output)
