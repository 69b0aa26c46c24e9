"""``govledger versions`` (propose, list, show, search, finalize), ``vote`` and ``votes``.

A version is named as in MLflow's registry: ``digits-mlp@3`` (the model's third version),
``digits-mlp:production`` (the version an alias points at) or its id on chain (``7``); see
service/domain/refs.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import render
from service.cli.context import model_id, naming, state, version_of
from service.cli.exits import ExitCode
from service.cli.output import CliError, command, emit, fields, stderr, transfer_progress
from service.cli.session import signed_in_if_asked
from service.cli.version_metadata import (
    metadata_rows,
    parse_tags,
    read_version_metadata,
    version_document,
)
from service.client import ClientError, GovLedgerClient
from service.domain.refs import REF_HELP

app = typer.Typer(
    help="Model versions: propose, list, show, search, finalize.", no_args_is_help=True
)
votes_app = typer.Typer(help="Votes on versions.", no_args_is_help=True)

ModelArg = Annotated[str, typer.Argument(help="The model's id or name.")]
VersionArg = Annotated[
    str,
    typer.Argument(
        help="The version: digits-mlp@3 (the model's 3rd version), digits-mlp:production (an "
        "alias) or its id (7).",
        metavar="VERSION",
    ),
]
REASON_MAX_CHARS = 1000
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


def artifact_format_of(file: Path, given: ArtifactFormat | None) -> str:
    """The format to propose ``file`` as: ``given``, or told from its bytes (not its name).
    A file the ledger does not accept is refused here, with the reason and what to do."""
    from service.ml.sniff import identify, not_an_artifact

    if not file.is_file():
        raise CliError(f"no artifact file at {file}", code=ExitCode.NOT_FOUND)
    if given is not None:
        return given.value  # the client checks the bytes against it before uploading
    with file.open("rb") as f:
        head = f.read(64)
    found = identify(head, _chunks(file))
    if found.format is None:
        raise CliError(f"{not_an_artifact(file.name, found)}; nothing was uploaded")
    return found.format


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


@command(app, "propose")
def propose(
    model: ModelArg,
    file: Annotated[
        Path, typer.Argument(help="The artifact: safetensors, a torch.export .pt2 or ONNX.")
    ],
    artifact_format: Annotated[
        ArtifactFormat | None,
        typer.Option("--format", help="Default: told from the file's bytes."),
    ] = None,
    kind: Annotated[Kind, typer.Option("--kind")] = Kind.base,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent",
            help="The Approved version it derives from (aggregate and accelerated versions): "
            "its number in this model (3), or MODEL@N, MODEL:ALIAS.",
        ),
    ] = None,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="A JSON object (metrics, recipe...) stored with the version, signed by digest.",
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="What this version is, in words.")
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", help="KEY=VALUE, searchable (repeat for more).", metavar="KEY=VALUE"),
    ] = None,
    allow_duplicate: Annotated[
        bool,
        typer.Option(
            "--allow-duplicate",
            help="Propose bytes that are already a version of this model (refused otherwise).",
        ),
    ] = False,
) -> None:
    """Upload an artifact and propose it as the model's next version (signed over its CID).

    The file is checked on this machine first: its format (safetensors or torch.export; never
    a pickle), and that the model has no version with the same bytes."""
    s = state()
    fmt = artifact_format_of(file, artifact_format)
    document = version_document(metadata, description, parse_tags(tags or []))
    client = s.client()
    mid = model_id(client, model)
    parent_id = version_of(client, parent, model=model).version_id if parent else 0
    signer = s.signer()
    metadata_digest = (
        client.store_metadata(signer, document).digest if document is not None else None
    )
    with transfer_progress() as progress:
        written = client.propose_version(
            signer,
            mid,
            file,
            artifact_format=fmt,
            kind=kind.value,
            parent_id=parent_id,
            progress=progress,
            allow_duplicate=allow_duplicate,
            **({"metadata_digest": metadata_digest} if metadata_digest else {}),
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
    """List a model's versions (model@1, @2 ...) with their state, by kind and state."""
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
    title = f"versions of {model} ({len(page.items)} of {page.total})"
    emit(page, lambda: render.versions(page.items, title=title), as_json=s.json_output)


@command(app, "show")
def show(version: VersionArg) -> None:
    """Show a version: state, tally, artifact, and its description, tags and metrics."""
    s = state()
    client = s.client(session=True)
    v = version_of(client, version)
    doc, note = read_version_metadata(client, v)
    emit(
        {**v.model_dump(mode="json"), "metadata": doc},
        lambda: render.version(v, extra=metadata_rows(doc, note)),
        as_json=s.json_output,
    )


