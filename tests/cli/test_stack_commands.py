"""``govledger up`` / ``status`` / ``down`` on a fresh data dir with free ports.

``up`` and ``down`` run as real subprocesses (the stack must outlive the command that started
it); the commands in between run in this process. The stack is this test's own, so it may move
the chain's clock (anvil's ``evm_increaseTime``) to end a voting window and finalize."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from service.config import PROJECT_ROOT
from service.pids import pid_alive
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid
from tests.cli.conftest import Cli, safetensors_bytes
from tests.stack import free_port


class Govledger:
    """Runs ``govledger`` as a subprocess with one data dir and port pair."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.chain_port, self.service_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GOVLEDGER_")}
        self.env.update(
            GOVLEDGER_DATA_DIR=str(data_dir),
            GOVLEDGER_CHAIN_PORT=str(self.chain_port),
            GOVLEDGER_SERVICE_PORT=str(self.service_port),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli.main", *args],
            cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    def json(self, *args: str) -> dict[str, Any]:
        result = self("--json", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def rpc(self, method: str, *params: object) -> object:
        response = httpx.post(
            f"http://127.0.0.1:{self.chain_port}",
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
        )
        return response.json()["result"]


@pytest.fixture
def govledger(tmp_path: Path) -> Iterator[Govledger]:
    g = Govledger(tmp_path / "data")
    yield g
    g("down")  # whatever happened


def test_up_status_down_up_keeps_deployment_and_data(govledger: Govledger, tmp_path: Path) -> None:
    first = govledger.json("up")
    chain, service = first["chain"], first["service"]
    assert chain["status"] == service["status"] == "started"
    assert service["url"] == govledger.url
    assert httpx.get(govledger.url + "/ready").json()["ready"] is True
    deployment = (govledger.data_dir / "deployment.json").read_text()
    assert (govledger.data_dir / "service" / "service.log").exists()

    again = govledger.json("up")  # idempotent: the same processes, nothing redeployed
    assert again["chain"]["status"] == again["service"]["status"] == "already running"
    assert again["chain"]["pid"] == chain["pid"]
    assert again["service"]["pid"] == service["pid"]
    assert (govledger.data_dir / "deployment.json").read_text() == deployment

    table = govledger("status")
    assert table.returncode == 0
    assert f"pid {service['pid']}, {govledger.url}: ready" in table.stdout
    assert f"pid {chain['pid']} on http://127.0.0.1:{govledger.chain_port}" in table.stdout
    status = govledger.json("status")
    assert status["service"]["ready"] is True
    assert status["deployment"] == {
        k: first["deployment"][k]
        for k in ("chain_id", "Consortium", "ModelRegistry", "deploy_block")
    }

    # the stack serves the CLI: a model, a version, a membership proposal; then the voting
    # window ends without votes and both are finalized as rejected
    cli = Cli(url=govledger.url, home=tmp_path / "home", runner=CliRunner())
    artifact = tmp_path / "w.safetensors"
    artifact.write_bytes(safetensors_bytes(seed=5))
    assert cli("--dev-account", "1", "models", "register", "kept").exit_code == 0
    proposed = cli("--dev-account", "1", "--json", "versions", "propose", "kept", str(artifact))
    assert proposed.exit_code == 0, proposed.output
    version = json.loads(proposed.stdout)["version"]["version_id"]
    change = cli("--dev-account", "2", "--json", "membership", "propose", "set_quorum",
                 "--value", "7000")  # fmt: skip
    assert change.exit_code == 0, change.output
    proposal = json.loads(change.stdout)["proposal"]["proposal_id"]
    govledger.rpc("evm_increaseTime", 3 * 24 * 3600 + 1)
    govledger.rpc("evm_mine")
    finalized = cli("--json", "versions", "finalize", str(version))
    assert json.loads(finalized.stdout)["version"]["state"] == "rejected"
    closed = cli("--json", "membership", "finalize", str(proposal))
    assert json.loads(closed.stdout)["proposal"]["state"] == "rejected"

    stopped = govledger("down")
    assert stopped.returncode == 0, stopped.stderr
    assert f"service: stopped (pid {service['pid']})" in stopped.stdout
    assert f"anvil:   stopped (pid {chain['pid']})" in stopped.stdout
    assert not pid_alive(int(service["pid"])) and not pid_alive(int(chain["pid"]))
    stopped_status = govledger("--json", "status")
    assert stopped_status.returncode == 6  # unavailable: a script can test `status` alone
    after = json.loads(stopped_status.stdout)
    assert after["service"]["running"] is False and after["chain"]["running"] is False
    assert "was not running" in govledger("down").stdout
    unreachable = cli("models", "show", "kept")
    assert unreachable.exit_code == 6 and "start it with `govledger up`" in unreachable.stderr

    restarted = govledger.json("up")
    assert restarted["service"]["status"] == "started"
    assert (govledger.data_dir / "deployment.json").read_text() == deployment
    kept = json.loads(cli("--json", "models", "show", "kept").stdout)
    assert kept["owner"] == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    shown = json.loads(cli("--json", "versions", "show", str(version)).stdout)
    cid = str(compute_cid(iter_chunks(artifact.read_bytes()))[0])
    assert (shown["state"], shown["artifact_cid"]) == ("rejected", cid)
    out = tmp_path / "out.safetensors"
    got = cli("artifacts", "download", "--version", str(version), "-o", str(out))
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == artifact.read_bytes()
    assert govledger("down").returncode == 0


def test_up_refuses_a_port_taken_by_another_program(govledger: Govledger) -> None:
    """Something else answering HTTP on the service port: up says so instead of clashing."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", govledger.service_port), Other)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = govledger("up")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert f"something already answers on {govledger.url}" in result.stderr
    assert "Traceback" not in result.stderr
