"""What only the kubo adapter does: RPC details, retries, errors, distrust of the node.

These run against the loopback fake kubo of ``fake_kubo.py``: no kubo daemon can be installed
on these machines (its npm packages download the binary at install time, which the network
forbids), so a real HTTP server speaking kubo's documented RPC formats stands in for it. The
shared suite in ``test_store_suite.py`` also runs against a real node when IPFS_API_URL is set.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.errors import ContentNotFound, StoreError, StoreUnavailable
from service.store.cid import CHUNK_SIZE, CID, RAW
from service.store.kubo import KuboStore

from .fake_kubo import FakeKubo


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKubo]:
    server = FakeKubo(tmp_path / "kubo")
    yield server
    server.stop()


@pytest.fixture
def kubo(fake: FakeKubo) -> Iterator[KuboStore]:
    store = KuboStore(fake.url, timeout_s=30)
    yield store
    store.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_version_reads_the_node_version(kubo: KuboStore) -> None:
    assert kubo.version() == "0.39.0"


def test_an_unreachable_node_raises_store_unavailable_after_the_retries() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with KuboStore(url, connect_retries=2) as store, pytest.raises(StoreUnavailable) as caught:
        store.has("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    assert url in str(caught.value)
    assert "after 3 attempts" in str(caught.value)
    assert "GOVLEDGER_IPFS_API_URL" in str(caught.value)


def test_connection_errors_are_retried_then_the_call_goes_through(fake: FakeKubo) -> None:
    real = httpx.HTTPTransport()
    attempts = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        if len(attempts) <= 2:
            raise httpx.ConnectError("connection refused", request=request)
        return real.handle_request(request)

    with KuboStore(fake.url, connect_retries=3, transport=httpx.MockTransport(flaky)) as store:
        assert store.version() == "0.39.0"
    assert attempts == ["/api/v0/version"] * 3


def test_put_sends_kubos_cid_version_1_settings_and_checks_the_answer(
    fake: FakeKubo, kubo: KuboStore
) -> None:
    data = random.Random(1).randbytes(CHUNK_SIZE + 1)
    result = kubo.put(data)
    command, query = fake.requests[-1]
    assert command == "add"
    assert query["cid-version"] == "1" and query["raw-leaves"] == "true"
    assert query["chunker"] == "size-262144" and query["hash"] == "sha2-256"
    assert query["pin"] == "true"
    assert fake.store.get_bytes(result.cid) == data


def test_a_node_answering_with_another_cid_is_caught_and_its_pin_undone(
    fake: FakeKubo, kubo: KuboStore
) -> None:
    fake.lie_on_add = True
    with pytest.raises(StoreError, match="Import settings") as caught:
        kubo.put(b"some artifact")
    assert "bafkrei" in str(caught.value)
    lie = str(CID(RAW, bytes(32)))
    assert ("pin/rm", {"arg": lie, "recursive": "true"}) in fake.requests


def test_has_asks_the_node_offline_so_it_never_searches_the_network(
    fake: FakeKubo, kubo: KuboStore
) -> None:
    cid = kubo.put(b"local").cid
    assert kubo.has(cid)
    command, query = fake.requests[-1]
    assert command == "block/stat" and query["offline"] == "true"


def test_get_reads_the_file_with_cat_and_internal_nodes_with_block_get(
    fake: FakeKubo, kubo: KuboStore
) -> None:
    data = random.Random(2).randbytes(3 * CHUNK_SIZE)
    cid = kubo.put(data).cid
    fake.requests.clear()
    assert kubo.get_bytes(cid) == data
    assert [command for command, _ in fake.requests] == ["block/get", "cat"]


def test_an_endpoint_the_node_lacks_is_reported_as_not_a_kubo_api(
    fake: FakeKubo, kubo: KuboStore
) -> None:
    fake.disabled.add("version")
    with pytest.raises(StoreUnavailable, match="does not look like a kubo RPC API"):
        kubo.version()


def test_kubo_error_messages_map_to_store_errors(fake: FakeKubo, kubo: KuboStore) -> None:
    with pytest.raises(ContentNotFound, match="could not find"):
        kubo.pin("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
