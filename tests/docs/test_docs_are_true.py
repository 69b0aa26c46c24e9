"""README and docs/ARCHITECTURE.md say only what exists: the versions the dependency table names
are the ones pinned, every setting the README lists is one the service reads, every path the
layout tables name is in the tree, and every operation the README's API table names is served."""

from __future__ import annotations

import json
import os
import re
import tomllib

import pytest

from service.config import PROJECT_ROOT, Settings

ARCHITECTURE = (PROJECT_ROOT / "docs" / "ARCHITECTURE.md").read_text()
README = (PROJECT_ROOT / "README.md").read_text()
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
PACKAGE = json.loads((PROJECT_ROOT / "package.json").read_text())


def _pin(name: str) -> str:
    """The version range pyproject gives a Python dependency."""
    deps = (
        PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]
    )
    for dep in deps:
        match = re.match(rf"{re.escape(name)}([<>=!~].*)", dep.split(";")[0].strip())
        if match:
            return match.group(1)
    raise AssertionError(f"{name} is not a dependency")


def _npm(name: str) -> str:
    for group in ("dependencies", "devDependencies", "optionalDependencies"):
        if name in PACKAGE.get(group, {}):
            return str(PACKAGE[group][name])
    raise AssertionError(f"{name} is not an npm dependency")


def _dependency_rows() -> dict[str, str]:
    table = ARCHITECTURE.split("## Dependencies and why", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("|")[1].strip(): line
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| dependency")
    }


def test_the_dependency_table_names_the_pinned_versions() -> None:
    rows = _dependency_rows()
    # the complaint: "web3.py 8" where the project pins 7
    web3 = next(k for k in rows if k.startswith("web3.py"))
    major = re.search(r"web3\.py (\d+)", web3)
    assert major is not None
    assert _pin("web3") == ">=7.16,<8" and major.group(1) == "7", web3
    assert any(k.startswith(f"solc {_npm('solc')} ") for k in rows), rows
    assert f"OpenZeppelin Contracts {_npm('@openzeppelin/contracts')}" in rows
    assert any(k.startswith(f"forge {_npm('@foundry-rs/forge-linux-amd64')}") for k in rows)
    assert any(k.startswith(f"anvil {_npm('@foundry-rs/anvil-linux-amd64')}") for k in rows)
    hardhat = ".".join(_npm("hardhat").split(".")[:2])
    assert f"Hardhat {hardhat}" in rows
    slither = re.match(r">=(\d+\.\d+)", _pin("slither-analyzer"))
    assert slither is not None and f"slither-analyzer {slither.group(1)}" in rows
    setup = (PROJECT_ROOT / "scripts" / "setup.sh").read_text()
    torch = re.search(r'"torch==(\d+\.\d+)\.\d+"', setup)
    assert torch is not None
    assert any(f"torch (CPU {torch.group(1)})" in k for k in rows)


def test_every_setting_the_readme_lists_is_read_by_the_service() -> None:
    listed = set(re.findall(r"`(GOVLEDGER_[A-Z_]+)`", README))
    listed.discard("GOVLEDGER_METADATA_QUOTA_")  # written as GOVLEDGER_METADATA_QUOTA_*
    fields = {f"GOVLEDGER_{name.upper()}" for name in Settings.model_fields}
    cli_only = {"GOVLEDGER_SERVICE_URL", "GOVLEDGER_KEY_NAME", "GOVLEDGER_PRIVATE_KEY",
                "GOVLEDGER_KEY_PASSWORD"}  # fmt: skip
    assert listed - fields - cli_only == set()


def _as_value(text: str) -> object:
    """A default as the README writes it: ``5``, ``2 GiB``, ``604800 (7 days)``, ``true``."""
    text = text.split(" (")[0].strip()
    units = {"GiB": 2**30, "MiB": 2**20, "KiB": 2**10}
    number, _, unit = text.partition(" ")
    if unit in units:
        return int(number) * units[unit]
    if text in ("true", "false"):
        return text == "true"
    return float(text) if "." in text else int(text)


def test_the_defaults_the_readme_gives_are_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """The complaint: the README said GOVLEDGER_DATA_DIR defaulted to ``./data`` where it is the
    repository's ``data/``, whatever the working directory."""
    for variable in [v for v in os.environ if v.startswith("GOVLEDGER_")]:
        monkeypatch.delenv(variable)
    monkeypatch.chdir(PROJECT_ROOT / "docs")
    settings = Settings()
    table = README.split("| `GOVLEDGER_DATA_DIR`", 1)[1].split("\n\n", 1)[0]
    rows = ["| `GOVLEDGER_DATA_DIR`" + table.split("\n", 1)[0], *table.split("\n")[1:]]
    checked = 0
    for row in rows:
        names_cell, default_cell = [c.strip() for c in row.split("|")[1:3]]
        names = re.findall(r"`GOVLEDGER_([A-Z_]+)`", names_cell)
        defaults = [d.strip() for d in default_cell.split(" / ")]
        for name, default in zip(names, defaults, strict=False):
            field = name.lower()
            if field == "data_dir":
                assert default == "the repository's `data/`"
                assert getattr(settings, field) == PROJECT_ROOT / "data"
            elif field == "rpc_url":
                assert default.startswith(f"`{getattr(settings, field)}`")
            elif re.match(r"^\d", default) or default in ("true", "false"):
                assert _as_value(default) == getattr(settings, field), (name, default)
            else:
                continue
            checked += 1
    assert checked >= 30, checked


def test_every_path_the_layout_tables_name_exists() -> None:
    named = set(re.findall(r"`((?:service|scripts|contracts|tests|docs)/[\w./-]*)`", README))
    named |= set(re.findall(r"\| `((?:service|scripts|contracts)/[\w./-]*)`", ARCHITECTURE))
    missing = [p for p in sorted(named) if not (PROJECT_ROOT / p.rstrip("/")).exists()]
    assert missing == []


def test_every_operation_the_readme_names_is_served() -> None:
    from service.main import create_app

    paths = create_app(Settings(data_dir=PROJECT_ROOT / "data")).openapi()["paths"]
    table = README.split("## The API in short", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(GET|POST|PUT|DELETE) (/[^` ?]+)", table))

    def shape(path: str) -> str:  # the README says {id} where the OpenAPI says {model_id}
        return re.sub(r"\{[^}]+\}", "{}", path)

    served = {(m.upper(), shape(p)) for p, ops in paths.items() for m in ops}
    concrete = {(m, shape(p)) for m, p in named if "…" not in p and "|" not in p and "[" not in p}
    assert concrete, named
    assert concrete - served == set()
