"""The REST service as a background process: start it detached, find it, stop it.

``<data_dir>/service/service.json`` records the pid, host and port; ``service.log`` collects
uvicorn's output. A recorded pid counts only while it is alive and still runs this service (a
pid reused by another program after a reboot is not mistaken for it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from service.cli.exits import ExitCode
from service.cli.output import CliError
from service.config import PROJECT_ROOT, Settings
from service.pids import pid_alive, runs

APP_FACTORY = "service.main:create_app"


@dataclass(frozen=True, kw_only=True)
class ServiceInfo:
    pid: int
    host: str
    port: int
    log_file: str
    started_at: float

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ServiceProcess:
    """The service started from one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.data_dir / "service"

    @property
    def pid_file(self) -> Path:
        return self.dir / "service.json"

    @property
    def log_file(self) -> Path:
        return self.dir / "service.log"

    def info(self) -> ServiceInfo | None:
        """The running service recorded here, or None (a stale record is removed)."""
        try:
            info = ServiceInfo(**json.loads(self.pid_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None
        if not runs(info.pid, APP_FACTORY.encode()):
            self.pid_file.unlink(missing_ok=True)
            return None
        return info

    def start(self, *, timeout: float = 90.0) -> ServiceInfo:
        """Start uvicorn detached (its own session) and wait until GET /ready answers 200."""
        host, port = self.settings.service_host, self.settings.service_port
        url = f"http://{host}:{port}"
        if probe(url, "/health") is not None:
            raise CliError(
                f"something already answers on {url}; stop it or choose another port "
                "(GOVLEDGER_SERVICE_PORT)",
                code=ExitCode.FAILED,
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GOVLEDGER_DATA_DIR": str(self.settings.data_dir),
            "GOVLEDGER_RPC_URL": self.settings.rpc_url,
            "GOVLEDGER_CHAIN_PORT": str(self.settings.chain_port),
            "GOVLEDGER_SERVICE_HOST": host,
            "GOVLEDGER_SERVICE_PORT": str(port),
        }
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "--factory", APP_FACTORY,
                    "--host", host, "--port", str(port),
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the command that started it
            )  # fmt: skip
        info = ServiceInfo(
            pid=process.pid, host=host, port=port, log_file=str(self.log_file),
            started_at=time.time(),
        )  # fmt: skip
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info)))
        tmp.replace(self.pid_file)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise CliError(
                    f"the service exited with code {process.returncode} at start; last lines of "
                    f"{self.log_file}:\n{_tail(self.log_file)}",
                    code=ExitCode.FAILED,
                )
            response = probe(url, "/ready")
            if response is not None and response.status_code == 200:
                return info
            if time.monotonic() > deadline:
                self.stop()
                raise CliError(
                    f"the service was not ready within {timeout:.0f}s and was stopped; see "
                    f"{self.log_file}",
                    code=ExitCode.UNAVAILABLE,
                )
            time.sleep(0.2)

    def stop(self, *, timeout: float = 20.0) -> ServiceInfo | None:
        """SIGTERM, wait for a clean exit, SIGKILL after ``timeout``. None if not running."""
        info = self.info()
        if info is None:
            return None
        _terminate(info.pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return info


def probe(url: str, path: str, *, timeout: float = 2.0) -> httpx.Response | None:
    """GET url+path, or None if nothing answers."""
    try:
        return httpx.get(url + path, timeout=timeout)
    except httpx.HTTPError:
        return None


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
            return
        time.sleep(0.05)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
