"""Federated rounds driven by Flower (in-process ``run_simulation``, Ray workers) against the
session's real stack: the governed strategy opens every round on chain, the nodes submit through
the service's gate with their own keys, the chain's record decides what is aggregated.

Seven virtual nodes, by ``partition-id``: 0-3 honest organisations with label-skewed digits
shards, 4 an organisation sending its honest update scaled by -4, 5 a node whose account lacks
the SubmitUpdates right, 6 a node that lies in its reply (claims another participant's update
with a made-up CID). Two rounds, Multi-Krum f=1 (which needs at least 2f + 3 = 5 updates; the
brief's four participants cannot run it), the members approving each aggregate in between.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict, UserConfig
from flwr.simulation import run_simulation
from safetensors.numpy import load as safetensors_load

from service.chain.accounts import dev_account
from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.chain.types import RoundState
from service.client import ClientError, GovLedgerClient
from service.flower import records
from service.flower.digits import DigitsTrainer
from service.flower.participant import Participant, keys_by_partition, participant_app
from service.flower.strategy import (
    GovernedRound,
    GovernedStrategy,
    RoundTerms,
    governed_server_app,
)
from service.ml.aggregate import ExclusionReason
from service.ml.digits import save_safetensors
from service.ml.federated import local_update, sample_shard, train_base, update_bytes
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid
from tests.cli.conftest import unique
from tests.stack import Stack

OWNER, FOUNDERS = dev_account(1), (dev_account(2), dev_account(3))
NODES = {p: dev_account(5 + p) for p in range(7)}  # partition -> the node's account
HONEST, POISONED, NO_RIGHT, LIAR = (0, 1, 2, 3), 4, 5, 6
KEY_PREFIX = "GOVLEDGER_TEST_FLOWER_KEY_"
ROUNDS = 2
TERMS = RoundTerms(
    rule="multi-krum", params={"f": 1, "m": 4}, min_updates=5, max_updates=6, max_norm=50.0
)
TRAINER = DigitsTrainer(participants=4, poisoned_partitions=frozenset({POISONED}), epochs=1)
FAKE_CID = str(compute_cid(iter_chunks([b"not an update anybody sent"]))[0])


@dataclass(frozen=True)
class LyingNode:
    """The ClientApp's train handler: honest nodes run the participant helper; the liar signs
    nothing and claims, in its reply, that another organisation's update is its own."""

    honest: Participant

    def __call__(self, message: Message, context: Context) -> Message:
        if context.node_config.get("partition-id") != LIAR:
            return self.honest(message, context)
        claim = ConfigRecord(
            {
                records.STATUS: records.RECORDED,
                records.PARTICIPANT: NODES[HONEST[0]].address,
                records.UPDATE_CID: FAKE_CID,
                records.TRANSACTION: "0x" + "ab" * 32,
            }
        )
        metrics = MetricRecord({records.NUM_EXAMPLES: 10**6})
        content = RecordDict({records.REPLY: claim, records.METRICS: metrics})
        return Message(content=content, reply_to=message)


