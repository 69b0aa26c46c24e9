"""Lifecycle of the local chain: an anvil process with its state persisted under the data dir.

anvil comes from npm (`@foundry-rs/anvil-linux-amd64`, pinned in package.json). It listens on
127.0.0.1 only, loads its state from ``<data>/chain/anvil-state.json`` at start, writes it back
every second and on a clean stop (SIGTERM), so a restart keeps every block, receipt and log. A
SIGKILL can lose at most the last second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.config import PROJECT_ROOT
from service.errors import ChainError, ChainUnavailable
from service.pids import pid_alive

ANVIL_PACKAGE_DIR = PROJECT_ROOT / "node_modules" / "@foundry-rs"
#: The dev accounts' mnemonic anvil uses by default; public, for the local chain only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_binary() -> Path:
    """The anvil executable installed by npm."""
    candidates = sorted(ANVIL_PACKAGE_DIR.glob("anvil-*/bin/anvil"))
    if not candidates:
        raise ChainError(
            f"anvil is not installed under {ANVIL_PACKAGE_DIR}; run `bash scripts/setup.sh` "
            "(it runs `npm ci`)"
        )
    binary = candidates[0]
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return binary


@dataclass(frozen=True, kw_only=True)
class NodeInfo:
    pid: int
    host: str
    port: int
    chain_id: int
    state_file: str
    log_file: str

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def rpc_chain_id(rpc_url: str, *, timeout: float = 2.0) -> int:
    """The chain id the endpoint reports; ChainUnavailable if it does not answer."""
    try:
        response = httpx.post(
            rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=timeout,
        )
        response.raise_for_status()
        return int(response.json()["result"], 16)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise ChainUnavailable(
            f"no JSON-RPC answer from {rpc_url} ({exc}); start the chain with "
            "`govledger up` or set GOVLEDGER_RPC_URL to a running node"
        ) from exc


class LocalChain:
    """Starts, finds and stops the project's anvil, keeping its state in ``chain_dir``."""

    def __init__(
        self, *, chain_dir: Path, host: str = "127.0.0.1", port: int = 8545, chain_id: int = 31337
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ChainError(f"the local chain binds loopback only, not {host!r}")
        self.chain_dir = chain_dir
        self.host = host
        self.port = port
        self.chain_id = chain_id

    @property
    def state_file(self) -> Path:
        return self.chain_dir / "anvil-state.json"

    @property
    def pid_file(self) -> Path:
        return self.chain_dir / "anvil.json"

    @property
    def log_file(self) -> Path:
        return self.chain_dir / "anvil.log"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def info(self) -> NodeInfo | None:
        """The running node started from this directory, or None."""
        try:
            data = json.loads(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        info = NodeInfo(**data)
        if not pid_alive(info.pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return info

    def start(self, *, timeout: float = 30.0) -> NodeInfo:
        """Start anvil (or return the one already running from this directory)."""
        running = self.info()
        if running is not None:
            return running
        try:
            chain_id = rpc_chain_id(self.rpc_url, timeout=0.5)
        except ChainUnavailable:
            pass
        else:
            raise ChainError(
                f"another node (chain id {chain_id}) already listens on {self.rpc_url}; stop it "
                "or choose another port (GOVLEDGER_CHAIN_PORT)"
            )
        self.chain_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(anvil_binary()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--mnemonic", DEV_MNEMONIC,
            "--state", str(self.state_file),
            "--state-interval", "1",
        ]  # fmt: skip
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the command that started it
            )
        info = NodeInfo(
            pid=process.pid,
            host=self.host,
            port=self.port,
            chain_id=self.chain_id,
            state_file=str(self.state_file),
            log_file=str(self.log_file),
        )
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ChainError(
                    f"anvil exited with code {process.returncode} at start; see {self.log_file}"
                )
            try:
                rpc_chain_id(self.rpc_url, timeout=0.5)
                break
            except ChainUnavailable:
                if time.monotonic() > deadline:
                    process.kill()
                    raise ChainError(
                        f"anvil did not answer on {self.rpc_url} within {timeout:.0f}s; "
                        f"see {self.log_file}"
                    ) from None
                time.sleep(0.1)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info.__dict__))
        tmp.replace(self.pid_file)
        return info

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Stop anvil cleanly (SIGTERM: it writes its state, then exits). False if not running."""
        info = self.info()
        if info is None:
            return False
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(info.pid):
            if time.monotonic() > deadline:
                os.kill(info.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True
