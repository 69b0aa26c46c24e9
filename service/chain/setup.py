"""Bring up the chain side of the stack: the local anvil, the deployment, a connected Ledger."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import requests.adapters
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from service.chain.accounts import account_from_key, dev_account
from service.chain.compile import load_build
from service.chain.deploy import Deployment, deploy, verify_deployment
from service.chain.ledger import Ledger
from service.chain.node import LocalChain, NodeInfo, rpc_chain_id
from service.config import Settings
from service.errors import ChainError, ChainUnavailable

LOCAL_CHAIN_ID = 31337


class RpcProvider(HTTPProvider):
    """web3's HTTP provider, with a node that does not answer reported as ChainUnavailable:
    the reads the Ledger makes outside its Transactor (block numbers, block times, logs) then
    fail like its contract calls do, which the API maps to 503.

    Every request is bounded: connecting by 3 seconds, an answer by ``timeout_s``, and none is
    retried (web3's default retries 5 times with a 30-second timeout each: a hung node was
    reported after 152 seconds). The caller's caller retries, with a 503 telling it when.

    One pooled HTTP session serves every thread. It reads no proxy settings from the
    environment unless a ``*_PROXY`` variable is set: looking them up costs about a millisecond
    per request, a third of a loopback JSON-RPC round trip.
    """

    def __init__(self, endpoint_uri: str, *, timeout_s: float = 5.0) -> None:
        session = requests.Session()
        session.trust_env = any(k.lower().endswith("_proxy") for k in os.environ)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        super().__init__(
            endpoint_uri,
            session=session,
            request_kwargs={"timeout": (min(3.0, timeout_s), timeout_s)},
            exception_retry_configuration=None,
        )

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        try:
            return super().make_request(method, params)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ChainUnavailable(
                f"the chain node at {self.endpoint_uri} did not answer ({type(exc).__name__}); "
                "check that it runs and retry"
            ) from exc


def local_chain(settings: Settings) -> LocalChain:
    return LocalChain(
        chain_dir=settings.chain_state_file.parent,
        host=settings.chain_host,
        port=settings.chain_port,
        chain_id=settings.chain_id,
    )


def deployer_account(settings: Settings, chain_id: int) -> LocalAccount:
    """The key that deploys and relays: configured, or anvil's dev account 0 on a local chain."""
    if settings.deployer_key:
        return account_from_key(settings.deployer_key)
    if chain_id == LOCAL_CHAIN_ID:
        return dev_account(0)
    raise ChainError(
        f"chain {chain_id} is not the local chain; set GOVLEDGER_DEPLOYER_KEY to the key that "
        "deploys the contracts and pays for relayed actions"
    )


def founders(settings: Settings, chain_id: int) -> list[str]:
    if settings.founders:
        return settings.founders
    if chain_id == LOCAL_CHAIN_ID:
        return [dev_account(i).address for i in (1, 2, 3)]
    raise ChainError("set GOVLEDGER_FOUNDERS to a JSON list of the founding members' addresses")


def ensure_deployment(settings: Settings, *, force: bool = False) -> Deployment:
    """The verified deployment on ``settings.rpc_url``: the recorded one, or a new one if there
    is no record (or ``force``)."""
    chain_id = rpc_chain_id(settings.rpc_url)
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    build = load_build()
    if settings.deployment_file.exists() and not force:
        deployment = Deployment.load(settings.deployment_file)
        verify_deployment(w3=w3, deployment=deployment, build=build)
        return deployment
    deployment = deploy(
        w3=w3,
        deployer=deployer_account(settings, chain_id),
        build=build,
        founders=founders(settings, chain_id),
        quorum_bps=settings.quorum_bps,
        voting_period_s=settings.voting_period_s,
    )
    deployment.save(settings.deployment_file)
    return deployment


@dataclass(frozen=True, kw_only=True)
class ChainUp:
    node: NodeInfo
    deployment: Deployment


def chain_up(settings: Settings) -> ChainUp:
    """Start the local anvil (or find it running) and make sure the contracts are deployed."""
    node = local_chain(settings).start()
    return ChainUp(node=node, deployment=ensure_deployment(settings))


def connect_ledger(
    settings: Settings,
    *,
    relayer: LocalAccount | None = None,
    observer: Callable[[str, str, float], None] | None = None,
) -> Ledger:
    """A Ledger on the recorded, verified deployment at ``settings.rpc_url``."""
    chain_id = rpc_chain_id(settings.rpc_url, timeout=settings.chain_timeout_s)
    w3 = Web3(RpcProvider(settings.rpc_url, timeout_s=settings.chain_timeout_s))
    build = load_build()
    deployment = Deployment.load(settings.deployment_file)
    verify_deployment(w3=w3, deployment=deployment, build=build)
    return Ledger(
        w3=w3,
        deployment=deployment,
        build=build,
        relayer=relayer or deployer_account(settings, chain_id),
        signature_ttl_s=settings.signature_ttl_s,
        max_deadline_s=settings.max_deadline_s,
        receipt_timeout_s=settings.receipt_timeout_s,
        observer=observer,
    )
