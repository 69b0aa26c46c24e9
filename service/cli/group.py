"""The root command group: global options anywhere on the line, and usage errors as JSON.

``govledger models list --json`` means ``govledger --json models list``: the global options
(:data:`GLOBAL_OPTIONS`) are moved before the command unless the command itself defines an
option of that name. With ``--json``, a usage error (click's, exit 2) is one JSON object on
stderr like every other error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

from service.cli.exits import ExitCode, Failure

# typer 0.29 vendors its own click, whose usage errors derive from typer.TyperException; an
# older typer raises the click package's own: take either
try:
    import click as _click

    USAGE_ERRORS: tuple[type[Exception], ...] = (typer.TyperException, _click.ClickException)
    ABORTS: tuple[type[BaseException], ...] = (typer.Abort, _click.exceptions.Abort)
except ImportError:  # pragma: no cover - typer vendors click, and nothing else installs it
    USAGE_ERRORS, ABORTS = (typer.TyperException,), (typer.Abort,)

GLOBAL_OPTIONS: dict[str, bool] = {
    "--json": False,
    "--as": True,
    "--dev-account": True,
    "--url": True,
}
"""The root options that may also come after the command; True if the option takes a value."""


def hoist_global_options(root: Any, args: Sequence[str]) -> list[str]:
    """``args`` with every global option given after a command moved to the front, unless the
    command (or group) where it appears defines an option of that name itself."""
    args = list(args)
    front: list[str] = []
    rest: list[str] = []
    current = root
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            rest.extend(args[i:])
            break
        if token.startswith("-") and token != "-":
            name, has_value = token.split("=", 1)[0], "=" in token
            own = _option(current, name)
            if own is None and name in GLOBAL_OPTIONS and current is not root:
                takes_value = GLOBAL_OPTIONS[name] and not has_value
                front.extend(args[i : i + 1 + int(takes_value)])
                i += 1 + int(takes_value)
                continue
            rest.append(token)
            if own is not None and not own.is_flag and not own.count and not has_value:
                if i + 1 < len(args):
                    rest.append(args[i + 1])
                i += 1
            elif own is None and name in GLOBAL_OPTIONS and GLOBAL_OPTIONS[name] and not has_value:
                if i + 1 < len(args):  # a global option before the command: keep its value
                    rest.append(args[i + 1])
                i += 1
            i += 1
            continue
        rest.append(token)
        commands = getattr(current, "commands", None)
        if isinstance(commands, dict) and token in commands:
            current = commands[token]
        i += 1
    return front + rest


def _option(command: Any, name: str) -> Any:
    """The option ``name`` of ``command`` (typer's vendored click), or None."""
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and name in (
            *param.opts,
            *param.secondary_opts,
        ):
            return param
    return None


def _wants_json(args: Sequence[str]) -> bool:
    """Whether ``--json`` comes before the command (where the global options now are)."""
    skip = False
    for token in args:
        if skip:
            skip = False
            continue
        if token == "--json":
            return True
        if not token.startswith("-"):
            return False  # the command: options after it are its own (global ones were hoisted)
        skip = GLOBAL_OPTIONS.get(token, False)
    return False


class GovledgerGroup(TyperGroup):
    """The ``govledger`` group; see the module docstring."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = hoist_global_options(self, sys.argv[1:] if args is None else args)
        if not _wants_json(argv):
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except USAGE_ERRORS as exc:
            code = int(getattr(exc, "exit_code", ExitCode.BAD_INPUT))
            failure = Failure(
                code=ExitCode(code) if code in ExitCode._value2member_map_ else ExitCode.BAD_INPUT,
                message=str(getattr(exc, "format_message", exc.__str__)()),
            )
            typer.echo(json.dumps(failure.as_json(), indent=2), err=True)
            rv = code
        except ABORTS:
            failure = Failure(code=ExitCode.FAILED, message="aborted")
            typer.echo(json.dumps(failure.as_json(), indent=2), err=True)
            rv = 1
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)
