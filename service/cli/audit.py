"""``govledger audit``: verify the ledger from outside, with an RPC URL, the deployment record
and a content source, and nothing of the running service (``service/audit/``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from service.cli.context import state
from service.cli.exits import ExitCode, Failure
from service.cli.output import emit, fail, stderr, stdout, table
from service.errors import DeploymentError, StoreUnavailable

if TYPE_CHECKING:  # service.audit imports the aggregation rules: loaded when the command runs
    from service.audit import AuditReport, Check
    from service.config import Settings
    from service.store.base import ContentStore


def audit(
    rpc_url: Annotated[
        str | None,
        typer.Option(
            "--rpc-url",
            help="The chain's JSON-RPC URL (default: GOVLEDGER_RPC_URL, the local anvil).",
        ),
    ] = None,
    deployment: Annotated[
        Path | None,
        typer.Option(
            "--deployment",
            help="The deployment record (default: <data_dir>/deployment.json).",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="ADDRESS",
            help="Without a deployment record: the ModelRegistry's address; the other "
            "contracts and the deploy block are found on chain (the node must serve past blocks).",
        ),
    ] = None,
    store_dir: Annotated[
        Path | None,
        typer.Option(
            "--store-dir",
            help="The embedded content store's directory (default: <data_dir>/store).",
        ),
    ] = None,
    ipfs_api_url: Annotated[
        str | None,
        typer.Option(
            "--ipfs-api-url",
            help="Read the content from this kubo node's RPC API instead "
            "(default: GOVLEDGER_IPFS_API_URL when set).",
        ),
    ] = None,
    cars: Annotated[
        list[Path] | None,
        typer.Option(
            "--car",
            metavar="FILE",
            help="Read the content from this CAR file instead (repeat for several; every "
            "block is checked against its CID as it is read).",
        ),
    ] = None,
    remeasure: Annotated[
        bool,
        typer.Option(
            "--remeasure",
            help="Also re-run each accelerated build's accuracy on its evaluation set (ONNX "
            "Runtime, this CPU) against the recorded one, within one row.",
        ),
    ] = False,
    from_block: Annotated[
        int | None,
        typer.Option(
            "--from-block",
            min=0,
            help="Check the records made or changed from this block on (state is still "
            "replayed from the deploy block; the code and membership are always checked). "
            "Default: the deploy block: everything.",
        ),
    ] = None,
) -> None:
    """Verify everything on chain: code, signatures, content, state, rounds and builds.

    Reads the chain at its latest block. Exits 7 if any check fails, naming each record that
    failed; 6 if the chain or the content source cannot be reached."""
    s = state()
    settings = s.settings
    if registry is not None and deployment is not None:
        fail("give --deployment or --registry, not both")
    record = deployment or settings.deployment_file
    if registry is None and not record.is_file():
        raise DeploymentError(
            f"no deployment record at {record}: give the record of the deployment to audit "
            "with --deployment PATH (a deployment writes it as <data_dir>/deployment.json)"
        )
    if sum(x is not None for x in (store_dir, ipfs_api_url, cars or None)) > 1:
        fail("give one content source: --store-dir, --ipfs-api-url or --car")
    with _content_source(settings, store_dir, ipfs_api_url, cars) as store:
        report = _run(
            store,
            rpc_url=rpc_url or settings.rpc_url,
            record=None if registry is not None else record,
            registry=registry,
            from_block=from_block,
            remeasure=remeasure,
            quiet=s.json_output,
        )
    emit(report.as_json(), lambda: _summary(report), as_json=s.json_output)
    if not s.json_output and report.failures:
        stdout().print(_failures(report))
    if report.failures:
        named = "; ".join(f"{f.record} ({f.check})" for f in report.failures[:5])
        more = f" and {len(report.failures) - 5} more" if len(report.failures) > 5 else ""
        fail(
            Failure(
                code=ExitCode.VERIFICATION,
                message=f"the audit found {len(report.failures)} failure(s): {named}{more}",
                details={"failures": [f.as_json() for f in report.failures]},
            )
        )


@contextmanager
def _content_source(
    settings: Settings, store_dir: Path | None, ipfs_api_url: str | None, cars: list[Path] | None
) -> Iterator[ContentStore]:
    """The store the options name: CAR files, a kubo node, or an embedded store's directory
    (the configured one by default); an embedded directory must exist already."""
    if cars:
        from service.audit.cars import store_of_cars

        with store_of_cars(cars) as store:
            yield store
        return
    kubo_url = ipfs_api_url or (None if store_dir is not None else settings.ipfs_api_url)
    if kubo_url:
        from service.store.kubo import KuboStore

        with KuboStore(kubo_url, timeout_s=settings.ipfs_timeout_s) as kubo:
            yield kubo
        return
    from service.store.embedded import EmbeddedStore

    directory = store_dir or settings.store_dir
    if not (directory / "FORMAT").is_file():  # opening would create an empty store
        raise StoreUnavailable(
            f"no content store at {directory}: give the embedded store's directory with "
            "--store-dir PATH, a kubo node with --ipfs-api-url URL or CAR files with --car"
        )
    with EmbeddedStore(directory) as embedded:
        yield embedded


def _run(
    store: ContentStore,
    *,
    rpc_url: str,
    record: Path | None,
    registry: str | None,
    from_block: int | None,
    remeasure: bool,
    quiet: bool,
) -> AuditReport:
    """The audit, with a progress bar on stderr (gone afterwards with --json)."""
    from service.audit import audit as run
    from service.audit import checks_for

    checks = checks_for(remeasure=remeasure)

    progress = Progress(
        TextColumn("{task.description:<58}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[found]} records"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=quiet,
    )
    with progress:
        task = progress.add_task("reading the chain's events", total=len(checks), found=0)

        def update(check: Check | None, found: int) -> None:
            title = check.title if check is not None else "done"
            done = checks.index(check) if check in checks else len(checks)
            progress.update(task, description=title, completed=done, found=found)

        return run(
            rpc_url=rpc_url,
            deployment_file=record,
            registry=registry,
            store=store,
            from_block=from_block,
            remeasure=remeasure,
            progress=update,
        )


def _summary(report: AuditReport) -> Table:
    rows = [
        (
            c.name,
            c.title,
            c.passed,
            Text(str(c.failed), style="red" if c.failed else "green"),
        )
        for c in report.checks
    ]
    verdict = "passed" if report.ok else "FAILED"
    return table(
        "check",
        "what",
        "passed",
        "failed",
        rows=rows,
        title=f"audit of chain {report.chain_id} at block {report.block} (records from block "
        f"{report.from_block}): {verdict}",
    )


def _failures(report: AuditReport) -> Table:
    return table(
        "check",
        "record",
        "what is wrong",
        rows=[(f.check, f.record, f.detail) for f in report.failures],
        title="failures",
    )
