"""``govledger index``: the event index in the data directory, on this machine.

``status`` says how far the index reaches against the chain; ``rebuild`` forgets it and indexes
every event again from the deploy block (the running service's follower carries on from the new
head, and its reads go to the chain until the index is within a page of the latest block).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from service.cli.context import state
from service.cli.output import command, emit, fields
from service.timefmt import utc

if TYPE_CHECKING:
    from service.index.follower import Indexer

app = typer.Typer(help="The event index: status and rebuild.", no_args_is_help=True)


def _status(indexer: Indexer) -> dict[str, Any]:
    head = indexer.file.head()
    latest = int(indexer.w3.eth.block_number)
    counts = indexer.file.counts()
    indexed = None if head is None else head.block
    return {
        "file": str(indexer.file.path),
        "deploy_block": indexer.deploy_block,
        "indexed_to_block": indexed,
        "indexed_block_hash": None if head is None else head.block_hash,
        "latest_block": latest,
        "confirmations": indexer.confirmations,
        "behind_blocks": None if indexed is None else latest - indexed,
        "events": counts["events"],
        "models": counts["models"],
        "versions": counts["versions"],
        "rounds": counts["rounds"],
        "checked_at": utc(time.time()),
    }


@command(app, "status")
def index_status() -> None:
    """How far the event index reaches, against the chain's latest block."""
    from service.index.opening import standalone_indexer

    cli = state()
    data = _status(standalone_indexer(cli.settings))
    emit(data, lambda: fields(list(data.items())), as_json=cli.json_output)


@command(app, "rebuild")
def index_rebuild() -> None:
    """Forget the event index and index every event again from the deploy block."""
    from service.index.opening import standalone_indexer

    cli = state()
    indexer = standalone_indexer(cli.settings)
    started = time.perf_counter()
    indexer.reset()
    result = indexer.sync()
    seconds = time.perf_counter() - started
    data = {
        **_status(indexer),
        "indexed_events": result.events,
        "pages": result.pages,
        "seconds": round(seconds, 3),
    }
    emit(data, lambda: fields(list(data.items())), as_json=cli.json_output)
