"""flwr lives in the Flower side's own virtualenv (``.venv-flower``), never in the service's: it
pins fastapi, starlette, uvicorn, typer, protobuf and packaging below what the service installs.
The service's modules import no Flower; the Flower virtualenv finds the checkout's code and
holds flwr with Ray and the project's own ranges of what the Flower code imports."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

from packaging.requirements import Requirement

from service.config import PROJECT_ROOT
from service.flower.venv import flower_program

# the only modules of the service that import flwr: they run in .venv-flower only
FLOWER_MODULES = {"service/flower/strategy.py", "service/flower/participant.py"}


def test_the_services_virtualenv_has_no_flwr_and_its_modules_import_none() -> None:
    assert importlib.util.find_spec("flwr") is None, sys.prefix
    importing = set()
    for path in sorted((PROJECT_ROOT / "service").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "flwr" or n.startswith("flwr.") for n in names):
                importing.add(str(path.relative_to(PROJECT_ROOT)))
    assert importing == FLOWER_MODULES
    # the rest of service.flower imports here, without flwr
    for name in ("deployment", "digits", "identity", "node", "records", "rounds", "venv"):
        assert importlib.import_module(f"service.flower.{name}")


def test_the_flower_virtualenv_runs_the_flower_code_with_the_projects_ranges() -> None:
    listed = subprocess.run(
        [sys.executable, "scripts/flower_requirements.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    wanted = [Requirement(line) for line in listed]
    assert [r.name for r in wanted][:2] == ["flwr", "web3"] and "fastapi" not in listed
    script = (
        "import sys, service, service.flower.strategy, service.flower.participant\n"
        "from importlib.metadata import version\n"
        "print(service.__file__)\n"
        "for name in sys.argv[1:]: print(name, version(name))\n"
    )
    done = subprocess.run(
        [str(flower_program("python")), "-c", script, "ray", *(r.name for r in wanted)],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(PROJECT_ROOT / "service" / "__init__.py")  # the checkout's code
    installed = dict(line.split(" ") for line in lines[1:])
    for requirement in wanted:
        assert requirement.specifier.contains(installed[requirement.name], prereleases=True), (
            requirement,
            installed[requirement.name],
        )
