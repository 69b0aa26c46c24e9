"""An indexer on the configured chain and deployment record: for the service (on its Ledger's
reader) and for ``govledger index`` (on a reader of its own, no relayer key needed)."""

from __future__ import annotations

from pathlib import Path

from eth_utils import to_checksum_address
from web3 import Web3

from service.chain.compile import load_build
from service.chain.deploy import Deployment
from service.chain.history import EventReader
from service.config import Settings
from service.index.follower import Indexer
from service.index.store import IndexFile

CONTRACTS = ("Consortium", "ModelRegistry", "FederatedRounds")


def indexer(
    settings: Settings,
    reader: EventReader,
    deployment: Deployment,
    *,
    file: Path | None = None,
    confirmations: int | None = None,
) -> Indexer:
    """An indexer of ``settings.index_file`` (or ``file``) behind the configured depth (or
    ``confirmations``)."""
    return Indexer(
        file=IndexFile(file or settings.index_file),
        reader=reader,
        chain_id=deployment.chain_id,
        registry=deployment.registry,
        deploy_block=deployment.deploy_block,
        confirmations=settings.index_confirmations if confirmations is None else confirmations,
    )


def standalone_indexer(
    settings: Settings, *, file: Path | None = None, confirmations: int | None = None
) -> Indexer:
    """An indexer reading the chain at ``settings.rpc_url`` with the recorded deployment."""
    from service.chain.setup import RpcProvider

    deployment = Deployment.load(settings.deployment_file)
    w3 = Web3(RpcProvider(settings.rpc_url, timeout_s=max(settings.chain_timeout_s, 30.0)))
    build = load_build()
    contracts = {
        name: w3.eth.contract(
            address=to_checksum_address(deployment.address_of(name)), abi=build[name].abi
        )
        for name in CONTRACTS
    }
    reader = EventReader(w3=w3, contracts=contracts, start_block=deployment.deploy_block)
    return indexer(settings, reader, deployment, file=file, confirmations=confirmations)
