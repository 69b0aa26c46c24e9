"""What the command prints: tables or JSON on stdout, errors and progress on stderr.

Expected failures (the service's problem details, unreachable service, bad keys, missing files)
print one red line (with ``--json``: one JSON object) on stderr and exit with the code of their
kind (:mod:`service.cli.exits`); only bugs show a traceback.
"""

from __future__ import annotations

import dataclasses
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

from service.cli.exits import ExitCode, Failure, exit_code_of_ledger_error, exit_code_of_status
from service.client import (
    ClientError,
    ClientFailure,
    InvalidArgument,
    ProgressCallback,
    ServiceUnreachable,
    VerificationFailed,
)
from service.errors import LedgerError

P = ParamSpec("P")
R = TypeVar("R")

PIPE_WIDTH = 200
"""Width of tables written to a pipe or file (rich would fold them at 80 columns)."""


class CliError(Exception):
    """A problem the command found itself (bad option combination, unknown key...); ``code``
    is its kind (bad input unless said otherwise)."""

    def __init__(self, message: str, *, code: ExitCode = ExitCode.BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


EXPECTED_ERRORS = (ClientFailure, LedgerError, CliError, OSError)


def stdout() -> Console:
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)


def stderr() -> Console:
    """Notes, warnings and progress for people; quiet with ``--json``, whose stderr carries
    only an error's JSON (what a note says is in the JSON on stdout, or only for people)."""
    return Console(
        stderr=True, width=None if sys.stderr.isatty() else PIPE_WIDTH, quiet=json_requested()
    )


def json_requested() -> bool:
    """Whether this command was given ``--json`` (then stderr is for an error's JSON only)."""
    from service.cli.context import state

    return state().json_output


def fail(failure: Failure | str, *, as_json: bool | None = None) -> NoReturn:
    """Report ``failure`` on stderr (a red line, or JSON with ``--json``) and exit with its
    code (a bare message: bad input)."""
    if isinstance(failure, str):
        failure = Failure(code=ExitCode.BAD_INPUT, message=failure)
    if as_json is None:
        from service.cli.context import state

        as_json = state().json_output
    if as_json:
        typer.echo(json.dumps(failure.as_json(), indent=2), err=True)
    else:
        # one line, whatever its length: the terminal wraps it, and a pipe gets it whole
        Console(stderr=True, width=None if sys.stderr.isatty() else PIPE_WIDTH).print(
            Text(f"error: {failure.message}", style="red"), soft_wrap=True
        )
    raise typer.Exit(int(failure.code))


def _message(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def failure_of(exc: BaseException) -> Failure:
    """The kind, message and details of an expected error."""
    message = _message(exc)
    if isinstance(exc, ClientError):
        details: dict[str, Any] = {"status": exc.status}
        for key in ("type", "contract_error", "errors", "cid"):
            if exc.problem.get(key) is not None:
                details[key] = exc.problem[key]
        return Failure(code=exit_code_of_status(exc.status), message=message, details=details)
    if isinstance(exc, CliError):
        return Failure(code=exc.code, message=message)
    if isinstance(exc, ServiceUnreachable):
        return Failure(code=ExitCode.UNAVAILABLE, message=message, details={"url": exc.url})
    if isinstance(exc, VerificationFailed):
        return Failure(code=ExitCode.VERIFICATION, message=message)
    if isinstance(exc, InvalidArgument):
        return Failure(code=ExitCode.BAD_INPUT, message=message)
    if isinstance(exc, LedgerError):
        return Failure(code=exit_code_of_ledger_error(exc), message=message)
    if isinstance(exc, FileNotFoundError):
        return Failure(code=ExitCode.NOT_FOUND, message=message)
    return Failure(code=ExitCode.FAILED, message=message)


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the expected errors of ``func`` into a message and the exit code of their kind."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EXPECTED_ERRORS as exc:
            fail(failure_of(exc))

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
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {f.name: as_jsonable(getattr(data, f.name)) for f in dataclasses.fields(data)}
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
    """A rich progress bar on stderr, one task per phase (hashing, uploading, downloading);
    none with ``--json``, whose stderr carries only an error's JSON."""
    progress = Progress(
        TextColumn("{task.description:>11}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=False,
        disable=json_requested(),
    )
    tasks: dict[str, TaskID] = {}

    def update(phase: str, done: int, total: int | None) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done, total=total)

    with progress:
        yield update
