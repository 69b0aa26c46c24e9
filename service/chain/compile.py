"""Compile the Solidity contracts offline and reproducibly.

py-solc-x drives ``scripts/solcjs-standard-json.cjs``, a ``solc``-compatible executable backed by
the pinned solc-js (native solc cannot be downloaded on these machines). The compiler version and
settings live in ``contracts/solc-settings.json``, which ``hardhat.config.js`` reads as well, so a
Hardhat compilation of the same sources yields the same bytecode.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from eth_utils import keccak

from service.config import PROJECT_ROOT
from service.errors import CompilationError

CONTRACTS_DIR = PROJECT_ROOT / "contracts"
SETTINGS_FILE = CONTRACTS_DIR / "solc-settings.json"
SOLC_WRAPPER = PROJECT_ROOT / "scripts" / "solcjs-standard-json.cjs"
BUILD_FILE = PROJECT_ROOT / "build" / "contracts.json"

#: The contracts that get deployed (FederatedRounds by ModelRegistry's constructor); everything
#: else under contracts/ is a dependency of these or a test double.
DEPLOYED_CONTRACTS = ("Consortium", "ModelRegistry", "FederatedRounds")


@dataclass(frozen=True, kw_only=True)
class CompiledContract:
    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    #: (offset, length) of each immutable in the runtime code, zero in deployed_bytecode
    immutable_ranges: tuple[tuple[int, int], ...] = ()

    def matches_runtime_code(self, code: bytes) -> bool:
        """Whether on-chain runtime ``code`` is this contract's, immutables aside."""
        if len(code) != len(self.deployed_bytecode):
            return False
        masked = bytearray(code)
        for start, length in self.immutable_ranges:
            masked[start : start + length] = bytes(length)
        return bytes(masked) == self.deployed_bytecode

    @property
    def deployed_bytecode_hash(self) -> str:
        """keccak256 of the runtime code, as ``eth_getCode`` returns it once deployed."""
        return "0x" + keccak(self.deployed_bytecode).hex()


@dataclass(frozen=True, kw_only=True)
class Build:
    compiler_version: str
    settings: dict[str, Any]
    contracts: dict[str, CompiledContract]

    def __getitem__(self, name: str) -> CompiledContract:
        return self.contracts[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "compilerVersion": self.compiler_version,
            "settings": self.settings,
            "contracts": {
                name: {
                    "source": c.source,
                    "abi": c.abi,
                    "bytecode": "0x" + c.bytecode.hex(),
                    "deployedBytecode": "0x" + c.deployed_bytecode.hex(),
                    "immutableRanges": [list(r) for r in c.immutable_ranges],
                }
                for name, c in sorted(self.contracts.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Build:
        return cls(
            compiler_version=data["compilerVersion"],
            settings=data["settings"],
            contracts={
                name: CompiledContract(
                    name=name,
                    source=c["source"],
                    abi=c["abi"],
                    bytecode=bytes.fromhex(c["bytecode"][2:]),
                    deployed_bytecode=bytes.fromhex(c["deployedBytecode"][2:]),
                    immutable_ranges=tuple(tuple(r) for r in c.get("immutableRanges", [])),
                )
                for name, c in data["contracts"].items()
            },
        )


def compiler_config() -> tuple[str, dict[str, Any]]:
    """The pinned compiler version and settings shared with hardhat.config.js."""
    config = json.loads(SETTINGS_FILE.read_text())
    return config["compilerVersion"], config["settings"]


#: forge's fuzz and invariant tests: compiled by forge only (foundry.toml), as Hardhat skips them
FORGE_TESTS_DIR = "test"


def source_files(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """The contracts and mocks under ``contracts_dir``, without forge's tests."""
    return sorted(
        p
        for p in contracts_dir.rglob("*.sol")
        if p.relative_to(contracts_dir).parts[0] != FORGE_TESTS_DIR
    )


def standard_json_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """Standard JSON input with the project's sources under their Hardhat source unit names."""
    _, settings = compiler_config()
    sources = {
        path.relative_to(contracts_dir.parent).as_posix(): {"content": path.read_text()}
        for path in source_files(contracts_dir)
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            **settings,
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                    ]
                }
            },
        },
    }


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> Build:
    """Compile every contract under ``contracts_dir``; raises CompilationError on any error."""
    version, settings = compiler_config()
    if not SOLC_WRAPPER.exists():
        raise CompilationError(f"{SOLC_WRAPPER} is missing; restore it from the repository")
    try:
        output = solcx.compile_standard(
            standard_json_input(contracts_dir),
            solc_binary=SOLC_WRAPPER,
            allow_empty=False,
        )
    except solcx.exceptions.SolcError as exc:
        raise CompilationError(
            _solc_messages(exc.stdout_data or "") or f"solc failed: {exc}"
        ) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        details = "\n".join(e.get("formattedMessage", e.get("message", "?")) for e in errors)
        raise CompilationError(f"the contracts do not compile:\n{details}")
    long_version = _long_version()
    if not long_version.startswith(version + "+"):
        raise CompilationError(
            f"solc-js reports {long_version}, but contracts/solc-settings.json pins {version}; "
            "run `npm ci` to install the pinned compiler"
        )
    contracts: dict[str, CompiledContract] = {}
    for source, by_name in output["contracts"].items():
        for name, data in by_name.items():
            bytecode = data["evm"]["bytecode"]["object"]
            # only the project's deployable contracts: no interfaces, no internal libraries
            if not source.startswith("contracts/") or not bytecode or not data["abi"]:
                continue
            immutables = data["evm"]["deployedBytecode"].get("immutableReferences", {})
            contracts[name] = CompiledContract(
                name=name,
                source=source,
                abi=data["abi"],
                bytecode=bytes.fromhex(bytecode),
                deployed_bytecode=bytes.fromhex(data["evm"]["deployedBytecode"]["object"]),
                immutable_ranges=tuple(
                    sorted((r["start"], r["length"]) for refs in immutables.values() for r in refs)
                ),
            )
    return Build(compiler_version=long_version, settings=settings, contracts=contracts)


def _solc_messages(stdout: str) -> str:
    try:
        errors = json.loads(stdout).get("errors", [])
    except ValueError:
        return ""
    details = "\n".join(
        e.get("formattedMessage", "") for e in errors if e.get("severity") == "error"
    )
    return f"the contracts do not compile:\n{details}" if details else ""


def _long_version() -> str:
    import subprocess

    out = subprocess.run(
        [str(SOLC_WRAPPER), "--version"], check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"Version: (\S+)", out)
    if not match:
        raise CompilationError(f"cannot read the compiler version from {out!r}")
    return match.group(1)


def write_build(build: Build, path: Path = BUILD_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(build.to_json(), indent=1, sort_keys=True))
    tmp.replace(path)
    return path


def load_build(path: Path = BUILD_FILE, *, rebuild_if_stale: bool = True) -> Build:
    """The build in ``path``; compiled afresh when missing or older than any source."""
    if rebuild_if_stale:
        newest_source = max(p.stat().st_mtime for p in [*source_files(), SETTINGS_FILE])
        if not path.exists() or path.stat().st_mtime < newest_source:
            build = compile_contracts()
            write_build(build, path)
            return build
    return Build.from_json(json.loads(path.read_text()))
