"""``govledger rounds``: federated rounds for participants and coordinators."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from service.api.round_schemas import AggregationPublic, RoundDetail, RoundPublic, RoundWritten
from service.chain.types import MAX_NORM_BOUND
from service.cli import render
from service.cli.context import VersionNames, model_id, state, version_of
from service.cli.exits import ExitCode
from service.cli.output import CliError, command, emit, fields, table, transfer_progress
from service.client import GovLedgerClient

app = typer.Typer(
    help="Federated rounds: open, list, fetch the base, compute and submit updates, see your "
    "update's status, aggregate, finalize, verify.",
    no_args_is_help=True,
)

RoundArg = Annotated[int, typer.Argument(min=1, help="The round's id.")]


class Rule(StrEnum):
    fedavg = "fedavg"
    median = "median"
    trimmed_mean = "trimmed-mean"
    krum = "krum"
    multi_krum = "multi-krum"


class RoundStateName(StrEnum):
    open = "open"
    closed = "closed"
    finalized = "finalized"
    cancelled = "cancelled"


def _round_rows(r: RoundPublic, names: VersionNames) -> list[tuple[str, Any]]:
    return [
        ("round", r.round_id),
        ("model", names.model(r.model_id)),
        ("base version", names.version(r.base_version_id)),
        ("state", r.state),
        ("rule", r.rule),
        ("updates", f"{r.update_count} (min {r.min_updates}, max {r.max_updates})"),
        ("submission deadline", render.when(r.submission_deadline)),
        ("norm bound", r.max_norm),
        ("aggregate version", names.version(r.aggregate_version_id)),
        ("included / excluded", f"{r.included_count} / {r.excluded_count}")
        if r.state == "finalized"
        else ("included / excluded", "-"),
    ]


def _rounds_table(items: list[RoundPublic], names: VersionNames, title: str) -> Any:
    return table(
        "round",
        "model",
        "base",
        "state",
        "rule",
        "updates",
        "deadline",
        "aggregate",
        title=title,
        rows=[
            (
                r.round_id,
                names.model(r.model_id),
                names.version(r.base_version_id),
                r.state,
                r.rule,
                f"{r.update_count}/{r.max_updates}",
                render.when(r.submission_deadline),
                names.version(r.aggregate_version_id),
            )
            for r in items
        ],
    )


def _detail(d: RoundDetail, names: VersionNames) -> Any:
    rows = _round_rows(d.round, names)
    rows.append(("base cid", d.base_cid or "-"))
    for u in d.updates:
        rows.append(
            (f"update #{u.index}", f"{u.participant} ({u.sample_count} samples) {u.update_cid}")
        )
    return fields(rows, title=f"round {d.round.round_id}")


def _parse_params(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CliError(f"give rule parameters as NAME=VALUE, not {item!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def _duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except (ValueError, IndexError):
        raise CliError(
            f"give the deadline as seconds or with a unit (30m, 2h, 1d), not {text!r}"
        ) from None


@command(app, "open")
def open_round(
    model: Annotated[str, typer.Argument(help="The model's id or name.")],
    base: Annotated[
        str,
        typer.Option(
            "--base",
            help="The Approved base version: its number in the model (3), MODEL@N, "
            "MODEL:ALIAS or @N.",
        ),
    ],
    rule: Annotated[Rule, typer.Option("--rule")] = Rule.fedavg,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="A rule parameter NAME=VALUE (repeat), e.g. f=1."),
    ] = None,
    min_updates: Annotated[int, typer.Option("--min", min=1)] = 2,
    max_updates: Annotated[int, typer.Option("--max", min=1)] = 10,
    deadline: Annotated[
        str, typer.Option("--deadline", help="Submission window from now: 30m, 2h, 1d.")
    ] = "1h",
    max_norm: Annotated[
        float,
        typer.Option(
            "--max-norm",
            min=0.0,
            max=MAX_NORM_BOUND,
            help="Bound on an update's L2 norm.",
        ),
    ] = 100.0,
) -> None:
    """Open a round at an Approved base version (signed; owner or maintainer)."""
    s = state()
    client = s.client()
    mid = model_id(client, model)
    base_version = version_of(client, base, model=model)
    now = client.info().chain_time
    if now is None:
        raise CliError(
            "the service cannot reach the chain to read its time; retry when "
            "`govledger status` says it is ready",
            code=ExitCode.UNAVAILABLE,
        )
    written = client.open_round(
        s.signer(),
        mid,
        base_version_id=base_version.version_id,
        rule=rule.value,
        params=_parse_params(param or []),
        min_updates=min_updates,
        max_updates=max_updates,
        submission_deadline=now + _duration(deadline),
        max_norm=max_norm,
    )
    emit(
        written,
        lambda: fields(
            [
                *_round_rows(written.round, VersionNames(client, [written.round.model_id])),
                *render.transaction_rows(written.transaction),
            ],
            title=f"round {written.round.round_id} opened",
        ),
        as_json=s.json_output,
    )


@command(app, "list")
def list_(
    model: Annotated[
        str | None, typer.Argument(help="Only this model's rounds (id or name).")
    ] = None,
    mine: Annotated[
        bool, typer.Option("--mine", help="Open rounds waiting for the signing account's update.")
    ] = False,
    state_: Annotated[RoundStateName | None, typer.Option("--state")] = None,
) -> None:
    """List rounds, newest first (--mine: the open ones waiting for you)."""
    s = state()
    client = s.client()
    participant = s.signer().address if mine else None
    page = client.rounds(
        model_id=model_id(client, model) if model else None,
        participant=participant,
        state=state_.value if state_ else None,
    )
    title = f"rounds waiting for {participant}" if participant else f"rounds ({page.total})"
    emit(
        page,
        lambda: _rounds_table(
            page.items, VersionNames(client, [r.model_id for r in page.items]), title
        ),
        as_json=s.json_output,
    )


@command(app, "show")
def show(round_id: RoundArg) -> None:
    """Show a round: its terms, state, base and every recorded update."""
    s = state()
    client = s.client()
    detail = client.round(round_id)
    emit(
        detail,
        lambda: _detail(detail, VersionNames(client, [detail.round.model_id])),
        as_json=s.json_output,
    )


@command(app, "base")
def base(
    round_id: RoundArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="A file or directory.")] = Path(
        "."
    ),
) -> None:
    """Download the round's base weights, verified against the digest the chain records."""
    s = state()
    with transfer_progress() as progress:
        done = s.client().fetch_base(round_id, output, progress=progress)
    emit(
        {"path": str(done.path), "cid": done.cid, "size": done.size},
        lambda: fields([("saved", str(done.path)), ("cid", done.cid), ("bytes", done.size)]),
        as_json=s.json_output,
    )