@command(app, "search")
def search(
    text: Annotated[
        str | None,
        typer.Argument(help="Words in the description, a tag, or the model's name."),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", help="KEY=VALUE or KEY: versions with that tag.", metavar="TAG"),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's.")] = None,
    state_: Annotated[StateName | None, typer.Option("--state")] = None,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
) -> None:
    """Search versions of every model by their metadata: description, tags, state."""
    s = state()
    client = s.client(session=True)
    mid = model_id(client, model) if model else None
    page = signed_in_if_asked(
        lambda: client.search_versions(
            text=text,
            tags=tags or [],
            model_id=mid,
            state=state_.value if state_ else None,
            offset=offset,
            limit=limit,
        )
    )
    shown = f"versions matching ({len(page.items)} of {page.total})"
    if page.unreadable:
        stderr().print(
            f"{page.unreadable} version(s) of restricted models were not searched: sign in "
            "(`govledger --as NAME login`) as an account that may read them"
        )
    emit(page, lambda: render.versions(page.items, title=shown), as_json=s.json_output)


@command(app, "finalize")
def finalize(version: VersionArg) -> None:
    """Record that a version's voting window ended without approval (no signature needed)."""
    s = state()
    client = s.client()
    v = version_of(client, version)
    with naming(v):
        updated = client.finalize_version(v.version_id)
    emit(
        updated,
        lambda: render.version(updated.version, tx=updated.transaction),
        as_json=s.json_output,
    )


def vote(
    version: VersionArg,
    choice: Annotated[Choice, typer.Argument(help="for, against or abstain")],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help=f"Why, in at most {REASON_MAX_CHARS} characters: kept with the vote, signed "
            "by you (a StoreMetadata signature over its digest).",
        ),
    ] = None,
) -> None:
    """Vote on a proposed version (signed; members only), optionally saying why."""
    s = state()
    if reason is not None and not 0 < len(reason.strip()) <= REASON_MAX_CHARS:
        raise CliError(f"--reason takes 1 to {REASON_MAX_CHARS} characters, not {len(reason)}")
    client = s.client()
    v = version_of(client, version)
    signer = s.signer()
    with naming(v):
        written = client.cast_vote(signer, v.version_id, choice.value)
    said: dict[str, Any] | None = None
    if reason is not None:
        said = _attach_reason(client, signer, v.version_id, choice.value, reason.strip())
    cast = written.vote
    emit(
        {**written.model_dump(mode="json"), "reason": said},
        lambda: fields(
            [
                ("version", render.label(v)),
                ("id", cast.version_id),
                ("voter", cast.voter),
                ("choice", cast.support),
                *([("reason", reason)] if said and "error" not in said else []),
                ("version state", render.state(written.state)),
                *render.transaction_rows(written.transaction),
            ]
        ),
        as_json=s.json_output,
    )


def _attach_reason(
    client: GovLedgerClient, signer: Any, version_id: int, support: str, reason: str
) -> dict[str, Any] | None:
    """Store the vote's reason; the vote stands whatever happens here, so a failure is said
    (with how to attach it again) rather than failing the command: on stderr, and with
    ``--json`` as the reason's ``error`` in the JSON."""
    try:
        stored = client.attach_vote_reason(signer, version_id, support, reason)
    except ClientError as exc:
        said = (
            f"the vote is recorded, but its reason was not stored: {exc}; attach it again with "
            f"`govledger votes reason {version_id} --reason ...`"
        )
        stderr().print(said)
        return {"stored": False, "error": said}
    return stored.model_dump(mode="json")


@command(votes_app, "list")
def list_votes(version: VersionArg) -> None:
    """List the votes on a version: voter, choice, reason, block and time."""
    s = state()
    client = s.client()
    v = version_of(client, version)
    items = client.list_votes(v.version_id)
    emit(
        items,
        lambda: render.votes(items, title=f"votes on {render.label(v)} (id {v.version_id})"),
        as_json=s.json_output,
    )


@command(votes_app, "reason")
def reason(
    version: VersionArg,
    text: Annotated[str, typer.Option("--reason", help="Why you voted as you did.")],
) -> None:
    """Attach (or replace) the reason of your vote on a version (signed; the voter only)."""
    s = state()
    if not 0 < len(text.strip()) <= REASON_MAX_CHARS:
        raise CliError(f"--reason takes 1 to {REASON_MAX_CHARS} characters, not {len(text)}")
    client = s.client()
    v = version_of(client, version)
    signer = s.signer()
    mine = [x for x in client.list_votes(v.version_id) if x.voter == signer.address]
    if not mine:
        raise CliError(
            f"{signer.address} has not voted on {render.label(v)}: vote first "
            f"(`govledger vote {render.label(v)} for --reason ...`)",
            code=ExitCode.REFUSED,
        )
    stored = client.attach_vote_reason(signer, v.version_id, mine[0].support, text.strip())
    emit(
        stored,
        lambda: fields(
            [("version", render.label(v)), ("voter", signer.address), ("reason", text.strip()),
             ("document", stored.cid)]
        ),
        as_json=s.json_output,
    )  # fmt: skip


__all__ = ["REF_HELP", "app", "vote", "votes_app"]
