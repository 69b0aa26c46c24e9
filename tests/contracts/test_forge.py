"""The forge fuzz and invariant tests (contracts/test/) pass, with the run counts foundry.toml
asks for, compiled by the same pinned solc-js and settings as the deployed contracts.

Runs the real ``forge test`` (npm ``@foundry-rs/forge-linux-amd64``, offline) and reads its JSON
report; a failing forge test fails this test with forge's reason."""

from __future__ import annotations

import json
import subprocess
import tomllib
from typing import Any

import pytest

from service.chain.compile import compiler_config
from service.config import PROJECT_ROOT

FORGE = PROJECT_ROOT / "node_modules" / ".bin" / "forge"
FOUNDRY_TOML = PROJECT_ROOT / "foundry.toml"

#: the invariants the ledger promises (contracts/test/invariant/Ledger.invariants.t.sol)
INVARIANTS = {
    "invariant_RoundStatesOnlyMoveAlongTheirLifecycle()",
    "invariant_EachUpdateIsAContributorsOnlyOneWithinTheMaximum()",
    "invariant_AFinalizedRoundsAggregateIsAnAggregateOfItsBase()",
    "invariant_StatesOnlyMoveFromProposedToApprovedOrRejected()",
    "invariant_AnAliasNamesAnApprovedVersionOfItsOwnModel()",
    "invariant_AParentIsAnApprovedVersionOfTheSameModel()",
    "invariant_VotesCastNeverExceedTheEligibleVoters()",
    "invariant_NoncesCountExactlyTheAcceptedSignedActions()",
    "invariant_TheConsortiumIsNeverEmptyAndItsParametersStayInBounds()",
    "invariant_TheOwnerAlwaysHoldsEveryRight()",
}


def foundry_config() -> dict[str, Any]:
    return tomllib.loads(FOUNDRY_TOML.read_text())


@pytest.fixture(scope="module")
def forge_report() -> dict[str, Any]:
    result = subprocess.run(
        [str(FORGE), "test", "--json"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"forge test wrote no JSON report (exit {result.returncode}):\n{result.stderr}")
    return report


def test_every_forge_test_passes(forge_report: dict[str, Any]) -> None:
    results = {
        f"{suite.split(':')[-1]}.{name}": test
        for suite, body in forge_report.items()
        for name, test in body["test_results"].items()
    }
    failed = {name: t.get("reason") for name, t in results.items() if t["status"] != "Success"}
    assert failed == {}
    assert len(results) >= 44


def test_fuzz_and_invariant_campaigns_run_as_configured(forge_report: dict[str, Any]) -> None:
    config = foundry_config()
    fuzz_runs = config["fuzz"]["runs"]
    invariant_calls = config["invariant"]["runs"] * config["invariant"]["depth"]
    assert fuzz_runs >= 256 and invariant_calls >= 2_000

    invariants: dict[str, dict[str, Any]] = {}
    fuzzed = 0
    for body in forge_report.values():
        for name, test in body["test_results"].items():
            kind = test["kind"]
            if "Fuzz" in kind:
                fuzzed += 1
                assert kind["Fuzz"]["runs"] == fuzz_runs, name
            elif "Invariant" in kind:
                invariants[name] = kind["Invariant"]
    assert fuzzed >= 29
    assert set(invariants) == INVARIANTS
    for name, campaign in invariants.items():
        assert campaign["calls"] == invariant_calls, name
        assert campaign["reverts"] == 0, name  # the handler catches every refused action
        # every action of both handlers was called: 15 of the ledger's, 9 of its rounds'
        assert len(campaign["metrics"]) == 15 + 9, sorted(campaign["metrics"])


def test_forge_compiles_with_the_settings_of_the_deployed_contracts() -> None:
    version, settings = compiler_config()
    profile = foundry_config()["profile"]["default"]
    assert profile["solc"] == "scripts/solcjs-standard-json.cjs"  # the pinned solc-js
    assert profile["auto_detect_solc"] is False and profile["offline"] is True
    assert profile["evm_version"] == settings["evmVersion"]
    assert profile["optimizer"] is settings["optimizer"]["enabled"]
    assert profile["optimizer_runs"] == settings["optimizer"]["runs"]
    assert profile["via_ir"] is settings["viaIR"]
    assert profile["bytecode_hash"] == settings["metadata"]["bytecodeHash"]
    out = subprocess.run(
        [str(PROJECT_ROOT / profile["solc"]), "--version"], capture_output=True, text=True
    ).stdout
    assert f"Version: {version}+commit." in out


def test_forge_is_pinned_exactly() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    pinned = package["devDependencies"]["@foundry-rs/forge-linux-amd64"]
    assert pinned[0].isdigit()  # an exact version, no range
    locked = lock["packages"]["node_modules/@foundry-rs/forge-linux-amd64"]
    assert locked["version"] == pinned and locked["integrity"].startswith("sha512-")
    version = subprocess.run([str(FORGE), "--version"], capture_output=True, text=True).stdout
    assert f"forge Version: {pinned}" in version
