"""One node's part in a governed round (:func:`service.flower.node.take_part`, what the ClientApp
runs) against the session's real stack, in this process: a node refuses a base other than the
round's and a key other than the account it is mapped to; a tampered or replayed update is
refused by the gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from safetensors.numpy import load as safetensors_load

from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.client import ClientError, GovLedgerClient
from service.flower import records
from service.flower.node import take_part
from service.ml.federated import local_update, sample_shard, update_bytes
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid
from tests.flower.conftest import Model
from tests.flower.scene import FAKE_CID, HONEST, KEY_PREFIX, NODES, OWNER, TRAINER
from tests.stack import Stack


@pytest.fixture(scope="module")
def ledger(stack: Stack) -> Ledger:
    return connect_ledger(stack.settings)


def chain_now(client: GovLedgerClient) -> int:
    """The chain's time: other tests move the local chain's clock ahead of this machine's."""
    now = client.info().chain_time
    assert now is not None
    return now


def fedavg_round(client: GovLedgerClient, model_id: int, base_version_id: int) -> int:
    """A FedAvg round at ``base_version_id``, open for ten minutes of chain time."""
    return client.open_round(
        OWNER,
        model_id,
        base_version_id=base_version_id,
        rule="fedavg",
        params={},
        min_updates=1,
        max_updates=5,
        submission_deadline=chain_now(client) + 600,
        max_norm=50.0,
    ).round.round_id


@pytest.fixture
def open_round(client: GovLedgerClient, model: Model) -> Iterator[int]:
    """A FedAvg round at the model's approved base, cancelled after."""
    round_id = fedavg_round(client, model.model_id, model.base_version_id)
    yield round_id
    client.cancel_round(OWNER, round_id)


def train_config(round_id: int, base_cid: str, url: str) -> dict[str, object]:
    return {records.ROUND_ID: round_id, records.BASE_CID: base_cid, records.SERVICE_URL: url}


@pytest.mark.timeout(120)
def test_a_node_refuses_a_base_other_than_the_rounds_and_a_key_not_its_own(
    client: GovLedgerClient,
    ledger: Ledger,
    open_round: int,
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_cid = client.round(open_round).base_cid
    assert base_cid
    # a coordinator naming another base: the node trains nothing, signs nothing
    reply = take_part(
        train_config(open_round, FAKE_CID, stack.url),
        {"partition-id": 0},
        trainer=TRAINER,
        identity=lambda config: NODES[HONEST[0]],
    )
    assert reply.status == records.REFUSED
    assert "base" in reply.reason and FAKE_CID in reply.reason
    assert ledger.update_of(open_round, NODES[HONEST[0]].address) is None
    # a node mapped to one account but holding another's key refuses before anything is sent
    monkeypatch.setenv(f"{KEY_PREFIX}test", NODES[HONEST[1]].key.hex())
    mapped_wrong = {
        "partition-id": 1,
        "govledger-key-env": f"{KEY_PREFIX}test",
        "govledger-account": NODES[HONEST[0]].address,
    }
    reply = take_part(train_config(open_round, base_cid, stack.url), mapped_wrong, trainer=TRAINER)
    assert reply.status == records.REFUSED
    assert "mapped to" in reply.reason
    assert ledger.update_of(open_round, NODES[HONEST[1]].address) is None
    # the node with its own key, mapped explicitly, takes part
    mapped = {**mapped_wrong, "govledger-account": NODES[HONEST[1]].address}
    reply = take_part(train_config(open_round, base_cid, stack.url), mapped, trainer=TRAINER)
    assert reply.status == records.RECORDED, reply
    assert reply.participant == NODES[HONEST[1]].address
    assert ledger.update_of(open_round, NODES[HONEST[1]].address) is not None
    assert client.round(open_round).updates[0].update_cid == reply.update_cid
    assert reply.config()[records.UPDATE_CID] == reply.update_cid
    assert set(reply.seconds) == {"fetch", "train", "submit", "sign", "total"}


@pytest.mark.timeout(120)
def test_a_node_without_the_right_is_refused_by_the_gate_and_says_why(
    client: GovLedgerClient, ledger: Ledger, open_round: int, stack: Stack
) -> None:
    outsider = NODES[5]  # the scene's NO_RIGHT node: the model never granted it SubmitUpdates
    base_cid = client.round(open_round).base_cid
    assert base_cid
    reply = take_part(
        train_config(open_round, base_cid, stack.url),
        {"partition-id": 2},
        trainer=TRAINER,
        identity=lambda config: outsider,
    )
    assert reply.status == records.REFUSED
    assert reply.contract_error == "RoundsNotContributor", reply
    assert reply.participant == outsider.address
    assert ledger.update_of(open_round, outsider.address) is None
    assert client.round(open_round).updates == []


@pytest.mark.timeout(120)
def test_a_tampered_or_replayed_update_is_refused_by_the_gate(
    client: GovLedgerClient, ledger: Ledger, open_round: int, stack: Stack, tmp_path: Path
) -> None:
    signer: LocalAccount = NODES[HONEST[2]]
    detail = client.round(open_round)
    base_path = client.fetch_base(open_round, tmp_path / "base.safetensors").path
    base = safetensors_load(base_path.read_bytes())
    update = local_update(base, sample_shard(60, seed=7), epochs=1)
    honest = update_bytes(update, round_id=open_round)
    tampered = update_bytes(
        {k: (v + np.float32(0.001)).astype(np.float32) for k, v in update.items()},
        round_id=open_round,
    )
    cid = compute_cid(iter_chunks([honest]))[0]
    fields = client.act(
        signer,
        "SubmitUpdate",
        {
            "roundId": open_round,
            "baseDigest": detail.round.base_digest,
            "updateDigest": "0x" + cid.digest.hex(),
            "sampleCount": 60,
        },
    )

    def post(body: bytes, round_id: int = open_round) -> httpx.Response:
        return httpx.post(
            f"{stack.url}/v1/rounds/{round_id}/updates",
            params={"update_cid": str(cid), "sample_count": 60, **fields},
            content=body,
            headers={"content-type": "application/octet-stream"},
            timeout=60,
        )

    # other bytes under the signature over the honest update's CID
    refused = post(tampered)
    assert refused.status_code == 422, refused.text
    assert str(cid) in refused.text
    assert ledger.update_of(open_round, signer.address) is None
    # the signed update replayed into another round of the model: the round id is signed
    other = fedavg_round(client, detail.round.model_id, detail.round.base_version_id)
    try:
        elsewhere = post(honest, other)
        assert elsewhere.status_code == 401, elsewhere.text
        assert elsewhere.json()["contract_error"]["name"] == "SignedActionInvalidSignature"
        assert ledger.update_of(other, signer.address) is None
    finally:
        client.cancel_round(OWNER, other)
    # the signed update as signed: recorded
    accepted = post(honest)
    assert accepted.status_code == 201, accepted.text
    # the very same request again is a retry: the first answer back, nothing recorded twice
    again = post(honest)
    assert again.status_code == 201, again.text
    assert again.json()["transaction"] == accepted.json()["transaction"]
    # a second update from the same node to the same round, freshly signed: refused
    with pytest.raises(ClientError) as second:
        client.submit_update(signer, open_round, tampered, sample_count=60)
    assert second.value.contract_error is not None
    assert second.value.contract_error["name"] == "RoundsAlreadySubmitted"
    recorded = ledger.update_of(open_round, signer.address)
    assert recorded is not None and recorded.update_digest == cid.digest
    assert [u.participant for u in client.round(open_round).updates] == [signer.address]
