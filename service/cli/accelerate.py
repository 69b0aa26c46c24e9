"""``govledger accelerate``, ``govledger predict``, ``govledger builds`` and
``govledger evaluation``: accelerated builds of approved versions and predictions from them."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from service.api.build_schemas import BuildJobPublic
from service.cli import render
from service.cli.context import VersionNames, model_id, state, version_of
from service.cli.output import (
    CliError,
    command,
    emit,
    fields,
    json_requested,
    stderr,
    stdout,
    table,
)
from service.cli.session import signed_in_if_asked
from service.client import GovLedgerClient

builds_app = typer.Typer(help="Build jobs: show, list.", no_args_is_help=True)
evaluation_app = typer.Typer(help="Evaluation sets for measuring builds.", no_args_is_help=True)


class BuildName(StrEnum):
    fp32_basic = "fp32-basic"
    int8_dynamic = "int8-dynamic"
    int8_static = "int8-static"
    fp16 = "fp16"


def accelerate(
    model: Annotated[str, typer.Argument(help="The model's id or name.")],
    version: Annotated[
        str,
        typer.Argument(
            help="The Approved version to build from: its number in the model (3), "
            "MODEL@N, MODEL:ALIAS or @N."
        ),
    ],
    budget: Annotated[
        float,
        typer.Option(
            "--budget", min=0, max=100, help="Accuracy a build may lose, in percentage points."
        ),
    ] = 1.0,
    build: Annotated[
        list[BuildName] | None,
        typer.Option("--build", help="A build to make (repeat; default: all)."),
    ] = None,
    compare_torch: Annotated[
        bool,
        typer.Option(
            "--compare-torch/--no-compare-torch",
            help="Also measure torch.compile and torchao int8 (about a minute more).",
        ),
    ] = True,
    propose: Annotated[
        bool,
        typer.Option("--propose/--no-propose", help="Sign and propose the builds that passed."),
    ] = True,
) -> None:
    """Build faster versions of an approved version, measure them against it, propose those
    within the budget (each signed by you; members then vote as usual)."""
    s = state()
    client = s.client(session=True)
    signer = s.signer() if propose else None
    mid = model_id(client, model)
    parent = version_of(client, version, model=model)
    job = signed_in_if_asked(
        lambda: client.start_build(
            mid,
            parent.version_id,
            budget_points=budget,
            builds=[b.value for b in build] if build else None,
            compare_torch=compare_torch,
        )
    )
    job = follow(client, job)
    if job.state != "succeeded" or job.result is None:
        raise CliError(f"build job {job.job_id} failed: {job.error}")
    proposed = []
    if signer is not None:
        for candidate in job.result["candidates"]:
            written = client.propose_build(signer, job, candidate["build"])
            proposed.append((candidate["build"], written))
    payload = {
        "job": job.model_dump(mode="json"),
        "proposed": {name: w.model_dump(mode="json") for name, w in proposed},
    }
    if s.json_output:
        typer.echo(json.dumps(payload, indent=2))
        return
    console = stdout()
    console.print(results_table(job, VersionNames(client, [mid])))
    for item in job.result["refused"]:
        console.print(Text(f"refused {item['build']}: {item['reason']}", style="yellow"))
    if proposed:
        console.print(
            render.versions(
                [w.version for _, w in proposed],
                title=f"proposed (kind accelerated, parent {render.label(parent)}); "
                "members vote as usual",
            )
        )


def follow(client: GovLedgerClient, job: BuildJobPublic) -> BuildJobPublic:
    """Follow a build job with a progress bar on stderr until it ends."""
    progress = Progress(
        TextColumn(f"build job {job.job_id}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr(),
        disable=json_requested(),
    )
    with progress:
        task = progress.add_task(job.message, total=1.0)

        def update(current: BuildJobPublic) -> None:
            progress.update(task, completed=current.progress, description=current.message)

        return client.wait_build(job.job_id, progress=update)


def _ms(row: dict[str, Any], batch: str, key: str) -> str:
    value = row["latency_ms"][batch][key]
    return f"{value:.3f}"


def results_table(job: BuildJobPublic, names: VersionNames) -> Table:
    """The measured table of a finished job, ratios against its baseline."""
    result = job.result or {}
    decided = {c["build"]: "proposable" for c in result.get("candidates", [])}
    decided |= {r["build"]: "refused" for r in result.get("refused", [])}
    rows = []
    for row in result.get("rows", []):
        if row.get("error"):  # a PyTorch alternative that could not be measured here
            rows.append([row["name"], *["-"] * 12, row["error"]])
            continue
        size = row["size_bytes"]
        memory = row["peak_memory_bytes"]
        rows.append(
            [
                row["name"],
                _ms(row, "1", "p50"),
                _ms(row, "1", "p95"),
                _ms(row, "64", "p50"),
                _ms(row, "64", "p95"),
                f"{row['throughput_per_s']:,.0f}",
                f"{row['speedup_vs_baseline']['64']:.2f}x",
                "-" if size is None else f"{size / 1024:,.1f} KiB",
                "-" if row["size_ratio"] is None else f"{row['size_ratio']:.3f}",
                "-" if memory is None else f"{memory / 2**20:,.1f} MiB",
                f"{row['accuracy']:.4f}",
                f"{row['accuracy_delta_points']:+.2f}",
                f"{row['agreement']:.4f}",
                decided.get(row["build"], "baseline" if row["name"] == result.get("baseline")
                            else "measured"),
            ]
        )  # fmt: skip
    evaluation = result.get("evaluation", {})
    title = (
        f"build job {job.job_id}: {names.version(job.version_id)}, {evaluation.get('rows')} "
        "evaluation "
        f"rows, baseline {result.get('baseline')}, budget {job.options.get('budget_points')} "
        f"points; report {result.get('report', {}).get('cid')}"
    )
    return table(
        "candidate", "b1 p50 ms", "b1 p95 ms", "b64 p50 ms", "b64 p95 ms", "rows/s (b64)",
        "speed b64", "size", "size ratio", "peak mem", "accuracy", "Δ points", "agreement",
        "decision", rows=rows, title=title,
    )  # fmt: skip


@command(builds_app, "show")
def show(job_id: Annotated[int, typer.Argument(min=1, help="The build job's id.")]) -> None:
    """Show a build job: state, progress, and its table once done (a restricted model's needs
    a session with the read right, as for downloads)."""
    s = state()
    client = s.client(session=True)
    job = signed_in_if_asked(lambda: client.get_build(job_id))

    def view() -> Table:
        names = VersionNames(client, [job.model_id])
        if job.state == "succeeded":
            return results_table(job, names)
        return fields(
            [
                ("job", job.job_id),
                ("model", names.model(job.model_id)),
                ("parent version", names.version(job.version_id)),
                ("state", job.state),
                ("progress", f"{job.progress:.0%} {job.message}"),
                ("error", job.error),
            ]
        )

    emit(job, view, as_json=s.json_output)


@command(builds_app, "list")
def list_(model: Annotated[str, typer.Argument(help="The model's id or name.")]) -> None:
    """List a model's build jobs, newest first (a restricted model's: as for ``show``)."""
    s = state()
    client = s.client(session=True)
    mid = model_id(client, model)
    jobs = signed_in_if_asked(lambda: client.list_builds(mid))
    names = VersionNames(client, [mid])
    emit(
        jobs,
        lambda: table(
            "job",
            "parent",
            "state",
            "progress",
            "requester",
            "error",
            rows=[
                [
                    j.job_id,
                    names.version(j.version_id),
                    j.state,
                    f"{j.progress:.0%}",
                    j.requester,
                    j.error,
                ]
                for j in jobs
            ],
        ),
        as_json=s.json_output,
    )


@command(builds_app, "recipe")
def recipe(
    version: Annotated[
        str, typer.Argument(help="A build version: MODEL@N, MODEL:ALIAS or its id.")
    ],
) -> None:
    """Show how a build version was made and measured: its recipe and report, checked against
    the metadata digest on chain."""
    s = state()
    client = s.client(session=True)
    built = version_of(client, version)
    docs = signed_in_if_asked(lambda: client.version_build(built.version_id))
    recipe_doc = json.loads(docs.recipe.document)
    report = json.loads(docs.metrics.document)
    row = json.loads(docs.metadata.document).get("summary", {})
    emit(
        {k: json.loads(getattr(docs, k).document) for k in ("metadata", "recipe", "metrics")},
        lambda: fields(
            [
                ("version", render.numbered(built.number, built.version_id, built.model_name)),
                ("build", f"{recipe_doc['build']}: {recipe_doc['summary']}"),
                ("tool", recipe_doc["tool"]),
                ("options", json.dumps(recipe_doc["options"], sort_keys=True)),
                (
                    "parent",
                    f"version {recipe_doc['parent']['version_id']}, "
                    f"{recipe_doc['parent']['artifact_cid']}",
                ),
                ("libraries", ", ".join(f"{k} {v}" for k, v in recipe_doc["libraries"].items())),
                ("cpu", f"{recipe_doc['machine']['cpu']} ({recipe_doc['machine']['cores']} cores)"),
                ("accuracy change", f"{row.get('accuracy_delta_points')} points"),
                (
                    "speed at b64",
                    f"{row.get('speedup_vs_baseline', {}).get('64')}x {report['baseline']}",
                ),
                ("recipe", docs.recipe.cid),
                ("report", docs.metrics.cid),
                ("verified", "yes: metadata digest on chain, recipe and report CIDs"),
            ]
        ),
        as_json=s.json_output,
    )


def predict(
    version: Annotated[
        str,
        typer.Argument(help="The version: MODEL:ALIAS (e.g. digits-mlp:fast), MODEL@N or its id."),
    ],
    batch: Annotated[
        Path | None, typer.Argument(help="The batch: a .npy, .safetensors or .json file.")
    ] = None,
    inputs: Annotated[
        str | None, typer.Option("--inputs", help='The batch as JSON, e.g. "[[0, 1, ...]]".')
    ] = None,
) -> None:
    """Predict with an approved ONNX version (restricted models: signs in when asked)."""
    if (batch is None) == (inputs is None):
        raise CliError("give either a batch file or --inputs JSON")
    s = state()
    client = s.client(session=True)
    target = version_of(client, version)
    version_id = target.version_id
    if batch is not None and not batch.is_file():
        raise CliError(f"no batch file at {batch}")
    payload: Any
    if inputs is not None:
        try:
            payload = json.loads(inputs)
        except ValueError as exc:
            raise CliError(f"--inputs is not JSON: {exc}") from None
    else:
        payload = batch
    result = signed_in_if_asked(lambda: client.predict(version_id, payload))

    def view() -> Table:
        if result.predictions is not None:
            return table(
                "row",
                "prediction",
                rows=[[i, p] for i, p in enumerate(result.predictions)],
                title=render.numbered(target.number, version_id, target.model_name),
            )
        first = result.outputs[0]
        return fields([("output", first.name), ("shape", first.shape), ("data", first.data)])

    emit(result, view, as_json=s.json_output)


@command(evaluation_app, "store")
def store_evaluation(
    file: Annotated[
        Path, typer.Argument(help="A safetensors file: 'inputs' (F32) and 'labels' (I64).")
    ],
) -> None:
    """Store an evaluation set (signed; members only) and print its CID: name it in the
    model's metadata as "evaluation": {"cid": ...} to register it."""
    s = state()
    if not file.is_file():
        raise CliError(f"no file at {file}")
    stored = s.client().store_evaluation_set(s.signer(), file.read_bytes())
    emit(
        stored,
        lambda: fields([("cid", stored.cid), ("digest", stored.digest), ("size", stored.size)]),
        as_json=s.json_output,
    )
