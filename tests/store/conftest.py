"""Backends for the shared content store suite.

Every test that takes ``backend`` runs against each backend that can run here: the embedded
store, the kubo adapter against the loopback fake kubo (see ``fake_kubo.py`` for why it is not a
real node), and the kubo adapter against a real node when ``IPFS_API_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.store.base import ContentStore
from service.store.cid import CID
from service.store.embedded import EmbeddedStore
from service.store.kubo import KuboStore

from .fake_kubo import FakeKubo


@dataclass
class Backend:
    """A store under test, and how to flip a byte of one of its blocks (None if it cannot)."""

    name: str
    store: ContentStore
    corrupt: Callable[[CID], None] | None


def flip_byte(path: Path, offset: int = 0) -> None:
    """Flip one bit of the byte at ``offset`` of a (read-only) block file, in place."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


BACKENDS = ["embedded", "kubo-fake"] + (["kubo-real"] if os.environ.get("IPFS_API_URL") else [])


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "embedded":
        store = EmbeddedStore(tmp_path / "store")
        yield Backend("embedded", store, lambda cid: flip_byte(store._fs.path(cid.digest)))
    elif request.param == "kubo-fake":
        fake = FakeKubo(tmp_path / "fake-kubo")
        kubo = KuboStore(fake.url, timeout_s=30)
        try:
            yield Backend("kubo-fake", kubo, lambda cid: flip_byte(fake.block_path(cid)))
        finally:
            kubo.close()
            fake.stop()
    else:
        kubo = KuboStore(os.environ["IPFS_API_URL"], timeout_s=120)
        try:
            yield Backend("kubo-real", kubo, None)
        finally:
            kubo.close()


@pytest.fixture
def embedded(tmp_path: Path) -> EmbeddedStore:
    """A second, independent embedded store (a source of CARs for the backend under test)."""
    return EmbeddedStore(tmp_path / "source-store")
