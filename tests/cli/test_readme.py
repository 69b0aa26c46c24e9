"""Every ``govledger`` command in the README's shell blocks runs, as written, against a real
stack of its own: the CLI section in order from ``govledger up`` to ``govledger down`` (each
line a real process, as a user types it), and the "Another chain" deployment against a bare
anvil standing in for the consortium's chain."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from service.chain.accounts import dev_account
from service.chain.setup import local_chain
from service.config import PROJECT_ROOT, Settings
from tests.stack import free_port

README = PROJECT_ROOT / "README.md"
PASSWORD = "readme-example-password"


def shell_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Each ```sh block with the heading above it: its lines, continuations joined."""
    blocks = []
    heading = ""
    pattern = re.compile(r"^(#+ [^\n]*)$|^```sh\n(.*?)^```", flags=re.M | re.S)
    for match in pattern.finditer(text):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
            continue
        lines = match.group(2).replace("\\\n", " ").splitlines()
        blocks.append((heading, [line.strip() for line in lines if line.strip()]))
    return blocks


def govledger_commands(line: str) -> list[list[str]]:
    """The govledger commands of one line (``a ; b`` is two), as argv lists without the
    program name; comments dropped."""
    commands = []
    for part in line.split(" ; "):
        argv = shlex.split(part, comments=True)
        if argv and argv[0] in ("govledger", ".venv/bin/govledger"):
            commands.append(argv[1:])
    return commands


def readme_commands() -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for heading, lines in shell_blocks(README.read_text()):
        commands = [c for line in lines for c in govledger_commands(line)]
        if commands:
            found.setdefault(heading, []).extend(commands)
    return found


def run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli.main", *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVLEDGER_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.update(extra)
    return env


def test_the_readme_names_its_commands_where_this_test_finds_them() -> None:
    commands = readme_commands()
    assert set(commands) == {"The CLI in short", "Another chain"}, set(commands)
    first, last = commands["The CLI in short"][0], commands["The CLI in short"][-1]
    assert (first, last) == (["up"], ["down"])


@pytest.mark.slow
def test_the_cli_section_runs_as_written(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # the user's own files the section names
    generator = torch.Generator().manual_seed(7)
    state = {"fc.weight": torch.randn(10, 64, generator=generator), "fc.bias": torch.zeros(10)}
    torch.save(state, work / "checkpoint.pt")
    (work / "metrics.json").write_text(json.dumps({"metrics": {"test_accuracy": 0.9611}}))
    env = clean_env(
        GOVLEDGER_DATA_DIR=str(tmp_path / "data"),
        GOVLEDGER_CHAIN_PORT=str(free_port()),
        GOVLEDGER_SERVICE_PORT=str(free_port()),
        GOVLEDGER_KEY_PASSWORD=PASSWORD,
    )
    outputs: dict[str, str] = {}
    try:
        for argv in readme_commands()["The CLI in short"]:
            done = run(argv, cwd=work, env=env)
            assert done.returncode == 0, (argv, done.stdout, done.stderr)
            outputs[" ".join(argv)] = done.stdout
    finally:
        run(["down"], cwd=work, env=env)

    # what the lines did, checked on what they printed and wrote
    assert torch.equal(load_file(work / "model.safetensors")["fc.weight"], state["fc.weight"])
    assert (work / "downloaded.safetensors").read_bytes() == (
        work / "model.safetensors"
    ).read_bytes()
    assert "digits-mlp@1" in outputs["versions list digits-mlp"]
    assert "digits-mlp@1" in outputs["--dev-account 2 ballots --mine"]
    shown = outputs["versions show digits-mlp:production"]
    assert "MLP on sklearn digits" in shown and "0.9611" in shown and "approved" in shown
    assert "beats the baseline on site B" in outputs["votes list digits-mlp@1"]
    assert "digits-mlp@1" in outputs["versions search sklearn --tag stage=candidate"]
    models = json.loads(outputs["models list --json"])
    assert [m["name"] for m in models["items"]] == ["digits-mlp"]
    alice = json.loads((tmp_path / "data" / "keys" / "alice.json").read_text())["address"]
    assert alice.lower() in outputs["sessions list"].lower()
    assert (
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
        in outputs["--dev-account 2 models accept digits-mlp"]
    )


@pytest.mark.slow
def test_another_chain_deploys_as_written(tmp_path: Path) -> None:
    """The "Another chain" block: the deployer key, the founders and the RPC URL by
    environment, then `govledger chain deploy` (a bare anvil stands in for the remote chain)."""
    heading = "Another chain"
    block = next(lines for h, lines in shell_blocks(README.read_text()) if h == heading)
    exported = set(re.findall(r"\b(GOVLEDGER_[A-Z_]+)=", " ".join(block)))
    assert exported == {"GOVLEDGER_RPC_URL", "GOVLEDGER_DEPLOYER_KEY", "GOVLEDGER_FOUNDERS"}
    [deploy] = readme_commands()[heading]
    chain = Settings(data_dir=tmp_path / "remote", chain_port=free_port())
    local_chain(chain).start()
    try:
        env = clean_env(
            GOVLEDGER_DATA_DIR=str(tmp_path / "data"),
            GOVLEDGER_RPC_URL=chain.rpc_url,
            GOVLEDGER_DEPLOYER_KEY=dev_account(0).key.hex(),
            GOVLEDGER_FOUNDERS=json.dumps([dev_account(i).address for i in (1, 2, 3)]),
        )
        done = run(deploy, cwd=PROJECT_ROOT, env=env)
        assert done.returncode == 0, done.stderr
        record = json.loads((tmp_path / "data" / "deployment.json").read_text())
        assert record["founders"] == [dev_account(i).address for i in (1, 2, 3)]
    finally:
        local_chain(chain).stop()
