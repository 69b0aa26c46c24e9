"""Helpers for the event index's tests: indexers on a stack's chain with index files of the
test's own, a Ledger to ask the chain directly, and what the chain itself says (one getLogs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.chain.deploy import Deployment
from service.chain.history import EventReader
from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.devseed import Call, Seeder, random_digest
from service.index.follower import Indexer
from service.index.opening import standalone_indexer
from service.index.store import IndexFile
from tests.api.conftest import FOUNDERS, api, private_stack  # noqa: F401 - fixtures
from tests.stack import Stack


def make_indexer(
    stack: Stack, path: Path, *, page_blocks: int | None = None, confirmations: int = 0
) -> Indexer:
    """An indexer of the stack's chain writing ``path`` (not the service's own file)."""
    indexer = standalone_indexer(stack.settings, file=path, confirmations=confirmations)
    if page_blocks is not None:
        indexer.reader.page_blocks = page_blocks
    return indexer


def chain_logs(reader: EventReader) -> list[tuple[int, int, str, str, str]]:
    """What eth_getLogs says of the three contracts from the deploy block: the index's rows."""
    latest = int(reader.w3.eth.block_number)
    logs = reader.w3.eth.get_logs(
        {
            "address": [c.address for c in reader.contracts.values()],
            "fromBlock": reader.start_block,
            "toBlock": latest,
        }
    )
    return [
        (
            int(entry["blockNumber"]),
            int(entry["logIndex"]),
            entry["blockHash"].to_0x_hex(),
            ",".join(t.to_0x_hex() for t in entry["topics"]),
            entry["data"].to_0x_hex(),
        )
        for entry in logs
    ]


def assert_index_is_the_chain(index: IndexFile, ledger: Ledger, reader: EventReader) -> None:
    """Every log, every model's fields and every model's version ids as the chain has them."""
    assert index.all_logs() == chain_logs(reader)
    models = {m.model_id: m for m in index.models(name=None, owner=None)}
    count = ledger.model_count()
    assert sorted(models) == list(range(1, count + 1))
    for model_id in range(1, count + 1):
        assert models[model_id] == ledger.model(model_id), model_id
        assert index.version_ids(model_id) == ledger.version_ids_of(model_id), model_id


def seed_models(stack: Stack, names: list[str], *, versions_each: int = 1) -> None:
    """Models registered by founder 1 (plain calls, not through the service) with versions."""
    deployment = Deployment.load(stack.settings.deployment_file)
    seeder = Seeder(rpc_url=stack.settings.rpc_url, deployment=deployment, per_block=4)
    owner = FOUNDERS[0]
    try:
        first = int(seeder.contracts["ModelRegistry"].functions.modelCount().call()) + 1
        seeder.send(
            [
                Call(
                    sender=owner,
                    contract="ModelRegistry",
                    function="registerModel",
                    args=[name, random_digest(), False],
                )
                for name in names
            ]
        )
        seeder.send(
            [
                Call(
                    sender=owner,
                    contract="ModelRegistry",
                    function="proposeVersion",
                    args=[model_id, 0, 0, random_digest(), bytes(32)],
                )
                for model_id in range(first, first + len(names))
                for _ in range(versions_each)
            ]
        )
    finally:
        seeder.close()


@pytest.fixture
def ledger(stack: Stack) -> Iterator[Ledger]:
    yield connect_ledger(stack.settings)
