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
    deployment_file: Path,
    store: ContentStore,
    from_block: int | None = None,
    timeout_s: float = 10.0,
    build: Build | None = None,
    on_events: Callable[[int], None] | None = None,
) -> AuditContext:
    """Connect to ``rpc_url``, read the deployment record and every event of the contracts up
    to the latest block. ChainUnavailable if the node does not answer; DeploymentError if the
    record is missing, unreadable or for another chain."""
    deployment = Deployment.load(deployment_file)
    chain_id = rpc_chain_id(rpc_url, timeout=timeout_s)
    if chain_id != deployment.chain_id:
        raise DeploymentError(
            f"{deployment_file} records a deployment on chain {deployment.chain_id}, but the "
            f"node at {rpc_url} is chain {chain_id}; give the RPC URL of that chain"
        )
    if not deployment.rounds:
        raise DeploymentError(
            f"{deployment_file} names no FederatedRounds contract: it predates federated rounds"
        )
    w3 = Web3(RpcProvider(rpc_url, timeout_s=timeout_s))
    build = build or load_build()
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
