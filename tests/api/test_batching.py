"""Federated updates that wait to be sent at the same moment share one transaction
(service/journal/batching.py), and each still gets its own answer.

Over HTTP with the session's anvil mining once a second (so updates queue behind the first
one's transaction), and in process against the same chain with a relayer and journal of the
test's own, for what a refused batch does (a real chain, a real journal file)."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.chain.actions import SignedAction, sign_action
from service.chain.ledger import ActionReceipt, Ledger
from service.chain.setup import connect_ledger
from service.errors import LedgerError
from service.journal.batching import Batcher
from service.journal.relayer import Relayer
from service.journal.store import Journal, Status
from tests.api.conftest import Api, api_on, cid_of, digest_of
from tests.api.test_rounds import PARTICIPANTS, file_of, open_round, scene, submit, tensors
from tests.stack import Stack


def test_concurrent_updates_share_transactions_and_each_is_recorded_once(
    api: Api, stack: Stack
) -> None:
    s = scene(api)
    round_ = open_round(api, s, min_updates=1, max_updates=len(PARTICIPANTS))
    updates = {p.address: file_of(tensors()) for p in PARTICIPANTS}
    signed = {}
    for p in PARTICIPANTS:  # signed before the chain slows down (prepare reads the chain)
        data = updates[p.address]
        signed[p.address] = api.signed(
            "SubmitUpdate",
            p,
            {"roundId": round_["round_id"], "baseDigest": round_["base_digest"],
             "updateDigest": digest_of(data), "sampleCount": 10},
        )  # fmt: skip
    answers: dict[str, httpx.Response] = {}
    start = threading.Barrier(len(PARTICIPANTS))

    def send(p: LocalAccount) -> None:
        data = updates[p.address]
        with api_on(stack) as own:
            start.wait(timeout=30)
            answers[p.address] = own.post(
                f"/v1/rounds/{round_['round_id']}/updates",
                params={"update_cid": str(cid_of(data)), "sample_count": 10, **signed[p.address]},
                content=data,
                headers={"content-type": "application/octet-stream"},
            )

    api.rpc("evm_setAutomine", False)
    api.rpc("evm_setIntervalMining", 1)
    try:
        threads = [threading.Thread(target=send, args=(p,)) for p in PARTICIPANTS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        api.rpc("evm_setIntervalMining", 0)
        api.rpc("evm_setAutomine", True)

    assert {a: r.status_code for a, r in answers.items()} == {p.address: 201 for p in PARTICIPANTS}
    hashes = Counter(r.json()["transaction"]["transaction_hash"] for r in answers.values())
    assert max(hashes.values()) >= 2, hashes  # at least one transaction carried several
    detail = api.ok(f"/v1/rounds/{round_['round_id']}")
    recorded = {u["participant"]: u["update_cid"] for u in detail["updates"]}
    assert recorded == {a: str(cid_of(d)) for a, d in updates.items()}
    assert detail["round"]["state"] == "closed"  # at its maximum
    largest = re.search(r"^govledger_update_batch_largest (\S+)$", api.get("/metrics").text, re.M)
    assert largest is not None and float(largest.group(1)) >= 2


# ---------------------------------------------------------------- the relayer, in process


@pytest.fixture
def own_relayer(api: Api, stack: Stack, tmp_path: Path) -> Iterator[Relayer]:
    """A relayer of the test's own (a fresh funded account, a fresh journal) on the session's
    chain, so the test can hand it batches directly."""
    account = Account.create()
    api.rpc("anvil_setBalance", account.address, hex(10**20))
    ledger = connect_ledger(stack.settings, relayer=account)
    yield Relayer(ledger=lambda: ledger, journal=Journal(tmp_path / "journal.sqlite"))


def stored_update(
    relayer: Relayer, round_: dict[str, Any], participant: LocalAccount
) -> tuple[SignedAction, int]:
    """A signed update journaled ``stored`` (its bytes are not needed to relay it)."""
    ledger: Ledger = relayer.ledger
    data = file_of(tensors())
    action = ledger.prepare(
        "SubmitUpdate",
        participant.address,
        {"roundId": round_["round_id"], "baseDigest": round_["base_digest"],
         "updateDigest": digest_of(data), "sampleCount": 7},
    )  # fmt: skip
    signed = sign_action(action, participant.key)
    entry_id = relayer.begin_upload(signed, str(cid_of(data)))
    relayer.journal.transition(entry_id, Status.STORED)
    return signed, entry_id


def test_a_batch_is_one_transaction_and_one_journal_step(api: Api, own_relayer: Relayer) -> None:
    s = scene(api)
    round_ = open_round(api, s, min_updates=1, max_updates=5)
    batch = [stored_update(own_relayer, round_, p) for p in PARTICIPANTS[:3]]
    outcomes = own_relayer.send_batch(batch)
    assert all(isinstance(o, ActionReceipt) for o in outcomes), outcomes
    receipts = [o for o in outcomes if isinstance(o, ActionReceipt)]
    assert len({r.transaction_hash for r in receipts}) == 1
    entries = [own_relayer.journal.get(entry_id) for _, entry_id in batch]
    assert {e.status for e in entries} == {Status.MINED}
    assert {e.tx_hash for e in entries} == {receipts[0].transaction_hash}
    assert all(e.acknowledged for e in entries)
    ledger = own_relayer.ledger
    for signed, _ in batch:
        recorded = ledger.update_of(round_["round_id"], signed.action.actor)
        assert recorded is not None and recorded.sample_count == 7


def test_a_refused_batch_is_sent_one_by_one_and_each_gets_its_own_answer(
    api: Api, own_relayer: Relayer
) -> None:
    s = scene(api)
    round_ = open_round(api, s, min_updates=1, max_updates=5)
    batch = [stored_update(own_relayer, round_, p) for p in PARTICIPANTS[:3]]
    late = PARTICIPANTS[2]
    # the third participant's update reaches the chain another way first: its signed action in
    # the batch is now a second submission, so the batch (all or nothing) would revert
    r = submit(api, round_, late, file_of(tensors()))
    assert r.status_code == 201, r.text
    relayed = api.relayer_tx_count()

    outcomes = own_relayer.send_batch(batch)
    assert isinstance(outcomes[0], ActionReceipt) and isinstance(outcomes[1], ActionReceipt)
    assert outcomes[0].transaction_hash != outcomes[1].transaction_hash  # each sent alone
    assert isinstance(outcomes[2], LedgerError), outcomes[2]
    statuses = [own_relayer.journal.get(entry_id).status for _, entry_id in batch]
    assert statuses == [Status.MINED, Status.MINED, Status.REFUSED]
    assert api.relayer_tx_count() == relayed  # the service's relayer paid for nothing here
    ledger = own_relayer.ledger
    assert ledger.update_of(round_["round_id"], PARTICIPANTS[0].address) is not None
    assert ledger.update_of(round_["round_id"], PARTICIPANTS[1].address) is not None


# ---------------------------------------------------------------- the group commit alone


def test_the_group_commit_sends_the_first_alone_and_the_waiting_ones_together() -> None:
    """The Batcher's queueing, with a recording stand-in for the chain (the chain's side is
    tested above): while the first send is held, four more arrive; they leave together, and
    each caller gets its own outcome, an error included."""
    release = threading.Event()
    seen: list[list[int]] = []

    def send_batch(batch: Any) -> list[Any]:
        ids = [entry_id for _, entry_id in batch]
        seen.append(ids)
        if len(seen) == 1:
            assert release.wait(timeout=30)
        return [ValueError(f"refused {i}") if i == 3 else f"receipt {i}" for i in ids]

    batcher = Batcher(send_batch, max_batch=16)
    results: dict[int, Any] = {}

    def call(i: int) -> None:
        try:
            results[i] = batcher.send(None, i)  # type: ignore[arg-type]
        except ValueError as exc:
            results[i] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    while not seen:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, 5)]
    for t in others:
        t.start()
    while len(batcher._queue) < 4:
        threading.Event().wait(0.01)
    release.set()
    for t in [first, *others]:
        t.join(timeout=30)
    assert seen == [[0], [1, 2, 3, 4]] and batcher.largest == 4 and batcher.batches == 2
    assert results[0] == "receipt 0" and results[4] == "receipt 4"
    assert isinstance(results[3], ValueError) and str(results[3]) == "refused 3"
    assert not batcher._busy and not batcher._queue
