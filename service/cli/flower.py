"""``govledger flower up`` / ``down`` / ``status``: the local Flower processes beside the stack.

``up`` starts a SuperLink (insecure, on 127.0.0.1, runtime dependency installation off) and one
SuperNode per ``--node`` (its node config: ``partition-id``, ``govledger-key-env``,
``govledger-account`` ...; the keys are read from this command's environment by each SuperNode
and never written anywhere), all from the Flower side's virtualenv (``.venv-flower``), each in a
session of its own so they outlive the command. Every port is checked free first.
``<data_dir>/flower/`` is their ``FLWR_HOME``: its ``config.toml`` names the SuperLink as the
connection ``local``, ``flower.json`` records each process's pid, port, log and node config.
``down`` stops them (and the SuperExec and app processes they started) by process id; ``status``
shows them and exits 6 unless all run. See ``service/flower/deployment.py``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from service.cli.context import state
from service.cli.exits import ExitCode
from service.cli.output import CliError, command, emit, table

app = typer.Typer(
    help="The local Flower processes (a SuperLink and SuperNodes) beside the stack.",
    no_args_is_help=True,
)

DEFAULT_PORT = 9092


def _home() -> Path:
    return state().settings.data_dir / "flower"


_PAIR = re.compile(r"""\s*([A-Za-z0-9_.-]+)=('[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)\s*""")


def _parse_node_config(text: str) -> dict[str, str | int | bool]:
    """``key=value`` pairs separated by spaces, as ``flower-supernode --node-config`` takes them:
    a quoted value is a TOML string, a bare one a decimal integer, true or false, else a string
    (so an unquoted address stays an address, not TOML's hexadecimal integer)."""
    config: dict[str, str | int | bool] = {}
    at = 0
    while at < len(text.rstrip()):
        match = _PAIR.match(text, at)
        if match is None:
            raise CliError(f"--node {text!r}: {text[at:]!r} is not key=value pairs")
        key, value = match.groups()
        if value[0] in "'\"":
            try:
                config[key] = str(tomllib.loads(f"v = {value}")["v"])
            except tomllib.TOMLDecodeError as exc:
                raise CliError(f"--node {text!r}: {key}: {exc}") from exc
        elif re.fullmatch(r"-?[0-9]+", value):
            config[key] = int(value)
        elif value in ("true", "false"):
            config[key] = value == "true"
        else:
            config[key] = value
        at = match.end()
    return config


def _report(processes: list[Any], home: Path, port: int) -> dict[str, Any]:
    return {
        "flwr_home": str(home),
        "superlink": f"127.0.0.1:{port}",
        "processes": [
            {
                "role": p.role,
                "pid": p.pid,
                "port": p.port,
                "running": p.alive(),
                "node_config": p.node_config,
                "log": p.log,
            }
            for p in processes
        ],
    }


def _table(report: dict[str, Any], title: str) -> Table:
    rows = [
        (
            p["role"],
            p["pid"],
            p["port"],
            "running" if p["running"] else "not running",
            p["node_config"] or "-",
        )
        for p in report["processes"]
    ]
    t = table("process", "pid", "port", "state", "node config", rows=rows, title=title)
    t.caption = (
        f"FLWR_HOME={report['flwr_home']} (connection 'local' = {report['superlink']}); logs there"
    )
    return t


@command(app, "up")
def flower_up(
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            help="One SuperNode, by its node config: key=value pairs, e.g. "
            "\"partition-id=0 govledger-key-env='ORG_KEY_0'\" (repeatable; the variables it "
            "names are read from this command's environment).",
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option("--port", help="The SuperLink's port on 127.0.0.1 (checked free first)."),
    ] = DEFAULT_PORT,
) -> None:
    """Start a SuperLink and the SuperNodes given (insecure, loopback only) in the background."""
    from service.flower.deployment import DeploymentError, LocalDeployment, SuperNodeSpec
    from service.flower.venv import FlowerEnvironmentMissing

    home = _home()
    running = LocalDeployment.recorded(home)
    if running is not None:
        report = _report(running.processes, home, running.port)
        emit(report, lambda: _table(report, "Flower: already running"), as_json=state().json_output)
        return
    nodes = [SuperNodeSpec(node_config=_parse_node_config(text)) for text in node or []]
    deployment = LocalDeployment(home=home, nodes=nodes, port=port)
    try:
        deployment.start()
    except FlowerEnvironmentMissing as exc:
        raise CliError(str(exc), code=ExitCode.UNAVAILABLE) from exc
    except DeploymentError as exc:
        raise CliError(str(exc), code=ExitCode.FAILED) from exc
    report = _report(deployment.processes, home, deployment.port)
    emit(report, lambda: _table(report, "Flower: started"), as_json=state().json_output)


@command(app, "down")
def flower_down() -> None:
    """Stop the local Flower processes and what they started, by process id."""
    from service.flower.deployment import LocalDeployment

    home = _home()
    running = LocalDeployment.recorded(home)
    stopped = running.stop() if running is not None else []
    report = {"stopped": [{"role": p.role, "pid": p.pid} for p in stopped]}
    emit(
        report,
        lambda: (
            "\n".join(f"{p.role}: stopped (pid {p.pid})" for p in stopped)
            or "Flower was not running"
        ),
        as_json=state().json_output,
    )


@command(app, "status")
def flower_status() -> None:
    """Show the local Flower processes and how many SuperNodes the SuperLink counts online;
    exit 6 unless the SuperLink and every SuperNode run."""
    import subprocess

    from service.flower.deployment import DeploymentError, LocalDeployment

    home = _home()
    running = LocalDeployment.recorded(home)
    if running is None:
        report: dict[str, Any] = {"flwr_home": str(home), "processes": [], "running": False}
        emit(report, lambda: "Flower is not running", as_json=state().json_output)
        raise typer.Exit(int(ExitCode.UNAVAILABLE))
    report = _report(running.processes, home, running.port)
    report["running"] = all(p["running"] for p in report["processes"])
    try:
        report["supernodes_online"] = running.online_nodes(timeout=60)
    except (DeploymentError, subprocess.TimeoutExpired):
        report["supernodes_online"] = None  # the SuperLink does not answer
    nodes = sum(p["role"].startswith("supernode") for p in report["processes"])
    online = report["supernodes_online"]
    title = f"Flower: {'?' if online is None else online} of {nodes} SuperNodes online"
    emit(report, lambda: _table(report, title), as_json=state().json_output)
    if not report["running"]:
        raise typer.Exit(int(ExitCode.UNAVAILABLE))
