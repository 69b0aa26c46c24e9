"""``govledger versions`` (propose, list, show, finalize), ``govledger vote`` and ``votes``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from service.cli import render
from service.cli.context import model_id, state
from service.cli.models import upload_metadata
from service.cli.output import CliError, command, emit, fields, transfer_progress

app = typer.Typer(help="Model versions: propose, list, show, finalize.", no_args_is_help=True)
votes_app = typer.Typer(help="Votes on versions.", no_args_is_help=True)

ModelArg = Annotated[str, typer.Argument(help="The model's id or name.")]
VersionArg = Annotated[int, typer.Argument(min=1, help="The version's id.")]
FORMAT_OF_SUFFIX = {".safetensors": "safetensors", ".pt2": "torch-export", ".onnx": "onnx"}


class ArtifactFormat(StrEnum):
    safetensors = "safetensors"
    torch_export = "torch-export"
    onnx = "onnx"


class Kind(StrEnum):
    base = "base"
    aggregate = "aggregate"
    accelerated = "accelerated"


class StateName(StrEnum):
    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"


class Choice(StrEnum):
    for_ = "for"
    against = "against"
    abstain = "abstain"


@command(app, "propose")
def propose(
    model: ModelArg,
    file: Annotated[
        Path, typer.Argument(help="The artifact: .safetensors, torch.export .pt2 or .onnx.")
    ],
    artifact_format: Annotated[
        ArtifactFormat | None,
        typer.Option("--format", help="Default: from the suffix (.safetensors, .pt2, .onnx)."),
    ] = None,
    kind: Annotated[Kind, typer.Option("--kind")] = Kind.base,
    parent: Annotated[
        int, typer.Option("--parent", min=0, help="The Approved parent version.")
    ] = 0,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata", help="A JSON file (metrics, recipe), stored and signed by digest."
        ),
    ] = None,
) -> None:
    """Upload an artifact and propose it as a version (signed over its locally computed CID)."""
    s = state()
    fmt = artifact_format.value if artifact_format else FORMAT_OF_SUFFIX.get(file.suffix)
    if fmt is None:
        raise CliError(f"cannot tell the format of {file.name}; give --format")
    if not file.is_file():
        raise CliError(f"no artifact file at {file}")
    client = s.client()
    signer = s.signer()
    mid = model_id(client, model)
    metadata_digest = upload_metadata(client, signer, metadata)
    with transfer_progress() as progress:
        written = client.propose_version(
            signer,
            mid,
            file,
            artifact_format=fmt,
            kind=kind.value,
            parent_id=parent,
            metadata_digest=metadata_digest,
            progress=progress,
        )
    emit(
        written,
        lambda: render.version(written.version, size=written.artifact_size, tx=written.transaction),
        as_json=s.json_output,
    )


@command(app, "list")
def list_(
    model: ModelArg,
    kind: Annotated[Kind | None, typer.Option("--kind")] = None,
    state_: Annotated[StateName | None, typer.Option("--state")] = None,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """List a model's versions with their state, filtered by kind and state."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    page = client.list_versions(
        mid,
        kind=kind.value if kind else None,
        state=state_.value if state_ else None,
        offset=offset,
        limit=limit,
    )
    title = f"versions of model {mid} ({len(page.items)} of {page.total})"
    emit(page, lambda: render.versions(page.items, title=title), as_json=s.json_output)


@command(app, "show")
def show(version: VersionArg) -> None:
    """Show a version: state, tally, artifact CID and digest."""
    s = state()
    v = s.client().get_version(version)
    emit(v, lambda: render.version(v), as_json=s.json_output)


@command(app, "finalize")
def finalize(version: VersionArg) -> None:
    """Record that a version's voting window ended without approval (no signature needed)."""
    s = state()
    updated = s.client().finalize_version(version)
    emit(
        updated,
        lambda: render.version(updated.version, tx=updated.transaction),
        as_json=s.json_output,
    )


def vote(
    version: VersionArg,
    choice: Annotated[Choice, typer.Argument(help="for, against or abstain")],
) -> None:
    """Vote on a proposed version (signed; members only)."""
    s = state()
    written = s.client().cast_vote(s.signer(), version, choice.value)
    v = written.vote
    emit(
        written,
        lambda: fields(
            [
                ("version", v.version_id),
                ("voter", v.voter),
                ("choice", v.support),
                ("version state", render.state(written.state)),
                *render.transaction_rows(written.transaction),
            ]
        ),
        as_json=s.json_output,
    )


@command(votes_app, "list")
def list_votes(version: VersionArg) -> None:
    """List the votes on a version: voter, choice, block and time."""
    s = state()
    items = s.client().list_votes(version)
    emit(
        items,
        lambda: render.votes(items, title=f"votes on version {version}"),
        as_json=s.json_output,
    )
