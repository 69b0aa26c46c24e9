"""The journal's recovery (service/journal/recovery.py), one transition at a time, on the real
anvil of tests/chain with a journal file and a content store of the test's own: each entry a
crash or a rollback can leave is put where the module says, and the chain holds each action
exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from service.chain.actions import SignedAction, sign_action
from service.chain.ledger import Ledger
from service.journal.recovery import Recovery
from service.journal.relayer import Relayer
from service.journal.store import Journal, Status
from service.store.embedded import EmbeddedStore
from tests.chain.helpers import digest


class StorePins:
    """What recovery needs of the content store, on a real embedded store (no chain index:
    nothing else references these bytes)."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.store = store

    def ensure_pinned(self, cid: str) -> None:
        self.store.pin(cid)

    def release(self, cid: str, *, entry_id: int) -> None:
        self.store.unpin(cid)


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "store")


@pytest.fixture
def relayer(ledger: Ledger, tmp_path: Path) -> Iterator[Relayer]:
    journal = Journal(tmp_path / "journal.sqlite3")
    yield Relayer(ledger=lambda: ledger, journal=journal)
    journal.close()


@pytest.fixture
def recovery(relayer: Relayer, store: EmbeddedStore) -> Recovery:
    return Recovery(relayer=relayer, pins=lambda: StorePins(store))


def registration(
    ledger: Ledger, actor: LocalAccount, name: str, nonce: int | None = None
) -> SignedAction:
    action = ledger.prepare(
        "RegisterModel",
        actor.address,
        {"name": name, "metadataDigest": digest("meta"), "restricted": False},
        nonce=nonce,
    )
    return sign_action(action, actor.key)


def crashed_upload(relayer: Relayer, signed: SignedAction, cid: str, *, stored: bool) -> int:
    """An upload's entry as a crash leaves it: ``received`` (or ``stored``), owned by no
    request."""
    entry_id = relayer.begin_upload(signed, cid)
    if stored:
        relayer.journal.transition(entry_id, Status.STORED)
    relayer.end(entry_id)
    return entry_id


def tx_count(ledger: Ledger) -> int:
    return int(ledger.w3.eth.get_transaction_count(ledger.relayer.account.address))


def test_an_upload_interrupted_before_its_bytes_were_stored_is_abandoned_and_unpinned(
    ledger: Ledger, relayer: Relayer, recovery: Recovery, store: EmbeddedStore, owner: LocalAccount
) -> None:
    cid = str(store.put(b"half an upload", pin=True).cid)
    entry_id = crashed_upload(
        relayer, registration(ledger, owner, "rec-received"), cid, stored=False
    )
    sent = tx_count(ledger)

    report = recovery.run(reason="test")

    entry = relayer.journal.get(entry_id)
    assert (entry.status, entry.reason) == (Status.ABANDONED, "the upload was interrupted")
    assert report.abandoned == [entry_id]
    assert cid not in {str(c) for c in store.pins()}
    assert tx_count(ledger) == sent
    assert ledger.model_id_by_name("rec-received") is None


def test_a_stored_upload_is_sent_once_by_recovery(
    ledger: Ledger, relayer: Relayer, recovery: Recovery, store: EmbeddedStore, owner: LocalAccount
) -> None:
    cid = str(store.put(b"a whole upload", pin=False).cid)  # stored, its pin not yet written
    entry_id = crashed_upload(relayer, registration(ledger, owner, "rec-stored"), cid, stored=True)

    report = recovery.run(reason="test")

    entry = relayer.journal.get(entry_id)
    assert entry.status == Status.MINED and entry.acknowledged
    assert report.reapplied == 1
    assert cid in {str(c) for c in store.pins()}  # pinned again before sending
    assert ledger.model_id_by_name("rec-stored") is not None
    again = recovery.run(reason="test")  # nothing left: the second run sends nothing
    assert not again.changed


