"""Fixtures: one real anvil per test session, contracts deployed once, and a chain snapshot
reverted after every test so tests do not see each other's state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from service.chain.accounts import dev_accounts
from service.chain.compile import Build, load_build
from service.chain.deploy import Deployment, deploy
from service.chain.ledger import Ledger
from service.chain.node import LocalChain
from tests.stack import free_port

VOTING_PERIOD = 3600
QUORUM_BPS = 5001  # a majority: 2 of 3 founders


@pytest.fixture(scope="session")
def build() -> Build:
    return load_build()


@pytest.fixture(scope="session")
def accounts() -> list[LocalAccount]:
    """0: deployer/relayer, 1-3: founders, 4-9: outsiders."""
    return dev_accounts(10)


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalChain]:
    node = LocalChain(chain_dir=tmp_path_factory.mktemp("chain"), port=free_port())
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(chain: LocalChain) -> Web3:
    return Web3(Web3.HTTPProvider(chain.rpc_url))


@pytest.fixture(scope="session")
def deployment(w3: Web3, build: Build, accounts: list[LocalAccount]) -> Deployment:
    return deploy(
        w3=w3,
        deployer=accounts[0],
        build=build,
        founders=[a.address for a in accounts[1:4]],
        quorum_bps=QUORUM_BPS,
        voting_period_s=VOTING_PERIOD,
    )


@pytest.fixture(scope="session")
def session_ledger(w3: Web3, deployment: Deployment, build: Build, accounts) -> Ledger:
    return Ledger(w3=w3, deployment=deployment, build=build, relayer=accounts[0])


@pytest.fixture
def ledger(session_ledger: Ledger, w3: Web3) -> Iterator[Ledger]:
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    yield session_ledger
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    session_ledger.relayer._nonce = None  # the relayer's nonce went back with the chain
    for sender in session_ledger._senders.values():
        sender._nonce = None


@pytest.fixture
def owner(accounts) -> LocalAccount:
    return accounts[1]


@pytest.fixture
def members(accounts) -> list[LocalAccount]:
    return accounts[1:4]


@pytest.fixture
def outsider(accounts) -> LocalAccount:
    return accounts[5]


def increase_time(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def tmp_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
