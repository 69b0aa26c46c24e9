"""A throwaway local stack for tests and benchmarks: anvil, the deployed contracts, the embedded
store and the REST service under uvicorn, on free loopback ports, with its data in a directory
of the caller's (usually a temporary one). ``govledger up`` is the long-lived equivalent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from service.chain.setup import ensure_deployment, local_chain
from service.config import PROJECT_ROOT, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    data_dir: Path
    chain_port: int = field(default_factory=free_port)
    service_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    _service: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "GOVLEDGER_DATA_DIR": str(self.data_dir),
            "GOVLEDGER_CHAIN_PORT": str(self.chain_port),
            "GOVLEDGER_SERVICE_PORT": str(self.service_port),
            "GOVLEDGER_VOTING_PERIOD_S": "3600",
            **self.extra_env,
        }

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            chain_port=self.chain_port,
            service_port=self.service_port,
            voting_period_s=3600,
            **{k.removeprefix("GOVLEDGER_").lower(): v for k, v in self.extra_env.items()},  # type: ignore[arg-type]
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    def start_chain(self) -> None:
        local_chain(self.settings).start()
        ensure_deployment(self.settings)

    def stop_chain(self) -> None:
        local_chain(self.settings).stop()

    def start_service(self, timeout: float = 60.0) -> None:
        log = open(self.data_dir / "service.log", "ab")  # noqa: SIM115 - closed with the process
        self._service = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", "service.main:create_app",
                "--host", "127.0.0.1", "--port", str(self.service_port), "--log-level", "warning",
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._service.poll() is not None:
                raise RuntimeError(f"the service exited; see {self.data_dir / 'service.log'}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service did not answer within {timeout}s")

    def stop_service(self) -> None:
        if self._service is not None:
            self._service.terminate()
            try:
                self._service.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._service.kill()
                self._service.wait()
            self._service = None

    def start(self) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.start_chain()
        self.start_service()
        return self

    def stop(self) -> None:
        self.stop_service()
        self.stop_chain()
