"""A local Flower deployment on 127.0.0.1 for the governed app (``flower_app/``): one SuperLink and
one SuperNode per organisation as processes, insecure (no TLS: loopback only), a ``FLWR_HOME``
whose Flower configuration names the SuperLink (connection ``local``), ``flwr run`` of the app,
its status followed with a bounded wait, and every process stopped by its id.

Each process starts in a session of its own, so it outlives the command that started it
(``govledger flower up``) and can be stopped with what it started (SuperExec, ServerApp and
ClientApp processes). ``<home>/flower.json`` records every process's pid, port, log and node
config, never the environment (the nodes' keys stay in the environment of the command that
started them): :meth:`LocalDeployment.recorded` finds a running deployment again from another
process, :meth:`LocalDeployment.stop` stops it. A recorded pid counts only while it is alive and
still runs a Flower program (a reused pid is not mistaken for it). Ports are checked free before
anything starts: the SuperLink's (Flower's default is 8000, the service's too) and each
SuperNode's.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from service.devstack import free_port
from service.flower.venv import flower_program
from service.pids import pid_alive, runs

APP_DIR = Path(__file__).resolve().parents[2] / "flower_app"
RECORD = "flower.json"


class DeploymentError(RuntimeError):
    """A Flower process did not start, a port is taken, the run was not accepted, or it did not
    finish in time."""


@dataclass(frozen=True, kw_only=True)
class SuperNodeSpec:
    """One organisation's SuperNode: its node config (``key=value`` pairs, see
    :mod:`service.flower.identity`) and environment additions (its key variable)."""

    node_config: Mapping[str, str | int | bool]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FlowerProcess:
    """One started process, as ``flower.json`` records it."""

    role: str  # superlink, supernode-0, supernode-1, ...
    pid: int
    port: int
    log: str
    node_config: str = ""

    def alive(self) -> bool:
        """Alive and still a Flower program (not a pid reused since)."""
        return runs(self.pid, b"flower-superlink", b"flower-supernode")


def _toml_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a TOML basic string


def node_config_text(config: Mapping[str, str | int | bool]) -> str:
    """``key=value`` pairs as ``flower-supernode --node-config`` and ``flwr run --run-config``
    take them."""
    return " ".join(f"{k}={_toml_value(v)}" for k, v in config.items())


def check_port_free(port: int) -> None:
    """Raise DeploymentError if something listens on 127.0.0.1:``port`` or it cannot be bound."""
    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise DeploymentError(f"port {port} on 127.0.0.1 is in use; choose another")
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DeploymentError(f"port {port} on 127.0.0.1 cannot be bound: {exc}") from exc


@dataclass
class LocalDeployment:
    """Start with :meth:`start`, run with :meth:`run` and :meth:`wait`, always :meth:`stop`."""

    home: Path  # FLWR_HOME, the record and the processes' logs
    nodes: list[SuperNodeSpec] = field(default_factory=list)
    app_dir: Path = APP_DIR
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: list[FlowerProcess] = field(default_factory=list)

    @property
    def record_file(self) -> Path:
        return self.home / RECORD

    @property
    def environment(self) -> dict[str, str]:
        bin_dir = str(flower_program("flwr").parent)  # flower-superexec and flwr-* by name
        return {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "FLWR_HOME": str(self.home),
            **self.env,
        }

    @classmethod
    def recorded(cls, home: Path) -> LocalDeployment | None:
        """The deployment ``home``'s record names, if any of its processes still runs (a record
        whose processes are all gone is removed)."""
        try:
            record = json.loads((home / RECORD).read_text())
            processes = [FlowerProcess(**p) for p in record["processes"]]
            port = int(record["port"])
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None
        if not any(p.alive() for p in processes):
            (home / RECORD).unlink(missing_ok=True)
            return None
        return cls(home=home, port=port, processes=processes)

    def start(self, *, timeout: float = 60.0) -> LocalDeployment:
        """Check every port, start the SuperLink, wait until it listens, start the SuperNodes;
        record them all. A process that exits at start stops the others."""
        node_ports = [free_port() for _ in self.nodes]
        for port in [self.port, *node_ports]:
            check_port_free(port)
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.toml").write_text(
            '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n'
        )
        env = self.environment
        superlink = [self._flwr("flower-superlink"), "--insecure"]
        superlink += ["--disable-runtime-dependency-installation"]
        superlink += ["--host", "127.0.0.1", "--port", str(self.port)]
        try:
            self._spawn("superlink", self.port, superlink, env)
            self._wait_for_port(self.port, timeout)
            for i, (node, port) in enumerate(zip(self.nodes, node_ports, strict=True)):
                config = node_config_text(node.node_config)
                command = [self._flwr("flower-supernode"), "--insecure"]
                command += ["--superlink", f"127.0.0.1:{self.port}"]
                command += ["--host", "127.0.0.1", "--port", str(port)]
                command += ["--node-config", config]
                self._spawn(f"supernode-{i}", port, command, {**env, **node.env}, config)
            time.sleep(1.0)
            self._check_running()
        except BaseException:
            self.stop()
            raise
        return self

    def _flwr(self, name: str) -> str:
        return str(flower_program(name))

    def _spawn(
        self, role: str, port: int, command: list[str], env: Mapping[str, str], config: str = ""
    ) -> None:
        log = self.home / f"{role}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                env=dict(env),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the command; stopped with what it started
            )
        self.processes.append(
            FlowerProcess(role=role, pid=process.pid, port=port, log=str(log), node_config=config)
        )
        self._write_record()

    def _write_record(self) -> None:
        record = {"port": self.port, "processes": [asdict(p) for p in self.processes]}
        tmp = self.record_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(self.record_file)

    def _check_running(self) -> None:
        for p in self.processes:
            if not pid_alive(p.pid):
                raise DeploymentError(f"the {p.role} exited at start; see {p.log}:\n{_tail(p.log)}")

    def _wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.5)
        raise DeploymentError(f"the SuperLink did not listen on {port} within {timeout:.0f} s")

    def run(self, run_config: Mapping[str, str | int | bool], *, timeout: float = 180.0) -> str:
        """``flwr run`` the app with ``run_config``; the run's id."""
        command = [self._flwr("flwr"), "run", str(self.app_dir), "local", "--format", "json"]
        command += ["--run-config", node_config_text(run_config)]
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

    def online_nodes(self, *, timeout: float = 120.0) -> int:
        """How many SuperNodes the SuperLink counts online (``flwr supernode ls``)."""
        command = [self._flwr("flwr"), "supernode", "ls", "local", "--format", "json"]
        result = self._flwr_json(command, timeout)
        return sum(n.get("status") == "online" for n in result.get("nodes") or [])

    def wait_for_nodes(self, count: int, *, timeout: float, poll: float = 2.0) -> None:
        """Wait until ``count`` SuperNodes are online."""
        deadline = time.monotonic() + timeout
        online = 0
        while time.monotonic() < deadline:
            online = self.online_nodes()
            if online >= count:
                return
            time.sleep(poll)
        raise DeploymentError(f"{online} of {count} SuperNodes online after {timeout:.0f} s")

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

    def stop(self, *, timeout: float = 20.0) -> list[FlowerProcess]:
        """Stop every recorded process and what it started (SuperExec, app processes): by
        process id, children first, SIGTERM then SIGKILL after ``timeout``; remove the record.
        The processes that were still running."""
        running = [p for p in self.processes if p.alive()]
        pids = [d for p in running for d in descendants(p.pid)]
        pids += [p.pid for p in reversed(running)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for pid in pids:
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for p in running:  # whatever of their process groups is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        self.processes.clear()
        self.record_file.unlink(missing_ok=True)
        return running


def descendants(pid: int) -> list[int]:
    """The ids of ``pid``'s descendants, deepest first (``ps --ppid``)."""
    done = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, timeout=10
    )
    found: list[int] = []
    for child in (int(c) for c in done.stdout.split()):
        found += [*descendants(child), child]
    return found


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
