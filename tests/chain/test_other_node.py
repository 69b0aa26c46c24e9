"""Any EVM JSON-RPC endpoint works by configuration alone: the same deployment and adapter code
against a Hardhat node (EDR) instead of anvil, chosen only by GOVLEDGER_RPC_URL and the key."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.chain.accounts import dev_account
from service.chain.setup import connect_ledger, ensure_deployment
from service.chain.types import State, Support
from service.config import PROJECT_ROOT, Settings
from tests.stack import free_port


@pytest.fixture
def hardhat_node(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "hardhat.log").open("wb")
    process = subprocess.Popen(
        ["npx", "hardhat", "node", "--hostname", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "hardhat.log").read_text()[-2000:]
            try:
                body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                if httpx.post(url, json=body, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Hardhat node did not start within 90 s"
            time.sleep(0.2)
        yield url
    finally:
        # npx runs the node as its child: stop the whole process group, not npx alone
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_deploy_and_vote_on_a_hardhat_node_by_configuration(
    hardhat_node: str, tmp_path: Path
) -> None:
    # Hardhat's default accounts come from the same public test mnemonic as anvil's
    settings = Settings(
        data_dir=tmp_path / "data",
        rpc_url=hardhat_node,
        deployer_key=dev_account(0).key.hex(),
        founders=[dev_account(i).address for i in (1, 2, 3)],
    )
    deployment = ensure_deployment(settings)
    assert deployment.chain_id == 31337
    assert settings.deployment_file.exists()
    assert ensure_deployment(settings) == deployment  # the record is reused, not redeployed

    ledger = connect_ledger(settings)
    owner, voter = dev_account(1), dev_account(2)
    model_id = ledger.register_model(owner, "on-hardhat")
    version_id = ledger.propose_version(owner, model_id, b"\x07" * 32)
    assert ledger.cast_vote(owner, version_id, Support.FOR) is State.PROPOSED
    assert ledger.cast_vote(voter, version_id, Support.FOR) is State.APPROVED
    ledger.move_alias(owner, model_id, "production", version_id)
    assert ledger.alias_of(model_id, "production") == version_id
    assert [e.name for e in ledger.votes(version_id)] == ["VoteCast", "VoteCast"]
