"""The adapters the use cases run on, built once per process and reconnected when lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from service.chain.ledger import Ledger
from service.config import Settings
from service.errors import (
    ChainUnavailable,
    DeploymentError,
    LedgerError,
    ServiceUnavailable,
    StoreError,
)
from service.store.base import ContentStore


@dataclass(frozen=True, kw_only=True)
class Readiness:
    chain: str
    store: str
    contracts: str

    @property
    def ready(self) -> bool:
        return self.chain == self.store == self.contracts == "ok"


def readiness(backends: Backends) -> Readiness:
    """Whether the chain answers, the contracts are at the recorded addresses and the store
    answers; each part says "ok" or what is wrong."""
    chain = store = contracts = "ok"
    try:
        ledger = backends.ledger
        ledger.block_number()
        if not ledger.contracts_deployed():
            contracts = "no contract code at the recorded addresses: the chain was reset?"
    except LedgerError as exc:
        chain = contracts = str(exc)
    except Exception as exc:  # the node went away after connecting
        chain = f"the chain does not answer: {type(exc).__name__}"
    try:
        backends.store.pins()
    except Exception as exc:
        store = str(exc) or type(exc).__name__
    return Readiness(chain=chain, store=store, contracts=contracts)


class Backends:
    """Lazily connected chain and store adapters.

    The service starts even when the chain or the store is down; requests that need them get a
    503 until they come back, and the adapter is built on the first request that finds them up.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ledger_factory: Callable[[Settings], Ledger] | None = None,
        store_factory: Callable[[Settings], ContentStore] | None = None,
    ) -> None:
        self.settings = settings
        self._ledger_factory = ledger_factory or _connect_ledger
        self._store_factory = store_factory or _open_store
        self._ledger: Ledger | None = None
        self._store: ContentStore | None = None
        self._lock = threading.Lock()

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            with self._lock:
                if self._ledger is None:
                    try:
                        self._ledger = self._ledger_factory(self.settings)
                    except (ChainUnavailable, DeploymentError):
                        raise
                    except OSError as exc:
                        raise ChainUnavailable(
                            f"cannot reach the chain at {self.settings.rpc_url}: {exc}"
                        ) from exc
        return self._ledger

    @property
    def store(self) -> ContentStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    try:
                        self._store = self._store_factory(self.settings)
                    except StoreError:
                        raise
                    except OSError as exc:
                        raise ServiceUnavailable(f"cannot open the content store: {exc}") from exc
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _connect_ledger(settings: Settings) -> Ledger:
    from service.chain.setup import connect_ledger

    return connect_ledger(settings)


def _open_store(settings: Settings) -> ContentStore:
    from service.store import open_store

    return open_store(settings)
