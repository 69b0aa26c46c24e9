"""What every check reads: the chain at one pinned block (web3, the deployment record, the
compiled ABIs), the contracts' events up to that block, and a content source.

Nothing here talks to the REST service: an auditor needs only an RPC URL, the deployment record
and the bytes (the embedded store's directory, or a kubo node).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3Exception

from service.chain.compile import Build, load_build
from service.chain.deploy import Deployment
from service.chain.history import EventReader
from service.chain.node import rpc_chain_id
from service.chain.setup import RpcProvider
from service.chain.types import Event
from service.errors import DeploymentError
from service.store.base import ContentStore

CONTRACTS = ("Consortium", "ModelRegistry", "FederatedRounds")


@dataclass(kw_only=True)
class AuditContext:
    """The chain read at ``block`` (every view call is pinned to it) and the content source."""

    w3: Web3
    deployment: Deployment
    build: Build
    contracts: dict[str, Contract]
    store: ContentStore
    block: int
    block_timestamp: int
    from_block: int
    events: list[Event]
    #: the time of ``from_block`` (a window that ended after it ended in scope)
    from_timestamp: int = 0
    _by_name: dict[str, list[Event]] = field(default_factory=dict)
    _by_tx: dict[str, list[Event]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_name: dict[str, list[Event]] = defaultdict(list)
        by_tx: dict[str, list[Event]] = defaultdict(list)
        for event in self.events:
            by_name[event.name].append(event)
            by_tx[event.transaction_hash].append(event)
        self._by_name, self._by_tx = dict(by_name), dict(by_tx)

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    def named(self, *names: str) -> list[Event]:
        """The events of these names, in chain order (all of them, from the deploy block)."""
        if len(names) == 1:
            return list(self._by_name.get(names[0], []))
        return [e for e in self.events if e.name in names]

    def in_scope(self, event: Event) -> bool:
        """Whether the record this event made is one the audit checks (``--from-block``)."""
        return event.block_number >= self.from_block

    def transactions(self) -> Iterator[tuple[str, list[Event]]]:
        """Each transaction that emitted events of the contracts, with them, in chain order."""
        yield from self._by_tx.items()

    def call(self, function: Any) -> Any:
        """A contract view call at the audit's block."""
        return function.call(block_identifier=self.block)

    def contract(self, name: str) -> Contract:
        return self.contracts[name]


def open_context(
    *,
    rpc_url: str,
    store: ContentStore,
    deployment_file: Path | None = None,
    registry: str | None = None,
    from_block: int | None = None,
    timeout_s: float = 10.0,
    build: Build | None = None,
    on_events: Callable[[int], None] | None = None,
) -> AuditContext:
    """Connect to ``rpc_url``, read the deployment record (or, given only the registry's
    address, find the deployment on chain: :func:`deployment_on_chain`) and every event of the
    contracts up to the latest block. ChainUnavailable if the node does not answer;
    DeploymentError if the record is missing, unreadable or for another chain."""
    chain_id = rpc_chain_id(rpc_url, timeout=timeout_s)
    w3 = Web3(RpcProvider(rpc_url, timeout_s=timeout_s))
    build = build or load_build()
    if registry is not None:
        deployment = deployment_on_chain(w3, registry, build)
    elif deployment_file is not None:
        deployment = Deployment.load(deployment_file)
    else:
        raise DeploymentError("give the deployment record or the registry's address")
    if chain_id != deployment.chain_id:
        raise DeploymentError(
            f"{deployment_file or registry} is a deployment on chain {deployment.chain_id}, "
            f"but the node at {rpc_url} is chain {chain_id}; give the RPC URL of that chain"
        )
    if not deployment.rounds:
        raise DeploymentError(
            f"{deployment_file or registry} names no FederatedRounds contract: it predates "
            "federated rounds"
        )
    contracts = {
        name: w3.eth.contract(
            address=to_checksum_address(deployment.address_of(name)), abi=build[name].abi
        )
        for name in CONTRACTS
    }
    latest = w3.eth.get_block("latest")
    block = int(latest["number"])
    reader = EventReader(w3=w3, contracts=contracts, start_block=deployment.deploy_block)
    events: list[Event] = []
    for event in reader.events(to_block=block, with_timestamps=False):
        events.append(event)
        if on_events is not None and len(events) % 500 == 0:
            on_events(len(events))
    start = deployment.deploy_block if from_block is None else from_block
    from_timestamp = (
        int(w3.eth.get_block(start)["timestamp"]) if start <= block else int(latest["timestamp"])
    )
    return AuditContext(
        w3=w3,
        deployment=deployment,
        build=build,
        contracts=contracts,
        store=store,
        block=block,
        block_timestamp=int(latest["timestamp"]),
        from_block=start,
        events=events,
        from_timestamp=from_timestamp,
    )


def deployment_on_chain(w3: Web3, registry: str, build: Build) -> Deployment:
    """The deployment a registry address implies, for an auditor without the record: the
    consortium and rounds contracts the registry names, and the deploy block as the first block
    at which the consortium (deployed first) has code, found by bisection (the node must answer
    for past blocks, as an archive node does). The compiler is this checkout's, which the code
    check then compares the chain's code with."""
    try:
        address = to_checksum_address(registry)
    except ValueError as exc:
        raise DeploymentError(f"{registry!r} is not an address") from exc
    latest = int(w3.eth.block_number)
    if not w3.eth.get_code(address, block_identifier=latest):
        raise DeploymentError(f"no contract at {address} on this chain: not a registry")
    contract = w3.eth.contract(address=address, abi=build["ModelRegistry"].abi)
    try:
        consortium = str(contract.functions.consortium().call(block_identifier=latest))
        rounds = str(contract.functions.rounds().call(block_identifier=latest))
    except Web3Exception as exc:
        raise DeploymentError(f"{address} does not answer as a ModelRegistry ({exc!r})") from exc
    low, high = 0, latest  # the first block with the consortium's code lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        if w3.eth.get_code(to_checksum_address(consortium), block_identifier=middle):
            high = middle
        else:
            low = middle + 1
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        consortium=consortium,
        registry=address,
        rounds=rounds,
        deploy_block=low,
        deployer="",
        compiler_version=build.compiler_version,
        settings=build.settings,
        founders=[],
        quorum_bps=0,  # the constructor's events say it
        voting_period_s=0,
    )