@dataclass
class Model:
    model_id: int
    base_version_id: int


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[GovLedgerClient]:
    with GovLedgerClient(base_url=stack.url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def ledger(stack: Stack) -> Ledger:
    return connect_ledger(stack.settings)


@pytest.fixture(scope="module")
def model(client: GovLedgerClient, tmp_path_factory: pytest.TempPathFactory) -> Model:
    """The owner's first base, approved by the founders; every node but NO_RIGHT's and the
    liar's holds SubmitUpdates."""
    model_id = client.register_model(OWNER, unique("flower")).model.model_id
    path = tmp_path_factory.mktemp("base") / "base.safetensors"
    path.write_bytes(save_safetensors(train_base(sample_shard(300, seed=1))))
    version_id = client.propose_version(
        OWNER, model_id, path, artifact_format="safetensors"
    ).version.version_id
    for voter in FOUNDERS:
        client.cast_vote(voter, version_id, "for")
    for p in (*HONEST, POISONED):
        client.grant_rights(OWNER, model_id, NODES[p].address, ["submit_updates"])
    return Model(model_id=model_id, base_version_id=version_id)


@pytest.fixture(scope="module")
def governed(
    client: GovLedgerClient, model: Model, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GovernedStrategy]:
    """Two Flower rounds in the simulation; the strategy afterwards, with what each round did."""
    approvals: list[str] = []

    def members_vote(done: GovernedRound) -> None:
        assert done.version_id is not None
        for voter in FOUNDERS:
            state = client.cast_vote(voter, done.version_id, "for").state
        approvals.append(state)

    strategy = GovernedStrategy(
        client=client,
        coordinator=OWNER,
        model_id=model.model_id,
        base_version_id=model.base_version_id,
        terms=TERMS,
        on_finalized=members_vote,
        min_train_nodes=len(NODES),
        min_available_nodes=len(NODES),
    )
    environment = {
        "FLWR_HOME": str(tmp_path_factory.mktemp("flwr-home")),
        # Ray's workers import this module to unpickle LyingNode
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
        ),
        **{f"{KEY_PREFIX}{p}": account.key.hex() for p, account in NODES.items()},
    }
    saved = {k: os.environ.get(k) for k in environment}
    os.environ.update(environment)
    try:
        client_app = participant_app(
            LyingNode(Participant(trainer=TRAINER, identity=keys_by_partition(KEY_PREFIX)))
        )
        run_simulation(
            server_app=governed_server_app(lambda: strategy, num_rounds=ROUNDS, timeout=300),
            client_app=client_app,
            num_supernodes=len(NODES),
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {"num_cpus": 2, "include_dashboard": False},
            },
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert approvals == ["approved"] * ROUNDS
    yield strategy


@pytest.mark.timeout(420)
def test_every_flower_round_is_an_on_chain_round_with_the_poisoned_update_excluded(
    governed: GovernedStrategy, client: GovLedgerClient, ledger: Ledger, model: Model
) -> None:
    assert [r.server_round for r in governed.rounds] == list(range(1, ROUNDS + 1))
    expected_base = model.base_version_id
    for done in governed.rounds:
        assert done.cancelled is None
        chain = ledger.round(done.round_id)
        assert chain.state == RoundState.FINALIZED
        assert chain.aggregate_version_id == done.version_id
        # the base is the last approved aggregate: round 2 trains from round 1's
        assert done.base_version_id == chain.base_version_id == expected_base
        # only what the gate accepted is on chain: not the node without the right, not the liar
        submitters = {a.lower() for a in ledger.submitters(done.round_id)}
        assert submitters == {NODES[p].address.lower() for p in (*HONEST, POISONED)}
        # the chain says why the poisoned update is not in the aggregate
        assert ledger.exclusions(done.round_id) == {
            NODES[POISONED].address: ExclusionReason.NOT_SELECTED
        }
        assert {u.participant.lower() for u in ledger.included_updates(done.round_id)} == {
            NODES[p].address.lower() for p in HONEST
        }
        assert [e.participant for e in done.excluded] == [NODES[POISONED].address]
        # the aggregate is a version for the members' vote, its parent the round's base
        assert done.version_id is not None
        version = client.get_version(done.version_id)
        assert (version.kind, version.parent_id) == ("aggregate", expected_base)
        # anyone re-running the aggregation from the chain and the stored updates gets its bytes
        check = client.verify_round(done.round_id)
        assert check.matches, check
        assert check.aggregate_cid == done.aggregate_cid
        expected_base = done.version_id


@pytest.mark.timeout(60)
def test_the_strategy_reads_replies_as_claims_and_reports_refusals(
    governed: GovernedStrategy, ledger: Ledger
) -> None:
    for done in governed.rounds:
        # (the liar claims honest node 0's address: its report is looked at below)
        by_account = {
            r.participant.lower(): r
            for r in done.reports
            if r.participant and r.update_cid != FAKE_CID
        }
        for p in (*HONEST, POISONED):
            report = by_account[NODES[p].address.lower()]
            assert (report.status, report.on_chain) == (records.RECORDED, True)
            update = ledger.update_of(done.round_id, NODES[p].address)
            assert update is not None
            assert report.transaction.startswith("0x") and len(report.transaction) == 66
        # the node without the right was refused by the gate and said so; nothing recorded
        refused = by_account[NODES[NO_RIGHT].address.lower()]
        assert refused.status == records.REFUSED
        assert refused.contract_error == "RoundsNotContributor", refused
        assert ledger.update_of(done.round_id, NODES[NO_RIGHT].address) is None
        # the liar's claim is not backed by the chain and changed nothing
        lies = [r for r in done.reports if r.update_cid == FAKE_CID]
        assert len(lies) == 1 and lies[0].on_chain is False
        assert len(done.reports) == len(NODES)
        assert len(done.recorded) == len(HONEST) + 1


