"""A local Flower deployment on 127.0.0.1 for the governed app (``flower_app/``): one SuperLink and
one SuperNode per organisation as processes, insecure (no TLS: loopback only), a temporary
``FLWR_HOME`` whose Flower configuration names the SuperLink, ``flwr run`` of the app, its status
followed with a bounded wait, and every process stopped by its id (with the SuperExec and app
processes they started, found by parent id before they are stopped).

Every Flower process runs from the Flower side's own virtualenv (:mod:`service.flower.venv`), not
the service's; this module itself imports no Flower. The SuperLink runs with
``--disable-runtime-dependency-installation``: the app runs in that virtualenv, which holds
everything it imports, and nothing is installed at run time (a ``uv sync`` of a torch range
fetched a multi-GB CUDA build here).

For a real deployment: start the SuperLink with ``--ssl-certfile``, ``--ssl-keyfile`` and
``--ssl-ca-certfile`` instead of ``--insecure`` and ``--enable-supernode-auth`` (register each
SuperNode's public key with ``flwr supernode``); each SuperNode with ``--root-certificates`` and
``--auth-supernode-private-key``; keys for the ledger stay in each SuperNode's own environment or
keystore, named by its ``--node-config``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from service.devstack import free_port
from service.flower.venv import flower_program

APP_DIR = Path(__file__).resolve().parents[2] / "flower_app"


class DeploymentError(RuntimeError):
    """A Flower process did not start, the run was not accepted, or it did not finish in time."""


@dataclass(frozen=True, kw_only=True)
class SuperNodeSpec:
    """One organisation's SuperNode: its node config (``key=value`` pairs, see
    :mod:`service.flower.participant`) and environment additions (its key variable)."""

    node_config: Mapping[str, str | int | bool]
    env: Mapping[str, str] = field(default_factory=dict)


def _toml_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string


def _pairs(config: Mapping[str, str | int | bool]) -> str:
    return " ".join(f"{k}={_toml_value(v)}" for k, v in config.items())


@dataclass
class LocalDeployment:
    """Start with :meth:`start`, run with :meth:`run` and :meth:`wait`, always :meth:`stop`."""

    home: Path  # FLWR_HOME and the processes' logs
    nodes: list[SuperNodeSpec]
    app_dir: Path = APP_DIR
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def environment(self) -> dict[str, str]:
        bin_dir = str(flower_program("flwr").parent)  # flower-superexec and flwr-* by name
        return {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "FLWR_HOME": str(self.home),
            **self.env,
        }

    def _flwr(self, name: str) -> str:
        return str(flower_program(name))

    def _spawn(self, log_name: str, command: list[str], env: Mapping[str, str]) -> None:
        log = (self.home / log_name).open("wb")
        self._logs.append(log)
        self._processes.append(
            subprocess.Popen(command, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
        )

    def start(self, *, timeout: float = 60.0) -> LocalDeployment:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.toml").write_text(
            '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )
        env = self.environment
        superlink = [self._flwr("flower-superlink"), "--insecure"]
        superlink += ["--disable-runtime-dependency-installation"]
        superlink += ["--host", "127.0.0.1", "--port", str(self.port)]
        self._spawn("superlink.log", superlink, env)
        self._wait_for_port(self.port, timeout)
        for i, node in enumerate(self.nodes):
            command = [self._flwr("flower-supernode"), "--insecure"]
            command += ["--superlink", f"127.0.0.1:{self.port}", "--port", str(free_port())]
            command += ["--node-config", _pairs(node.node_config)]
            self._spawn(f"supernode-{i}.log", command, {**env, **node.env})
        return self

    def _wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self._processes):
                raise DeploymentError(f"a Flower process exited; see the logs in {self.home}")
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.5)
        raise DeploymentError(f"the SuperLink did not listen on {port} within {timeout:.0f} s")

    def run(self, run_config: Mapping[str, str | int | bool], *, timeout: float = 180.0) -> str:
        """``flwr run`` the app with ``run_config``; the run's id."""
        command = [self._flwr("flwr"), "run", str(self.app_dir), "local", "--format", "json"]
        command += ["--run-config", _pairs(run_config)]
        result = self._flwr_json(command, timeout)
        if not result.get("success"):
            raise DeploymentError(f"flwr run was refused: {result.get('error-message')}")
        return str(result["run-id"])

    def status(self, run_id: str, *, timeout: float = 120.0) -> str:
        """The run's status as ``flwr ls`` says it (``running``, ``finished:completed``, ...)."""
        command = [self._flwr("flwr"), "ls", "local", "--run-id", run_id, "--format", "json"]
        result = self._flwr_json(command, timeout)
        runs = result.get("runs") or []
        return str(runs[0]["status"]) if runs else ""

    def wait(self, run_id: str, *, timeout: float, poll: float = 5.0) -> str:
        """Poll the run's status until it is finished (its final status) or ``timeout``."""
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            status = self.status(run_id)
            if status.startswith("finished"):
                return status
            time.sleep(poll)
        raise DeploymentError(f"run {run_id} is still {status!r} after {timeout:.0f} s")

    def log(self, run_id: str, *, timeout: float = 120.0) -> str:
        command = [self._flwr("flwr"), "log", run_id, "local", "--show"]
        done = subprocess.run(
            command, env=self.environment, capture_output=True, text=True, timeout=timeout,
            cwd=self.home,
        )  # fmt: skip
        return done.stdout

    def _flwr_json(self, command: list[str], timeout: float) -> dict[str, Any]:
        done = subprocess.run(
            command, env=self.environment, capture_output=True, text=True, timeout=timeout,
            cwd=self.home,
        )  # fmt: skip
        try:
            parsed: dict[str, Any] = json.loads(done.stdout)
        except ValueError as exc:
            raise DeploymentError(f"{command[1]} said: {done.stdout}{done.stderr}") from exc
        return parsed

    def stop(self, *, timeout: float = 20.0) -> None:
        """Stop every process started here and those they started (SuperExec, app processes),
        by process id, children first."""
        started = [p.pid for p in self._processes]
        descendants = [d for pid in started for d in _descendants(pid)]
        for pid in [*descendants, *reversed(started)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self._processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pid in descendants:  # not our children: gone, or killed now
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._processes.clear()
        self._logs.clear()


def _descendants(pid: int) -> list[int]:
    """The ids of ``pid``'s descendants, deepest first (``ps --ppid``)."""
    done = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, timeout=10
    )
    found: list[int] = []
    for child in (int(c) for c in done.stdout.split()):
        found += [*_descendants(child), child]
    return found
