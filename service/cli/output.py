"""What the command prints: tables or JSON on stdout, errors and progress on stderr.

Expected failures (the service's problem details, unreachable service, bad keys, missing files)
print one red line and exit 1; only bugs show a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from service.client import ClientFailure, ProgressCallback
from service.errors import LedgerError

P = ParamSpec("P")
R = TypeVar("R")

PIPE_WIDTH = 200
"""Width of tables written to a pipe or file (rich would fold them at 80 columns)."""


class CliError(Exception):
    """A usage problem the command found itself (bad option combination, unknown key...)."""


EXPECTED_ERRORS = (ClientFailure, LedgerError, CliError, OSError)


def stdout() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


def stderr() -> Console:
    return Console(stderr=True, width=None if sys.stderr.isatty() else PIPE_WIDTH)


def fail(message: str) -> NoReturn:
    """Print ``message`` in red on stderr and exit 1."""
    stderr().print(Text(f"error: {message}", style="red"))
    raise typer.Exit(1)


def _message(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the expected errors of ``func`` into a red message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EXPECTED_ERRORS as exc:
            fail(_message(exc))

    return wrapper


def command(
    app: typer.Typer, name: str | None = None, **kwargs: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``app.command(name)`` with the expected errors handled (see :func:`guarded`)."""

    def register(func: Callable[P, R]) -> Callable[P, R]:
        app.command(name, **kwargs)(guarded(func))
        return func

    return register


def as_jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [as_jsonable(d) for d in data]
    if isinstance(data, dict):
        return {k: as_jsonable(v) for k, v in data.items()}
    return data


def emit(data: Any, render: Callable[[], Table | str], *, as_json: bool) -> None:
    """Print ``data`` as JSON (``--json``) or the table ``render`` builds."""
    if as_json:
        typer.echo(json.dumps(as_jsonable(data), indent=2))
    else:
        stdout().print(render())


def table(*columns: str, rows: Sequence[Sequence[Any]], title: str | None = None) -> Table:
    t = Table(*columns, title=title, title_justify="left")
    for row in rows:
        t.add_row(*(cell if isinstance(cell, Text) else _cell(cell) for cell in row))
    return t


def fields(rows: Sequence[tuple[str, Any]], *, title: str | None = None) -> Table:
    """A two-column table of names and values."""
    t = Table("field", "value", title=title, title_justify="left", show_header=False)
    for name, value in rows:
        t.add_row(name, value if isinstance(value, Text) else _cell(value))
    return t


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    return str(value)


@contextmanager
def transfer_progress() -> Iterator[ProgressCallback]:
    """A rich progress bar on stderr, one task per phase (hashing, uploading, downloading)."""
    progress = Progress(
        TextColumn("{task.description:>11}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done, total=total)

    with progress:
        yield update
