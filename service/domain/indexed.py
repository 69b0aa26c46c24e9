"""Reads answered from the event index, with the chain's newer blocks laid over them.

The index reaches some block H (its head): ``latest - confirmations`` once caught up. A read
takes what it needs up to H from the index and the blocks H+1 .. latest from the chain (one
``eth_getLogs`` over a handful of blocks), so an answer is the chain's at the latest block, as
without the index. The index is not used (the read goes to the chain as before) when it is
off, not yet written, of another deployment, more than ``MAX_TAIL_BLOCKS`` behind (still
catching up, or being rebuilt), or when the chain no longer has its head block (a rollback the
follower has not repaired yet): checked on every read with one ``eth_getBlockByNumber``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service.chain.history import uint_topic
from service.chain.ledger import Ledger
from service.chain.types import Event, ModelRecord
from service.index.follower import MODEL_STATE_EVENTS
from service.index.store import IndexFile, StoredLog, as_log

MAX_TAIL_BLOCKS = 5_000
"""Most blocks a read takes from the chain beyond the index's head (one getLogs page)."""


@dataclass(frozen=True, kw_only=True)
class IndexedView:
    """The index as one read may use it: everything up to ``head``; ``latest`` from the chain."""

    index: IndexFile
    head: int
    latest: int

    def events(self, logs: Iterable[StoredLog], ledger: Ledger) -> list[Event]:
        reader = ledger.history
        return [reader.decode(as_log(s), timestamp=s.timestamp) for s in logs]


def view(index: IndexFile | None, ledger: Ledger, latest: int | None = None) -> IndexedView | None:
    """The index if a read may use it now (see the module's docstring), else None."""
    if index is None:
        return None
    head = index.head()
    deployment = ledger.deployment
    if (
        head is None
        or head.block_hash is None
        or head.chain_id != deployment.chain_id
        or head.registry.lower() != deployment.registry.lower()
    ):
        return None
    if latest is None:
        latest = ledger.block_number()
    if head.block > latest or latest - head.block > MAX_TAIL_BLOCKS:
        return None
    try:
        on_chain = ledger.w3.eth.get_block(head.block)["hash"].to_0x_hex()
    except Exception:  # BlockNotFound on a chain that rolled back below the head
        return None
    if on_chain != head.block_hash:
        return None
    return IndexedView(index=index, head=head.block, latest=latest)


def matches(model: ModelRecord, name: str | None, owner: str | None) -> bool:
    if name and name not in model.name:
        return False
    return not (owner and model.owner.lower() != owner.lower())


def models(
    ledger: Ledger, index: IndexFile | None, *, name: str | None, owner: str | None
) -> tuple[list[ModelRecord], int] | None:
    """Every model whose name contains ``name`` and whose owner is ``owner``, in id order, and
    the index's head; None if the index cannot answer (the caller reads the chain)."""
    v = view(index, ledger)
    if v is None:
        return None
    found = v.index.models(name=name, owner=owner)
    touched: set[int] = set()
    if v.latest > v.head:
        touched = {
            int(e.args["modelId"])
            for e in ledger.events(
                contract="ModelRegistry",
                event=sorted(MODEL_STATE_EVENTS),
                from_block=v.head + 1,
                to_block=v.latest,
                with_timestamps=False,
            )
        }
    # The contract's own count closes what events cannot: a model whose registration the
    # chain's history lacks (a local anvil restored from its periodic state dump after a
    # SIGKILL can hold contract state newer than its blocks) is read from the contract.
    known = v.index.model_ids() | touched
    touched |= {i for i in range(1, ledger.model_count() + 1) if i not in known}
    if touched:
        found = [m for m in found if m.model_id not in touched]
        found += [m for m in map(ledger.model, sorted(touched)) if matches(m, name, owner)]
        found.sort(key=lambda m: m.model_id)
    return found, v.head


class LedgerIndex:
    """The index as the ledger's ``indexed`` reads (``service.chain.ledger_core.IndexedReads``):
    a model's version ids from the index's versions up to its head, those proposed after it
    from the chain (one ``eth_getLogs`` over the tail), instead of a log scan of the whole
    chain on every version number, version list and reference like ``name@3``."""

    def __init__(self, index: IndexFile, ledger: Ledger) -> None:
        self.index = index
        self.ledger = ledger

    def version_ids_of(self, model_id: int) -> list[int] | None:
        v = view(self.index, self.ledger)
        if v is None:
            return None
        ids = list(v.index.proposals(model_id, v.head))
        if v.latest > v.head:
            ids += [
                int(e.args["versionId"])
                for e in self.ledger.history.events(
                    contract="ModelRegistry",
                    event="VersionProposed",
                    topics=[None, uint_topic(model_id)],
                    from_block=v.head + 1,
                    to_block=v.latest,
                    with_timestamps=False,
                )
            ]
        return ids