@command(app, "submit")
def submit(
    round_id: RoundArg,
    update: Annotated[
        Path, typer.Argument(help="The update: safetensors of trained weights minus the base.")
    ],
    samples: Annotated[int, typer.Option("--samples", min=1, help="Samples it was trained on.")],
) -> None:
    """Submit an update to an open round (signed SubmitUpdate over its locally computed CID)."""
    s = state()
    if not update.is_file():
        raise CliError(f"no update file at {update}")
    with transfer_progress() as progress:
        written = s.client().submit_update(
            s.signer(), round_id, update, sample_count=samples, progress=progress
        )
    u = written.update
    emit(
        written,
        lambda: fields(
            [
                ("round", u.round_id),
                ("participant", u.participant),
                ("update cid", u.update_cid),
                ("samples", u.sample_count),
                ("position", u.index),
                ("round state", written.round.state),
                *render.transaction_rows(written.transaction),
            ],
            title="update recorded",
        ),
        as_json=s.json_output,
    )


@command(app, "update")
def update(
    base: Annotated[Path, typer.Argument(help="The round's base (govledger rounds base).")],
    trained: Annotated[
        Path,
        typer.Argument(help="Your trained weights: safetensors, or a torch.save state dict."),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="The update file (.safetensors) to write.")
    ],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="The entry of a torch checkpoint holding the weights (e.g. model_state_dict).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output.")] = False,
) -> None:
    """Compute your update, trained minus base, as canonical safetensors (locally; refuses
    weights whose tensor names, shapes or dtypes differ from the base's)."""
    from service.cli.convert import identify_input
    from service.errors import LedgerError
    from service.ml.updates import compute_update
    from service.store.chunker import iter_chunks
    from service.store.unixfs import compute_cid

    s = state()
    if not base.is_file():
        raise CliError(f"no file at {base}", code=ExitCode.NOT_FOUND)
    found = identify_input(trained, "file", output=output, force=force)
    try:
        if found.format == "safetensors":
            from service.ml.tensors import read_safetensors

            weights = read_safetensors(trained.read_bytes())
        else:
            weights = _checkpoint_arrays(trained, key)
        data = compute_update(base.read_bytes(), weights)
    except LedgerError as exc:
        raise CliError(f"no update written: {exc}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    cid, size = compute_cid(iter_chunks(data))
    report = {"output": str(output), "cid": str(cid), "bytes": size, "tensors": len(weights)}
    emit(
        report,
        lambda: fields(
            [
                ("written", str(output)),
                ("cid", str(cid)),
                ("tensors", len(weights)),
                ("bytes", size),
                ("next", f"govledger rounds submit ROUND {output} --samples N"),
            ]
        ),
        as_json=s.json_output,
    )


def _checkpoint_arrays(path: Path, key: str | None) -> dict[str, Any]:
    """A torch checkpoint's tensors as numpy arrays, loaded as ``govledger convert`` loads it
    (``torch.load(weights_only=True)`` only)."""
    import ml_dtypes
    import torch

    from service.cli.convert import _load, _pick, _tensors

    loaded = _load(path)
    if key is not None:
        loaded = _pick(loaded, key, path.name)
    arrays: dict[str, Any] = {}
    for name, tensor in _tensors(loaded, path.name).items():
        t = tensor.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same bits, as ml_dtypes'
            arrays[name] = t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        else:
            arrays[name] = t.numpy()
    return arrays


@command(app, "status")
def status(
    round_id: RoundArg,
    participant: Annotated[
        str | None,
        typer.Option(
            "--participant", help="Whose update (an address); default: the signing account's."
        ),
    ] = None,
) -> None:
    """Your update to a round: recorded (by which transaction), and once the round is
    finalized, included (its inclusion proof verified here against the round's root) or
    excluded with the chain's reason."""
    s = state()
    who = participant or s.address()
    if who is None:
        raise CliError(
            "whose update? give --participant ADDRESS, or act as the participant "
            "(--as NAME or --dev-account N)"
        )
    check = s.client().update_status(round_id, who)
    st = check.status
    rows: list[tuple[str, Any]] = [
        ("round", round_id),
        ("participant", st.participant),
        ("round state", st.round.state),
        ("recorded", "yes" if st.update is not None else "no"),
    ]
    if st.update is not None:
        rows += [
            ("update cid", st.update.update_cid),
            ("samples", st.update.sample_count),
            ("transaction", st.transaction_hash or "-"),
        ]
    outcome = st.outcome.replace("_", " ")
    if st.outcome == "excluded":
        outcome = f"excluded: {st.reason} (code {st.code})"
    elif st.outcome == "pending":
        outcome = "pending (the round is not finalized)"
    elif st.outcome == "cancelled":
        outcome = "cancelled (the round was cancelled: it aggregates nothing)"
    rows.append(("outcome", outcome))
    if st.outcome == "included":
        rows += [
            ("inclusion root", st.round.inclusion_root),
            ("proof", f"verified here ({len(st.proof or [])} siblings)"),
        ]
    emit(
        {**st.model_dump(), "proof_verified": check.proof_verified},
        lambda: fields(rows, title=f"update to round {round_id}"),
        as_json=s.json_output,
    )


def _emit_round(client: GovLedgerClient, written: RoundWritten) -> None:
    emit(
        written,
        lambda: fields(_round_rows(written.round, VersionNames(client, [written.round.model_id]))),
        as_json=state().json_output,
    )


@command(app, "close")
def close(round_id: RoundArg) -> None:
    """Close an open round before its deadline (signed; owner or maintainer)."""
    s = state()
    client = s.client()
    _emit_round(client, client.close_round(s.signer(), round_id))


@command(app, "cancel")
def cancel(round_id: RoundArg) -> None:
    """Cancel a round that cannot be finalized (signed)."""
    s = state()
    client = s.client()
    _emit_round(client, client.cancel_round(s.signer(), round_id))


def _aggregation(a: AggregationPublic) -> Any:
    rows: list[tuple[str, Any]] = [
        ("round", a.round_id),
        ("rule", f"{a.rule} {json.dumps(a.params, sort_keys=True)}"),
        ("aggregate cid", a.aggregate_cid),
        ("metadata cid", a.metadata_cid),
        ("inclusion root", a.inclusion_root),
    ]
    rows += [("included", f"{u.participant} ({u.sample_count} samples)") for u in a.included]
    rows += [("excluded", f"{e.participant}: {e.reason} ({e.detail})") for e in a.excluded]
    held_out = a.evaluation or {}
    if "aggregate_accuracy" in held_out:
        rows.append(
            (
                "held-out accuracy",
                f"{held_out['aggregate_accuracy']:.3f} (base {held_out['base_accuracy']:.3f}, "
                f"{held_out['rows']} rows of {held_out['cid']})",
            )
        )
    elif "unmeasured" in held_out:
        rows.append(("held-out accuracy", f"not measured: {held_out['unmeasured']}"))
    return fields(rows, title=f"aggregate of round {a.round_id}")


@command(app, "aggregate")
def aggregate(round_id: RoundArg) -> None:
    """Aggregate a closed round with its rule (anyone; the same bytes every time)."""
    s = state()
    a = s.client().aggregate_round(round_id)
    emit(a, lambda: _aggregation(a), as_json=s.json_output)


@command(app, "finalize")
def finalize(round_id: RoundArg) -> None:
    """Record the round's aggregate as an Aggregate version (signed FinalizeRound over it)."""
    s = state()
    client = s.client()
    done = client.finalize_round(s.signer(), round_id)

    def view() -> Any:
        names = VersionNames(client, [done.round.model_id])
        return fields(
            [*_round_rows(done.round, names), *render.transaction_rows(done.transaction)],
            title=f"round {round_id} finalized: version {names.version(done.version_id)}, "
            "up for the vote",
        )

    emit(
        done,
        view,
        as_json=s.json_output,
    )


@command(app, "verify")
def verify(round_id: RoundArg) -> None:
    """Re-run a round's aggregation here from the stored updates and compare the bytes with
    the recorded aggregate (exit 7, verification, if they differ)."""
    s = state()
    check = s.client().verify_round(round_id)
    emit(
        check,
        lambda: fields(
            [
                ("round", check.round_id),
                ("recomputed aggregate", check.aggregate_cid),
                ("recorded aggregate", check.recorded_cid or "- (not aggregated yet)"),
                ("included", ", ".join(check.included)),
                ("excluded", ", ".join(f"{p} ({c})" for p, c in check.excluded) or "-"),
                ("verdict", "the same bytes" if check.matches else "DIFFERENT"),
            ]
        ),
        as_json=s.json_output,
    )
    if not check.matches:
        raise CliError(
            f"round {round_id}'s aggregate recomputed here ({check.aggregate_cid}) differs from "
            f"the recorded one ({check.recorded_cid})",
            code=ExitCode.VERIFICATION,
        )
