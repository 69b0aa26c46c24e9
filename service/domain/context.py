"""The adapters the use cases run on, built once per process and reconnected when lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from service.chain.ledger import Ledger
from service.config import Settings
from service.domain import indexed
from service.domain.indexed import LedgerIndex
from service.errors import (
    ChainUnavailable,
    DeploymentError,
    LedgerError,
    ServiceUnavailable,
    StoreError,
)
from service.index.store import IndexFile
from service.journal.recovery import Recovery, UploadPins
from service.journal.relayer import Relayer
from service.journal.store import Journal
from service.store.base import ContentStore


@dataclass(frozen=True, kw_only=True)
class Readiness:
    chain: str
    store: str
    contracts: str
    journal: str = "ok"
    index: str = "off"

    @property
    def ready(self) -> bool:
        """The index is not part of it: without it reads go to the chain, slower, not wrong."""
        return self.chain == self.store == self.contracts == self.journal == "ok"


def readiness(backends: Backends) -> Readiness:
    """Whether the chain answers, the contracts are at the recorded addresses, the store
    answers and the journal owes the chain nothing (no rollback to repair, no interrupted
    action to finish); each part says "ok" or what is wrong."""
    chain = store = contracts = journal = "ok"
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
    if chain == "ok" and contracts == "ok":
        try:
            journal = backends.recovery.pending_work() or "ok"
        except LedgerError as exc:
            journal = str(exc)
        except Exception as exc:
            journal = f"the journal cannot be checked: {type(exc).__name__}"
    index = index_state(backends) if chain == "ok" and contracts == "ok" else "off"
    return Readiness(chain=chain, store=store, contracts=contracts, journal=journal, index=index)


def index_state(backends: Backends) -> str:
    """Whether reads use the event index now, and how far behind the chain it is."""
    if backends.index is None:
        return "off"
    try:
        head = backends.index.head()
        ledger = backends.ledger
        latest = ledger.block_number()
        used = indexed.view(backends.index, ledger, latest) is not None
    except Exception as exc:  # the file or the node failed in between: say so, not a 500
        return f"cannot be read: {type(exc).__name__}"
    if head is None:
        return "not yet written: reads go to the chain"
    behind = max(latest - head.block, 0)
    if used:
        return f"ok: at block {head.block}, {behind} behind the latest"
    return f"not used: at block {head.block}, {behind} behind the latest; reads go to the chain"


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
        self._journal: Journal | None = None
        self._relayer: Relayer | None = None
        self._recovery: Recovery | None = None
        self._lock = threading.Lock()
        #: what recovery uses to pin and release journaled uploads (set by ArtifactService)
        self.upload_pins: Callable[[], UploadPins] | None = None
        self._index: IndexFile | None = None

    @property
    def index(self) -> IndexFile | None:
        """The event index, when the service keeps one."""
        return self._index

    def attach_index(self, index: IndexFile | None) -> None:
        """Let the ledger read version ids from the event index (``domain/indexed.py``)."""
        with self._lock:
            self._index = index
            if self._ledger is not None:
                self._ledger.indexed = None if index is None else LedgerIndex(index, self._ledger)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            with self._lock:
                if self._ledger is None:
                    try:
                        ledger = self._ledger_factory(self.settings)
                    except (ChainUnavailable, DeploymentError):
                        raise
                    except OSError as exc:
                        raise ChainUnavailable(
                            f"cannot reach the chain at {self.settings.rpc_url}: {exc}"
                        ) from exc
                    if self._index is not None:
                        ledger.indexed = LedgerIndex(self._index, ledger)
                    self._ledger = ledger
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

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            with self._lock:
                if self._journal is None:
                    self._journal = Journal(self.settings.journal_file)
        return self._journal

    @property
    def relayer(self) -> Relayer:
        """The journaled relayer; the chain is connected on first use of its ledger."""
        if self._relayer is None:
            journal = self.journal
            with self._lock:
                if self._relayer is None:
                    self._relayer = Relayer(
                        ledger=lambda: self.ledger,
                        journal=journal,
                        suspension_s=self.settings.relay_suspension_s,
                        update_batch_max=self.settings.update_batch_max,
                    )
        return self._relayer

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            relayer = self.relayer
            with self._lock:
                if self._recovery is None:
                    self._recovery = Recovery(relayer=relayer, pins=self.upload_pins)
        return self._recovery

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        if self._journal is not None:
            self._journal.close()


def _connect_ledger(settings: Settings) -> Ledger:
    from service.chain.setup import connect_ledger

    return connect_ledger(settings)


def _open_store(settings: Settings) -> ContentStore:
    from service.store import open_store

    return open_store(settings)
