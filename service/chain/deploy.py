"""Deploy the contracts once and keep a deployment record that later starts can check.

The record (``<data>/deployment.json``) holds the chain id, the addresses, the deploy block, the
compiler version and settings, and for each contract the keccak256 of the compiled runtime code
and of the code found on chain. ``FederatedRounds`` is deployed by ModelRegistry's constructor
(in the registry's transaction); its address is the one the registry reports (``rounds()``).
Reuse checks that the chain still has that code and that it is the code the current sources
compile to (immutables aside), so a reset chain or edited contracts are caught with a clear
message instead of odd reverts later.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.types import BlockIdentifier

from service.chain.compile import Build
from service.chain.reverts import RevertDecoder
from service.chain.transactor import Transactor
from service.errors import DeploymentError


@dataclass(frozen=True, kw_only=True)
class Deployment:
    chain_id: int
    consortium: str
    registry: str
    deploy_block: int
    deployer: str
    compiler_version: str
    settings: dict[str, Any]
    founders: list[str]
    quorum_bps: int
    voting_period_s: int
    code_hashes: dict[str, str] = field(default_factory=dict)  # on-chain runtime code
    build_hashes: dict[str, str] = field(default_factory=dict)  # compiled runtime code
    transactions: dict[str, str] = field(default_factory=dict)
    deployed_at: int = 0
    rounds: str = ""  # FederatedRounds, deployed by the registry; "" in a record that predates it

    def address_of(self, contract: str) -> str:
        return {
            "Consortium": self.consortium,
            "ModelRegistry": self.registry,
            "FederatedRounds": self.rounds,
        }[contract]

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise DeploymentError(
                f"no deployment record at {path}; deploy with `govledger up` "
                "(local) or `govledger chain deploy`"
            ) from None
        except (ValueError, TypeError) as exc:
            raise DeploymentError(f"{path} is not a deployment record ({exc})") from exc


def deploy(
    *,
    w3: Web3,
    deployer: LocalAccount,
    build: Build,
    founders: list[str],
    quorum_bps: int,
    voting_period_s: int,
) -> Deployment:
    """Deploy Consortium and ModelRegistry; return their record (not yet saved)."""
    if not founders:
        raise DeploymentError("a consortium needs at least one founding member")
    decoder = RevertDecoder([c.abi for c in build.contracts.values()])
    tx = Transactor(w3=w3, account=deployer, decoder=decoder)
    founders = [to_checksum_address(f) for f in founders]

    consortium_c = build["Consortium"]
    factory = w3.eth.contract(abi=consortium_c.abi, bytecode=consortium_c.bytecode)
    receipt_c = tx.transact(factory.constructor(founders, quorum_bps, voting_period_s))
    consortium = receipt_c["contractAddress"]

    registry_c = build["ModelRegistry"]
    factory = w3.eth.contract(abi=registry_c.abi, bytecode=registry_c.bytecode)
    receipt_r = tx.transact(factory.constructor(consortium))
    registry = receipt_r["contractAddress"]
    # the registry's constructor deployed its rounds contract
    rounds = w3.eth.contract(address=registry, abi=registry_c.abi).functions.rounds().call()
    rounds_c = build["FederatedRounds"]

    deployment = Deployment(
        chain_id=tx.chain_id,
        consortium=str(consortium),
        registry=str(registry),
        rounds=str(rounds),
        deploy_block=int(receipt_c["blockNumber"]),
        deployer=deployer.address,
        compiler_version=build.compiler_version,
        settings=build.settings,
        founders=founders,
        quorum_bps=quorum_bps,
        voting_period_s=voting_period_s,
        code_hashes={
            "Consortium": _code_hash(w3, str(consortium)),
            "ModelRegistry": _code_hash(w3, str(registry)),
            "FederatedRounds": _code_hash(w3, str(rounds)),
        },
        build_hashes={
            "Consortium": consortium_c.deployed_bytecode_hash,
            "ModelRegistry": registry_c.deployed_bytecode_hash,
            "FederatedRounds": rounds_c.deployed_bytecode_hash,
        },
        transactions={
            "Consortium": receipt_c["transactionHash"].to_0x_hex(),
            "ModelRegistry": receipt_r["transactionHash"].to_0x_hex(),
            "FederatedRounds": receipt_r["transactionHash"].to_0x_hex(),  # the registry's
        },
        deployed_at=int(time.time()),
    )
    verify_deployment(w3=w3, deployment=deployment, build=build)
    return deployment


def verify_deployment(*, w3: Web3, deployment: Deployment, build: Build) -> None:
    """Raise DeploymentError unless the chain runs exactly the compiled contracts at the record's
    addresses (immutables aside)."""
    chain_id = int(w3.eth.chain_id)
    if chain_id != deployment.chain_id:
        raise DeploymentError(
            f"the deployment record is for chain {deployment.chain_id} but the node at the RPC "
            f"URL is chain {chain_id}; point GOVLEDGER_RPC_URL at the right chain or redeploy"
        )
    if not deployment.rounds:
        raise DeploymentError(
            "the deployment record names no FederatedRounds contract: it predates federated "
            "rounds; redeploy with `govledger chain deploy --force`"
        )
    for name in ("Consortium", "ModelRegistry", "FederatedRounds"):
        problem = code_mismatch(w3=w3, deployment=deployment, build=build, contract=name)
        if problem == "missing":
            raise DeploymentError(
                f"no {name} contract at {deployment.address_of(name)} on chain {chain_id}: the "
                "chain was reset since the deployment; redeploy with "
                "`govledger chain deploy --force`"
            )
        if problem is not None:
            raise DeploymentError(
                f"the {name} code at {deployment.address_of(name)} is not what the current "
                "sources compile to: the contracts changed since the deployment; redeploy with "
                "`govledger chain deploy --force` or check out the deployed sources"
            )
    registry = w3.eth.contract(
        address=to_checksum_address(deployment.registry), abi=build["ModelRegistry"].abi
    )
    reported = str(registry.functions.rounds().call())
    if reported != to_checksum_address(deployment.rounds):
        raise DeploymentError(
            f"the registry at {deployment.registry} runs its rounds at {reported}, not at "
            f"{deployment.rounds} as the deployment record says; redeploy with "
            "`govledger chain deploy --force`"
        )


def code_mismatch(
    *,
    w3: Web3,
    deployment: Deployment,
    build: Build,
    contract: str,
    block: BlockIdentifier = "latest",
) -> str | None:
    """None if the runtime code at ``contract``'s recorded address (at ``block``) is what
    ``build`` compiles it to, immutables aside; else ``"missing"`` (no code there) or
    ``"differs"``. The one comparison of deployed code with the sources (the start-up check
    above and ``govledger audit`` use it)."""
    address = to_checksum_address(deployment.address_of(contract))
    code = bytes(w3.eth.get_code(address, block_identifier=block))
    if not code:
        return "missing"
    return None if build[contract].matches_runtime_code(code) else "differs"


def _code_hash(w3: Web3, address: str) -> str:
    return "0x" + keccak(bytes(w3.eth.get_code(to_checksum_address(address)))).hex()
