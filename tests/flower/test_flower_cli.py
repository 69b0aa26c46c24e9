"""``govledger flower up`` / ``status`` / ``down`` as real subprocesses (the Flower processes must
outlive the command that started them), on a data dir of the test's own and free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from service.config import PROJECT_ROOT
from service.flower.deployment import descendants
from service.pids import pid_alive
from tests.stack import free_port


def govledger(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GOVLEDGER_")}
    environment.update(GOVLEDGER_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "service.cli.main", *args],
        cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


@pytest.mark.timeout(300)
def test_flower_up_status_down(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # nothing yet
    before = govledger(data, "flower", "status")
    assert before.returncode == 6 and "Flower is not running" in before.stdout
    # a malformed node config is refused before anything starts
    bad = govledger(data, "flower", "up", "--node", "partition-id=0 nonsense")
    assert bad.returncode == 2 and "is not key=value pairs" in bad.stderr
    assert not (data / "flower" / "flower.json").exists()

    port = free_port()
    nodes = [
        "partition-id=0 govledger-key-env='ORG_KEY_0'",
        "partition-id=1 govledger-poisoned=true",
    ]
    up = govledger(
        data, "--json", "flower", "up", "--port", str(port), "--node", nodes[0], "--node", nodes[1],
        ORG_KEY_0="0x" + "11" * 32,
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    started = as_json(up)["processes"]
    pids = [p["pid"] for p in started]
    try:
        assert [p["role"] for p in started] == ["superlink", "supernode-0", "supernode-1"]
        assert started[0]["port"] == port and all(p["running"] for p in started)
        assert started[1]["node_config"] == 'partition-id=0 govledger-key-env="ORG_KEY_0"'
        assert started[2]["node_config"] == "partition-id=1 govledger-poisoned=true"
        home = data / "flower"
        assert f'address = "127.0.0.1:{port}"' in (home / "config.toml").read_text()
        record = (home / "flower.json").read_text()
        assert [p["pid"] for p in json.loads(record)["processes"]] == pids
        assert "11" * 32 not in record  # the environment (keys) is not recorded
        # the processes outlived the command; a second up changes nothing
        again = govledger(data, "--json", "flower", "up", "--node", nodes[0])
        assert again.returncode == 0, again.stderr
        assert [p["pid"] for p in as_json(again)["processes"]] == pids
        # the SuperLink counts both SuperNodes online
        deadline, status = (
            time.monotonic() + 120,
            as_json(govledger(data, "--json", "flower", "status")),
        )
        while status["supernodes_online"] != 2 and time.monotonic() < deadline:
            time.sleep(2)
            status = as_json(govledger(data, "--json", "flower", "status"))
        assert status["running"] is True and status["supernodes_online"] == 2, status
        # another deployment cannot take a port in use
        taken = govledger(tmp_path / "other", "flower", "up", "--port", str(port))
        assert taken.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in taken.stderr
        assert not (tmp_path / "other" / "flower").exists()
        # a SuperNode that died: status says so and exits 6
        started_by_superlink = descendants(pids[0])  # its SuperExec
        assert started_by_superlink
        os.kill(pids[2], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pids[2]) and time.monotonic() < deadline:
            time.sleep(0.1)
        dead = govledger(data, "--json", "flower", "status")
        assert dead.returncode == 6
        assert [p["running"] for p in as_json(dead)["processes"]] == [True, True, False]
    finally:
        down = govledger(data, "--json", "flower", "down")
    assert down.returncode == 0, down.stderr
    assert [p["pid"] for p in as_json(down)["stopped"]] == pids[:2]
    for pid in [*pids, *started_by_superlink]:
        assert not pid_alive(pid), pid
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert not (data / "flower" / "flower.json").exists()
    assert govledger(data, "flower", "status").returncode == 6
    assert "Flower was not running" in govledger(data, "flower", "down").stdout
