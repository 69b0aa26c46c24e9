"""``govledger store gc``: garbage collection of the content store, on this machine.

It works on the data directory directly (the embedded store, or the kubo node of
``GOVLEDGER_IPFS_API_URL``), the chain of ``GOVLEDGER_RPC_URL`` and the bookkeeping database,
like the service's own periodic collection (``GOVLEDGER_GC_INTERVAL_S``). What the chain
references is never touched. An upload in flight in a running service is not known to this
process: if the sweep removes its blocks between its put and its pin, that upload fails (and
records nothing) and is retried; nothing acknowledged is lost.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.table import Table

from service.cli.context import state
from service.cli.output import CliError, command, emit, fields, table
from service.timefmt import utc

app = typer.Typer(help="The content store: garbage collection.", no_args_is_help=True)

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``30m``, ``24h`` or ``7d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if match is None:
        raise CliError(f"--grace takes seconds or a number with s, m, h or d (24h), not {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@command(app, "gc")
def gc(
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace",
            help="Keep an unreferenced pinned root until it has been pinned this long: seconds "
            "or 30m, 24h, 7d (default: GOVLEDGER_GC_GRACE_S, 24h).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be unpinned; change nothing.")
    ] = False,
) -> None:
    """Unpin roots nothing on chain references (pinned longer than --grace); sweep the rest.

    Pinned roots that no model or version references (as artifact or metadata, now or in the
    past) are unpinned once pinned longer than the grace period, then the store removes every
    unpinned block. What the chain references is never removed."""
    from service.bookkeeping import Bookkeeping
    from service.bookkeeping.reasons import VoteReasons
    from service.domain.artifacts import ArtifactIndex
    from service.domain.build_jobs import JobStore
    from service.domain.builds import retained_roots
    from service.domain.context import Backends
    from service.domain.gc import StoreCollector
    from service.domain.links import LinkedContent

    s = state()
    settings = s.settings
    grace_s = settings.gc_grace_s if grace is None else parse_duration(grace)
    backends = Backends(settings)
    try:
        index = ArtifactIndex(backends.ledger)
        linked = LinkedContent(lambda: backends.store, index.referenced_digests)
        jobs = JobStore(settings.builds_file)
        book = Bookkeeping(settings.bookkeeping_file)
        collector = StoreCollector(
            backends,
            book,
            referenced=index.referenced_digests,
            keep=lambda: [
                *linked(),
                *retained_roots(jobs, settings.gc_grace_s),
                *VoteReasons(book).cids(),  # the documents votes' reasons are in
            ],
        )
        result = collector.collect(grace_s=grace_s, dry_run=dry_run)
    finally:
        backends.close()
    gone = "would be unpinned" if dry_run else "unpinned"
    rows = [(str(r.cid), _when(r.pinned_at), gone) for r in result.unpinned] + [
        (str(r.cid), _when(r.pinned_at), "kept: within the grace period") for r in result.young
    ]
    report: dict[str, Any] = {
        "dry_run": dry_run,
        "grace_s": grace_s,
        "unpinned" if not dry_run else "would_unpin": [str(r.cid) for r in result.unpinned],
        "young": [str(r.cid) for r in result.young],
        "referenced_kept": result.referenced,
        "kept": result.kept,
        "repinned": [str(c) for c in result.repinned],
        "blocks_removed": result.blocks_removed,
    }

    def render() -> Table:
        summary = fields(
            [
                ("referenced on chain (kept)", result.referenced),
                ("unreferenced, within grace", len(result.young)),
                (gone, len(result.unpinned)),
                ("referenced, pinned again", len(result.repinned)),
                ("blocks removed", "- (dry run)" if dry_run else result.blocks_removed),
            ],
            title=f"grace {grace_s} s",
        )
        if not rows:
            return summary
        listing = table("cid", "pinned since", "action", rows=rows)
        outer = Table.grid()
        outer.add_row(listing)
        outer.add_row(summary)
        return outer

    emit(report, render, as_json=s.json_output)


def _when(timestamp: float) -> str:
    return utc(timestamp)
