"""Compilation is offline and reproducible: the same sources, compiler and settings give the
same bytecode, whether py-solc-x or Hardhat drives the pinned solc-js."""

from __future__ import annotations

import json
import subprocess

import pytest

from service.chain.compile import (
    DEPLOYED_CONTRACTS,
    compile_contracts,
    compiler_config,
    load_build,
)
from service.config import PROJECT_ROOT
from service.errors import CompilationError


def test_two_compilations_give_identical_bytecode() -> None:
    first, second = compile_contracts(), compile_contracts()
    assert set(DEPLOYED_CONTRACTS) <= set(first.contracts)
    for name in DEPLOYED_CONTRACTS:
        assert first[name].bytecode == second[name].bytecode
        assert first[name].deployed_bytecode == second[name].deployed_bytecode
        assert first[name].abi == second[name].abi


def test_compiler_is_the_pinned_version() -> None:
    version, settings = compiler_config()
    build = compile_contracts()
    assert build.compiler_version.startswith(version + "+commit.")
    assert settings["optimizer"] == {"enabled": True, "runs": 200}
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    assert package["dependencies"]["solc"] == version  # exact pin, no range


def test_hardhat_compiles_to_the_same_bytecode(tmp_path) -> None:
    result = subprocess.run(
        ["npx", "hardhat", "compile", "--force", "--quiet"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    build = compile_contracts()
    for name in DEPLOYED_CONTRACTS:
        artifact = json.loads(
            (
                PROJECT_ROOT
                / "build"
                / "hardhat-artifacts"
                / "contracts"
                / f"{name}.sol"
                / f"{name}.json"
            ).read_text()
        )
        assert artifact["bytecode"] == "0x" + build[name].bytecode.hex()
        assert artifact["deployedBytecode"] == "0x" + build[name].deployed_bytecode.hex()
        assert artifact["abi"] == build[name].abi


def test_contracts_fit_the_eip170_size_limit() -> None:
    for name, contract in load_build().contracts.items():
        assert len(contract.deployed_bytecode) <= 24_576, name


def test_the_registry_deploying_its_rounds_fits_the_eip3860_initcode_limit() -> None:
    """ModelRegistry's constructor deploys FederatedRounds, so the registry's creation code
    carries the rounds contract's: it must stay within the 49,152 bytes a creation may have
    (EIP-3860), while its runtime code does not grow by it."""
    build = load_build()
    registry, rounds = build["ModelRegistry"], build["FederatedRounds"]
    assert len(registry.bytecode) <= 49_152
    assert len(registry.bytecode) > len(rounds.bytecode)  # it embeds the rounds' creation code
    assert rounds.bytecode in registry.bytecode
    assert rounds.bytecode not in registry.deployed_bytecode
    assert len(rounds.deployed_bytecode) <= 24_576 and len(registry.deployed_bytecode) <= 24_576


def test_a_broken_source_gives_a_clear_error(tmp_path) -> None:
    broken = tmp_path / "contracts"
    broken.mkdir()
    (broken / "Broken.sol").write_text("pragma solidity 0.8.28; contract Broken { function f( }")
    with pytest.raises(CompilationError, match="ParserError"):
        compile_contracts(broken)