# ---------------------------------------------------------------- one node, in this process


def _context(partition: int, **node_config: str | int) -> Context:
    config = UserConfig({"partition-id": partition, **node_config})
    return Context(
        run_id=1, node_id=partition + 1, node_config=config, state=RecordDict(), run_config={}
    )


def _train_message(round_id: int, base_cid: str, url: str) -> Message:
    config = ConfigRecord(
        {records.ROUND_ID: round_id, records.BASE_CID: base_cid, records.SERVICE_URL: url}
    )
    content = RecordDict({records.CONFIG: config})
    return Message(content=content, dst_node_id=1, message_type="train")


@pytest.fixture
def open_round(client: GovLedgerClient, model: Model, governed: GovernedStrategy) -> Iterator[int]:
    """A round at the model's current base (after the simulation's rounds), cancelled after."""
    base = governed.current_base()
    round_id = client.open_round(
        OWNER,
        model.model_id,
        base_version_id=base,
        rule="fedavg",
        params={},
        min_updates=1,
        max_updates=5,
        submission_deadline=int(time.time()) + 600,
        max_norm=50.0,
    ).round.round_id
    yield round_id
    client.cancel_round(OWNER, round_id)


@pytest.mark.timeout(120)
def test_a_node_refuses_a_base_other_than_the_rounds_and_a_key_not_its_own(
    client: GovLedgerClient, ledger: Ledger, open_round: int, stack: Stack
) -> None:
    base_cid = client.round(open_round).base_cid
    assert base_cid
    node = Participant(trainer=TRAINER, identity=lambda context: NODES[HONEST[0]])
    # a coordinator naming another base: the node trains nothing, signs nothing
    reply = node.take_part(_train_message(open_round, FAKE_CID, stack.url), _context(0))
    got = reply.config_records[records.REPLY]
    assert got[records.STATUS] == records.REFUSED
    assert "base" in str(got[records.REASON]) and FAKE_CID in str(got[records.REASON])
    assert ledger.update_of(open_round, NODES[HONEST[0]].address) is None
    # a node mapped to one account but holding another's key refuses before anything is sent
    os.environ[f"{KEY_PREFIX}test"] = NODES[HONEST[1]].key.hex()
    try:
        mapped = Participant(trainer=TRAINER)
        context = _context(
            1, **{"govledger-key-env": f"{KEY_PREFIX}test", "govledger-account": NODES[0].address}
        )
        reply = mapped.take_part(_train_message(open_round, base_cid, stack.url), context)
    finally:
        del os.environ[f"{KEY_PREFIX}test"]
    got = reply.config_records[records.REPLY]
    assert got[records.STATUS] == records.REFUSED
    assert "mapped to" in str(got[records.REASON])
    assert ledger.update_of(open_round, NODES[HONEST[1]].address) is None
    # the node with its own key, mapped explicitly, takes part
    os.environ[f"{KEY_PREFIX}test"] = NODES[HONEST[1]].key.hex()
    try:
        context = _context(
            1,
            **{"govledger-key-env": f"{KEY_PREFIX}test", "govledger-account": NODES[1].address},
        )
        reply = mapped.take_part(_train_message(open_round, base_cid, stack.url), context)
    finally:
        del os.environ[f"{KEY_PREFIX}test"]
    got = reply.config_records[records.REPLY]
    assert got[records.STATUS] == records.RECORDED, got
    recorded = ledger.update_of(open_round, NODES[HONEST[1]].address)
    assert recorded is not None
    assert client.round(open_round).updates[0].update_cid == got[records.UPDATE_CID]


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
    other = client.open_round(
        OWNER,
        detail.round.model_id,
        base_version_id=detail.round.base_version_id,
        rule="fedavg",
        params={},
        min_updates=1,
        max_updates=5,
        submission_deadline=int(time.time()) + 600,
        max_norm=50.0,
    ).round.round_id
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
