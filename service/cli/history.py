"""``govledger history MODEL``: everything that happened to a model, in block order, as a table,
JSON, JSON Lines or CSV (to stdout or a file)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from service.api.timeline_schemas import TimelineEntryPublic, csv_text, jsonl_lines
from service.cli import render
from service.cli.context import model_id, state
from service.cli.exits import ExitCode
from service.cli.output import CliError, stderr, stdout, table
from service.domain.timeline import KINDS

Kind = StrEnum("Kind", {k: k for k in KINDS})  # type: ignore[misc]


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def history(
    model: Annotated[str, typer.Argument(help="The model's id or name.")],
    kinds: Annotated[
        list[Kind] | None,
        typer.Option(
            "--kind",
            help="Only entries of this kind (repeat for several): " + ", ".join(KINDS) + ".",
            metavar="KIND",
        ),
    ] = None,
    from_block: Annotated[
        int | None, typer.Option("--from-block", min=0, help="First block (inclusive).")
    ] = None,
    to_block: Annotated[
        int | None,
        typer.Option("--to-block", min=0, help="Last block (inclusive; default: the latest)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many entries (the first).")
    ] = None,
    format_: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="table (the default), json, jsonl (one entry per line) or csv; --json means "
            "--format json.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file (json, jsonl or csv).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Everything that happened to a model, in block order: registration, metadata, owners,
    read policy, rights, proposals, votes (with reasons), decisions, aliases, rounds, builds."""
    s = state()
    chosen = format_ or (Format.json if s.json_output else Format.table)
    if output is not None and chosen is Format.table:
        raise CliError("-o writes json, jsonl or csv: add --format jsonl (or csv, json)")
    if from_block is not None and to_block is not None and from_block > to_block:
        raise CliError(f"--from-block {from_block} is after --to-block {to_block}")
    client = s.client()
    mid = model_id(client, model)
    entries: list[TimelineEntryPublic] = []
    for entry in client.timeline_entries(
        mid, kinds=[k.value for k in kinds or []], from_block=from_block, to_block=to_block
    ):
        entries.append(entry)
        if limit is not None and len(entries) >= limit:
            break
    if chosen is Format.table:
        name = client.get_model(mid).name
        stdout().print(_table(entries, name, title=f"{name} (model {mid}): {len(entries)} entries"))
        return
    text = _text(entries, chosen)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise CliError(
            f"cannot write {output}: {exc.strerror or exc}", code=ExitCode.FAILED
        ) from None
    stderr().print(f"wrote {len(entries)} entries to {output} ({chosen.value})")


def _text(entries: list[TimelineEntryPublic], chosen: Format) -> str:
    if chosen is Format.jsonl:
        return "".join(jsonl_lines(entries))
    if chosen is Format.csv:
        return csv_text(entries)
    return json.dumps([e.model_dump(mode="json") for e in entries], indent=2) + "\n"


def _table(entries: list[TimelineEntryPublic], model: str, *, title: str) -> Any:
    return table(
        "block", "time", "kind", "actor", "what", "transaction",
        rows=[
            (e.block, render.when(e.timestamp), e.kind, e.actor, summary(e, model),
             e.transaction_hash)
            for e in entries
        ],
        title=title,
    )  # fmt: skip


def summary(e: TimelineEntryPublic, model: str) -> str:
    """What the entry says, in a few words."""
    d = e.details

    def v(number: int | None, version_id: int | None) -> str:
        if version_id is None:
            return "-"
        return f"{model}@{number}" if number is not None else f"version {version_id}"

    def names(rights: list[str]) -> str:
        return ", ".join(rights) or "none"

    rid = f"round {e.round_id}"
    match e.kind:
        case "model_registered":
            return f"registered {d['name']} ({'restricted' if d['restricted'] else 'open'})"
        case "metadata_changed":
            return f"metadata {d['metadata_digest']}"
        case "read_policy_changed":
            return "artifacts restricted" if d["restricted"] else "artifacts open to all"
        case "ownership_transfer_proposed":
            return f"names {d['pending_owner']} pending owner"
        case "ownership_transfer_cancelled":
            return "cancels the pending transfer"
        case "ownership_transfer_accepted":
            return f"takes the model over from {d['previous_owner']}"
        case "rights_granted":
            return f"grants {names(d['rights'])} to {d['account']} (now {names(d['current'])})"
        case "rights_revoked":
            return f"revokes {names(d['rights'])} of {d['account']} (now {names(d['current'])})"
        case "version_proposed" | "build_proposed":
            parent = d["parent_id"]
            of = f" of {v(d['parent_number'], parent)}" if parent else ""
            source = f" from {rid}" if e.round_id else ""
            proposed = v(e.version_number, e.version_id)
            return f"proposes {proposed} ({d['version_kind']}{of}){source}"
        case "vote_cast":
            reason = f': "{d["reason"]}"' if d.get("reason") else ""
            return f"votes {d['support']} on {v(e.version_number, e.version_id)}{reason}"
        case "version_approved" | "version_rejected":
            how = str(d["how"]).replace("_", " ")
            return f"{v(e.version_number, e.version_id)} {d['state']} ({how})"
        case "ballot_expired":
            recorded = d["recorded_block"]
            said = f"recorded at block {recorded}" if recorded else "no event; not recorded yet"
            return (
                f"{v(e.version_number, e.version_id)} ballot expired at "
                f"{render.when(d['deadline'])} without approval: rejected ({said})"
            )
        case "alias_moved":
            target = "cleared" if d["cleared"] else f"-> {v(e.version_number, e.version_id)}"
            return f"{d['alias']} {target}"
        case "round_opened":
            base = v(d["base_version_number"], d["base_version_id"])
            return (
                f"opens {rid} on {base}: {d['rule']}, {d['min_updates']}-{d['max_updates']} "
                f"updates until {render.when(d['submission_deadline'])}"
            )
        case "update_submitted":
            return f"{rid}: update {d['index']} ({d['sample_count']} samples)"
        case "round_closed":
            reason = str(d["reason"]).replace("_", " ")
            return f"{rid} closed ({reason}; {d['update_count']} updates)"
        case "update_excluded":
            return f"{rid}: excludes {d['participant']} ({str(d['reason']).replace('_', ' ')})"
        case "round_finalized":
            return (
                f"{rid} finalized: {v(e.version_number, e.version_id)}, "
                f"{d['included_count']} included, {d['excluded_count']} excluded"
            )
        case "round_cancelled":
            return f"{rid} cancelled ({d['update_count']} updates)"
    return e.kind