def test_a_sent_transaction_the_node_never_got_is_sent_again(
    ledger: Ledger, relayer: Relayer, recovery: Recovery, store: EmbeddedStore, owner: LocalAccount
) -> None:
    signed = registration(ledger, owner, "rec-unsent")
    cid = str(store.put(b"sent, never received", pin=True).cid)
    entry_id = crashed_upload(relayer, signed, cid, stored=True)
    relayer.journal.transition(entry_id, Status.SENT, tx_hash="0x" + "ab" * 32, relayer_nonce=0)

    report = recovery.run(reason="test")

    entry = relayer.journal.get(entry_id)
    assert entry.status == Status.MINED and entry.tx_hash != "0x" + "ab" * 32
    assert (report.confirmed, report.reapplied) == (0, 1)
    assert ledger.model_id_by_name("rec-unsent") is not None


def test_a_sent_transaction_the_chain_mined_is_confirmed_not_sent_again(
    ledger: Ledger, relayer: Relayer, recovery: Recovery, owner: LocalAccount
) -> None:
    signed = registration(ledger, owner, "rec-mined")
    receipt = ledger.relay(signed)  # the node took it; the process died before the receipt
    entry_id = relayer.journal.add(
        status=Status.SENT, tx_hash=receipt.transaction_hash, relayer_nonce=0,
        kind="signed", contract="ModelRegistry", name="RegisterModel", actor=owner.address,
        nonce=signed.action.nonce, deadline=signed.action.deadline, args={},
        signature="0x" + signed.signature.hex(),
    )  # fmt: skip
    sent = tx_count(ledger)

    report = recovery.run(reason="test")

    entry = relayer.journal.get(entry_id)
    assert (entry.status, entry.block_number) == (Status.MINED, receipt.block_number)
    assert (report.confirmed, report.reapplied) == (1, 0)
    assert tx_count(ledger) == sent


def test_a_stored_upload_whose_nonce_the_chain_used_meanwhile_is_abandoned(
    ledger: Ledger, relayer: Relayer, recovery: Recovery, store: EmbeddedStore, owner: LocalAccount
) -> None:
    nonce = ledger.nonce_of("ModelRegistry", owner.address)
    cid = str(store.put(b"too late", pin=True).cid)
    entry_id = crashed_upload(
        relayer, registration(ledger, owner, "rec-late", nonce), cid, stored=True
    )
    ledger.relay(registration(ledger, owner, "rec-other", nonce))  # another action took it

    report = recovery.run(reason="test")

    entry = relayer.journal.get(entry_id)
    assert entry.status == Status.ABANDONED and "refuses it now" in (entry.reason or "")
    assert report.abandoned == [entry_id] and report.lost == []
    assert cid not in {str(c) for c in store.pins()}
    assert ledger.model_id_by_name("rec-late") is None


def test_a_rollback_re_applies_what_the_chain_lost_and_reports_what_it_cannot(
    ledger: Ledger, relayer: Relayer, recovery: Recovery, w3: Web3, members: list[LocalAccount]
) -> None:
    recovery.run(reason="start")
    kept, taken = members[0], members[1]
    kept_nonce = ledger.nonce_of("ModelRegistry", kept.address)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    first = relayer.relay(registration(ledger, kept, "rec-rolled-back"))
    relayer.relay(registration(ledger, taken, "rec-lost"))
    w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
    ledger.relayer.reset()  # this process's count of the relayer's nonce went back too
    assert ledger.model_id_by_name("rec-rolled-back") is None  # the chain lost both
    # meanwhile the second actor's nonce went to an action the journal never saw
    ledger.relay(registration(ledger, taken, "rec-elsewhere"))

    report = recovery.run(reason="test")

    assert (report.rolled_back, report.reapplied, len(report.lost)) == (2, 1, 1)
    again = relayer.journal.holder_of("ModelRegistry", kept.address, kept_nonce)
    assert again is not None and again.status == Status.MINED
    assert again.tx_hash != first.transaction_hash  # sent again, in a new transaction
    assert ledger.model_id_by_name("rec-rolled-back") is not None
    lost = relayer.journal.get(report.lost[0])
    assert (lost.status, lost.actor, lost.acknowledged) == (Status.LOST, taken.address, True)
    assert ledger.model_id_by_name("rec-lost") is None
