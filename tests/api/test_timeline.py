"""A model's timeline over HTTP against a real stack: one model lives through registration,
metadata, rights, proposals, votes with a reason, approval, an alias, a rejection, an expired
ballot, a build, a finalized federated round and an ownership transfer; the timeline lists each
in block order with its actor, block and transaction, checked against the chain's receipts.
Also: a version's decision, filters, paging, export formats, and refusals."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from eth_utils import keccak

from service.api.timeline_schemas import TimelineKind, entry_of_csv_row
from service.chain.setup import connect_ledger
from service.domain.timeline import KINDS, Position, Timeline
from tests.api.conftest import (
    MEMBER2,
    MEMBER3,
    OWNER,
    READER,
    RELAYER,
    ZERO_ADDRESS,
    Api,
    assert_problem,
    fresh_artifact,
)
from tests.api.test_first_hour_api import _reason_request
from tests.api.test_rounds import PARTICIPANTS, Scene, file_of, open_round, round_action, submit
from tests.api.test_rounds import tensors as update_tensors

REASON = "beats the baseline on site B"
OPENED = (
    "RoundOpened(uint256,uint256,uint256,bytes32,bytes32,bytes32,uint256,uint256,uint256,"
    "uint256,address)"
)
_REGISTRY = {
    "model_registered": "ModelRegistered",
    "metadata_changed": "ModelMetadataChanged",
    "read_policy_changed": "ReadPolicyChanged",
    "ownership_transfer_proposed": "ModelOwnershipTransferStarted",
    "ownership_transfer_cancelled": "ModelOwnershipTransferStarted",
    "ownership_transfer_accepted": "ModelOwnershipTransferred",
    "rights_granted": "RightsGranted",
    "rights_revoked": "RightsRevoked",
    "version_proposed": "VersionProposed",
    "build_proposed": "VersionProposed",
    "vote_cast": "VoteCast",
    "version_approved": "VersionStateChanged",
    "version_rejected": "VersionStateChanged",
    "alias_moved": "AliasMoved",
}
_ROUNDS = {
    "round_opened": "RoundOpened",
    "update_submitted": "UpdateSubmitted",
    "round_closed": "RoundClosed",
    "update_excluded": "UpdateExcluded",
    "round_finalized": "RoundFinalized",
    "round_cancelled": "RoundCancelled",
}
EVENT_OF = {k: ("ModelRegistry", e) for k, e in _REGISTRY.items()} | {
    k: ("FederatedRounds", e) for k, e in _ROUNDS.items()
}
"""Each kind of entry and the event that records it."""


@dataclass
class Story:
    """What the test did to one model, and what the timeline must show for it."""

    model_id: int
    expected: list[tuple[str, str | None, str]] = field(default_factory=list)  # kind, actor, tx
    versions: dict[str, int] = field(default_factory=dict)
    round_id: int = 0
    expiry_block: int = 0
    robust_round_id: int = 0
    cancelled_round_id: int = 0

    def saw(self, kind: str, actor: str | None, written: dict[str, Any]) -> None:
        self.expected.append((kind, actor, written["transaction"]["transaction_hash"]))


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def _written_vote(api: Api, voter: Any, version_id: int, support: str) -> dict[str, Any]:
    return _ok(api.vote(voter, version_id, support), 201)


@pytest.fixture(scope="module")
def story(api: Api) -> Story:
    # registration and metadata
    name = f"timeline-{datetime.now(UTC):%H%M%S%f}"
    sig = api.signed(
        "RegisterModel",
        OWNER,
        {"name": name, "metadataDigest": "0x" + "00" * 32, "restricted": False},
    )
    registered = _ok(api.post("/v1/models", json={"name": name, **sig}), 201)
    s = Story(model_id=int(registered["model"]["model_id"]))
    mid = s.model_id
    s.saw("model_registered", OWNER.address, registered)
    digest = api.store_metadata({"description": "the timeline's model"})["digest"]
    sig = api.signed("SetModelMetadata", OWNER, {"modelId": mid, "metadataDigest": digest})
    s.saw(
        "metadata_changed",
        OWNER.address,
        _ok(api.put(f"/v1/models/{mid}/metadata", json={"metadata_digest": digest, **sig})),
    )

    # rights granted and revoked
    granted = _ok(api.change_rights("grant", mid, READER.address, ["read_artifacts", "maintain"]))
    s.saw("rights_granted", OWNER.address, granted)
    s.saw(
        "rights_revoked",
        OWNER.address,
        _ok(api.change_rights("revoke", mid, READER.address, ["maintain"])),
    )

    # a base approved by two votes, one with a signed reason
    base = api.upload(mid, file_of(update_tensors(1.0)))
    proposed = _ok(base, 201)
    v1 = s.versions["base"] = int(proposed["version"]["version_id"])
    s.saw("version_proposed", OWNER.address, proposed)
    s.saw("vote_cast", MEMBER2.address, _written_vote(api, MEMBER2, v1, "for"))
    assert _reason_request(api, v1, voter=MEMBER2, reason=REASON).status_code == 201
    deciding = _written_vote(api, MEMBER3, v1, "for")
    assert deciding["state"] == "approved"
    s.saw("vote_cast", MEMBER3.address, deciding)
    s.saw("version_approved", MEMBER3.address, deciding)
    s.saw("alias_moved", OWNER.address, _ok(api.move_alias(mid, "production", v1)))

    # a version rejected by its votes
    rejected = _ok(api.upload(mid, fresh_artifact()), 201)
    v2 = s.versions["rejected"] = int(rejected["version"]["version_id"])
    s.saw("version_proposed", OWNER.address, rejected)
    s.saw("vote_cast", MEMBER2.address, _written_vote(api, MEMBER2, v2, "against"))
    last = _written_vote(api, MEMBER3, v2, "against")
    assert last["state"] == "rejected"
    s.saw("vote_cast", MEMBER3.address, last)
    s.saw("version_rejected", MEMBER3.address, last)

    # a build of the approved base, and a version whose ballot runs out
    build = _ok(api.upload(mid, fresh_artifact(), kind="accelerated", parent_id=v1), 201)
    s.versions["build"] = int(build["version"]["version_id"])
    s.saw("build_proposed", OWNER.address, build)
    expiring = _ok(api.upload(mid, fresh_artifact()), 201)
    v3 = s.versions["expired"] = int(expiring["version"]["version_id"])
    s.saw("version_proposed", OWNER.address, expiring)
    period = int(api.ok("/v1/consortium")["voting_period_s"])
    api.increase_time(period + 60)  # one empty block, the first past both ballots' deadlines
    s.expiry_block = api.block_number()
    s.expected += [("ballot_expired", None, None)] * 2  # the build's, then v3's: no events
    unrecorded = api.ok(f"/v1/versions/{v3}")
    assert unrecorded["state"] == "rejected"
    deadline = int(expiring["version"]["ballot"]["deadline"])
    assert unrecorded["decision"] == {
        "state": "rejected",
        "how": "expired",
        "block_number": None,
        "timestamp": None,
        "time": None,
        "transaction_hash": None,
        "deadline": deadline,
        "expired_at": _iso(deadline),
    }
    recorded = _ok(api.post(f"/v1/versions/{v3}/finalize"))
    s.saw("version_rejected", RELAYER.address, recorded)  # anyone records it; here the relayer

    # a federated round: rights, opening, three updates (the third closes it), finalization
    for p in PARTICIPANTS[:3]:
        s.saw(
            "rights_granted",
            OWNER.address,
            _ok(api.change_rights("grant", mid, p.address, ["submit_updates"])),
        )
    scene = Scene(model_id=mid, base_version=v1, base_bytes=b"")
    round_ = open_round(api, scene, min_updates=2, max_updates=3)
    s.round_id = int(round_["round_id"])
    s.expected.append(("round_opened", OWNER.address, _round_tx(api, s.round_id, OPENED)))
    for p in PARTICIPANTS[:3]:
        r = _ok(submit(api, round_, p, file_of(update_tensors())), 201)
        tx = r["transaction"]["transaction_hash"]
        s.expected.append(("update_submitted", p.address, tx))
    s.expected.append(("round_closed", PARTICIPANTS[2].address, tx))  # the maximum reached
    finalized = _ok(round_action(api, "FinalizeRound", s.round_id))
    s.versions["aggregate"] = int(finalized["version_id"])
    s.saw("version_proposed", OWNER.address, finalized)
    s.saw("round_finalized", OWNER.address, finalized)

    # a robust round leaves out a poisoned update; one more round is cancelled
    for p in PARTICIPANTS[3:]:
        s.saw(
            "rights_granted",
            OWNER.address,
            _ok(api.change_rights("grant", mid, p.address, ["submit_updates"])),
        )
    robust = open_round(
        api, scene, rule="multi-krum", params={"f": 1}, min_updates=5, max_updates=5,
        max_norm=1000.0,
    )  # fmt: skip
    s.robust_round_id = int(robust["round_id"])
    s.expected.append(("round_opened", OWNER.address, _round_tx(api, s.robust_round_id, OPENED)))
    poisoned = {k: x * -400 for k, x in update_tensors(0.01).items()}
    arrays = [update_tensors(0.01) for _ in range(4)] + [poisoned]
    for p, update in zip(PARTICIPANTS, arrays, strict=True):
        r = _ok(submit(api, robust, p, file_of(update)), 201)
        s.expected.append(("update_submitted", p.address, r["transaction"]["transaction_hash"]))
    s.expected.append(
        ("round_closed", PARTICIPANTS[4].address, r["transaction"]["transaction_hash"])
    )
    finalized = _ok(round_action(api, "FinalizeRound", s.robust_round_id))
    s.versions["robust"] = int(finalized["version_id"])
    s.saw("update_excluded", OWNER.address, finalized)
    s.saw("version_proposed", OWNER.address, finalized)
    s.saw("round_finalized", OWNER.address, finalized)
    cancelled = open_round(api, scene)
    s.cancelled_round_id = int(cancelled["round_id"])
    s.expected.append(("round_opened", OWNER.address, _round_tx(api, s.cancelled_round_id, OPENED)))
    s.saw(
        "round_cancelled",
        OWNER.address,
        _ok(round_action(api, "CancelRound", s.cancelled_round_id)),
    )

    # ownership: proposed, cancelled, proposed again and accepted; then the new owner's policy
    def transfer(to: str) -> dict[str, Any]:
        sig = api.signed("TransferModelOwnership", OWNER, {"modelId": mid, "newOwner": to})
        return _ok(api.put(f"/v1/models/{mid}/owner", json={"new_owner": to, **sig}))

    s.saw("ownership_transfer_proposed", OWNER.address, transfer(MEMBER3.address))
    s.saw("ownership_transfer_cancelled", OWNER.address, transfer(ZERO_ADDRESS))
    s.saw("ownership_transfer_proposed", OWNER.address, transfer(MEMBER2.address))
    sig = api.signed("AcceptModelOwnership", MEMBER2, {"modelId": mid})
    s.saw(
        "ownership_transfer_accepted",
        MEMBER2.address,
        _ok(api.post(f"/v1/models/{mid}/owner/accept", json=sig)),
    )
    sig = api.signed("SetReadPolicy", MEMBER2, {"modelId": mid, "restricted": True})
    s.saw(
        "read_policy_changed",
        MEMBER2.address,
        _ok(api.put(f"/v1/models/{mid}/read-policy", json={"restricted": True, **sig})),
    )
    return s


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def _round_tx(api: Api, round_id: int, signature: str) -> str:
    """The transaction of a round's event, found with a plain eth_getLogs (not the service)."""
    rounds = api.ok("/v1/info")["contracts"]["FederatedRounds"]["address"]
    logs = api.rpc(
        "eth_getLogs",
        {
            "address": rounds,
            "fromBlock": "0x0",
            "toBlock": "latest",
            "topics": ["0x" + keccak(text=signature).hex(), "0x" + f"{round_id:064x}"],
        },
    )
    assert len(logs) == 1
    return str(logs[0]["transactionHash"])


def everything(api: Api, model_id: int, **params: Any) -> list[dict[str, Any]]:
    """Every entry, following the cursors."""
    entries: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        page = api.ok(
            f"/v1/models/{model_id}/timeline",
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries
    raise AssertionError("the cursors never ended")


# ---------------------------------------------------------------- the whole story


def test_the_timeline_lists_everything_in_block_order_with_actor_block_and_transaction(
    api: Api, story: Story
) -> None:
    page = api.ok(f"/v1/models/{story.model_id}/timeline", params={"limit": 500})
    assert page["next_cursor"] is None
    entries = page["entries"]
    assert [(e["kind"], e["actor"], e["transaction_hash"]) for e in entries] == story.expected
    positions = [(e["block"], e["log_index"]) for e in entries]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)

    ledger = connect_ledger(api.stack.settings)
    for e in entries:
        assert e["timestamp"] == api.block_timestamp(e["block"])
        assert e["time"] == _iso(e["timestamp"])
        if e["kind"] == "ballot_expired":  # no event: the first block past the deadline
            assert e["block"] == story.expiry_block and e["log_index"] < 0
            deadline = e["details"]["deadline"]
            assert api.block_timestamp(e["block"] - 1) <= deadline < e["timestamp"]
            continue
        receipt = api.rpc("eth_getTransactionReceipt", e["transaction_hash"])
        assert int(receipt["blockNumber"], 16) == e["block"], e
        log = next(x for x in receipt["logs"] if int(x["logIndex"], 16) == e["log_index"])
        contract, event = EVENT_OF[e["kind"]]
        assert log["address"].lower() == ledger.contracts[contract].address.lower(), e
        assert log["topics"][0] == "0x" + ledger.history.topic_of(contract, event).hex(), e


def test_each_kind_says_what_happened(api: Api, story: Story) -> None:
    entries = everything(api, story.model_id)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_kind.setdefault(e["kind"], []).append(e)
    v = story.versions

    (registered,) = by_kind["model_registered"]
    assert registered["details"]["owner"] == OWNER.address
    assert registered["details"]["restricted"] is False
    granted = by_kind["rights_granted"][0]["details"]
    assert (granted["account"], granted["rights"]) == (
        READER.address,
        ["read_artifacts", "maintain"],
    )
    revoked = by_kind["rights_revoked"][0]["details"]
    assert (revoked["rights"], revoked["current"]) == (["maintain"], ["read_artifacts"])

    proposals = {e["version_id"]: e for e in by_kind["version_proposed"]}
    assert [proposals[v[k]]["version_number"] for k in ("base", "rejected", "expired")] == [1, 2, 4]
    assert proposals[v["aggregate"]]["details"]["version_kind"] == "aggregate"
    assert proposals[v["aggregate"]]["details"]["parent_id"] == v["base"]
    assert proposals[v["aggregate"]]["round_id"] == story.round_id
    (build,) = by_kind["build_proposed"]
    assert (build["version_id"], build["version_number"]) == (v["build"], 3)
    assert (build["details"]["parent_id"], build["details"]["parent_number"]) == (v["base"], 1)

    votes = [(e["version_id"], e["actor"], e["details"]) for e in by_kind["vote_cast"]]
    assert votes[0][2]["support"] == "for" and votes[0][2]["reason"] == REASON
    assert votes[0][2]["reason_cid"].startswith("bafk")
    assert "reason" not in votes[1][2]
    assert [d["support"] for _, _, d in votes[2:]] == ["against", "against"]

    (approved,) = by_kind["version_approved"]
    assert (approved["version_id"], approved["details"]["how"]) == (v["base"], "quorum_reached")
    rejected = {e["version_id"]: e["details"]["how"] for e in by_kind["version_rejected"]}
    assert rejected == {v["rejected"]: "quorum_unreachable", v["expired"]: "expired"}

    recorded = by_kind["version_rejected"][-1]
    assert recorded["version_id"] == v["expired"]
    expired = [(e["version_id"], e["log_index"], e["details"]) for e in by_kind["ballot_expired"]]
    deadlines = {p["version_id"]: p["details"]["deadline"] for p in by_kind["version_proposed"]}
    deadlines[v["build"]] = by_kind["build_proposed"][0]["details"]["deadline"]
    assert expired == [
        (
            version_id,
            index,
            {
                "deadline": deadlines[version_id],
                "deadline_time": _iso(deadlines[version_id]),
                "state": "rejected",
                "recorded_block": block,
                "recorded_transaction": tx,
            },
        )
        for version_id, index, block, tx in (
            (v["build"], -2, None, None),
            (v["expired"], -1, recorded["block"], recorded["transaction_hash"]),
        )
    ]

    (moved,) = by_kind["alias_moved"]
    assert (moved["details"]["alias"], moved["version_id"], moved["version_number"]) == (
        "production",
        v["base"],
        1,
    )
    assert moved["details"]["previous_version_id"] is None

    rounds = (story.round_id, story.robust_round_id, story.cancelled_round_id)
    assert [e["round_id"] for e in by_kind["round_opened"]] == list(rounds)
    opened = by_kind["round_opened"][0]
    assert (opened["details"]["base_version_id"], opened["details"]["rule"]) == (
        v["base"],
        "fedavg",
    )
    assert by_kind["round_opened"][1]["details"]["rule"] == "multi-krum"
    assert [(e["round_id"], e["details"]["index"]) for e in by_kind["update_submitted"]] == [
        *((story.round_id, i) for i in range(3)),
        *((story.robust_round_id, i) for i in range(5)),
    ]
    assert [(e["round_id"], e["details"]) for e in by_kind["round_closed"]] == [
        (story.round_id, {"reason": "max_updates_reached", "update_count": 3}),
        (story.robust_round_id, {"reason": "max_updates_reached", "update_count": 5}),
    ]
    final, robust = by_kind["round_finalized"]
    assert (final["round_id"], final["version_id"]) == (story.round_id, v["aggregate"])
    assert final["details"]["included_count"] == 3 and final["details"]["excluded"] == []
    assert sorted(final["details"]["included"]) == sorted(p.address for p in PARTICIPANTS[:3])
    assert (robust["round_id"], robust["version_id"]) == (story.robust_round_id, v["robust"])
    assert robust["version_number"] == 6
    assert robust["details"]["excluded"] == [
        {"participant": PARTICIPANTS[4].address, "reason": "not_selected"}
    ]
    assert sorted(robust["details"]["included"]) == sorted(p.address for p in PARTICIPANTS[:4])
    (excluded,) = by_kind["update_excluded"]
    assert (excluded["round_id"], excluded["details"]) == (
        story.robust_round_id,
        {"participant": PARTICIPANTS[4].address, "reason": "not_selected", "reason_code": 1},
    )
    (cancelled,) = by_kind["round_cancelled"]
    assert (cancelled["round_id"], cancelled["details"]) == (
        story.cancelled_round_id,
        {"update_count": 0},
    )

    proposed_owner = by_kind["ownership_transfer_proposed"][-1]["details"]
    assert proposed_owner == {"owner": OWNER.address, "pending_owner": MEMBER2.address}
    (accepted,) = by_kind["ownership_transfer_accepted"]
    assert accepted["details"] == {"previous_owner": OWNER.address, "owner": MEMBER2.address}
    assert by_kind["read_policy_changed"][0]["details"] == {"restricted": True}
    assert set(get_args(TimelineKind)) == set(KINDS) == {*EVENT_OF, "ballot_expired"}


def test_a_version_shows_the_block_and_time_of_its_decision(api: Api, story: Story) -> None:
    v = story.versions
    entries = everything(api, story.model_id, kind=["version_approved", "version_rejected"])
    decided = {e["version_id"]: e for e in entries}
    for key, how in (
        ("base", "quorum_reached"),
        ("rejected", "quorum_unreachable"),
        ("expired", "expired"),
    ):
        version = api.ok(f"/v1/versions/{v[key]}")
        decision = version["decision"]
        entry = decided[v[key]]
        assert decision["how"] == how
        assert decision["state"] == version["state"]
        assert (decision["block_number"], decision["transaction_hash"]) == (
            entry["block"],
            entry["transaction_hash"],
        )
        assert decision["time"] == entry["time"]
        assert decision["deadline"] == version["ballot"]["deadline"]
        assert decision["expired_at"] == (_iso(decision["deadline"]) if how == "expired" else None)
    # the same through a version's number and its reference; open and listed versions carry none
    model = api.ok(f"/v1/models/{story.model_id}")["name"]
    assert api.ok(f"/v1/models/{story.model_id}/versions/1")["decision"]["how"] == "quorum_reached"
    assert api.ok(f"/v1/versions/by-ref/{model}@2")["decision"]["how"] == "quorum_unreachable"
    aggregate = api.ok(f"/v1/versions/{v['aggregate']}")
    assert (aggregate["state"], aggregate["decision"]) == ("proposed", None)
    listed = api.ok(f"/v1/models/{story.model_id}/versions")["items"]
    assert all(item["decision"] is None for item in listed)


# ---------------------------------------------------------------- filters and paging


def test_kind_and_block_filters(api: Api, story: Story) -> None:
    entries = everything(api, story.model_id)
    for kind in ("vote_cast", "ballot_expired"):
        only = everything(api, story.model_id, kind=kind)
        assert only and only == [e for e in entries if e["kind"] == kind]
    two = everything(api, story.model_id, kind=["round_opened", "round_finalized"])
    assert [e["kind"] for e in two] == ["round_opened", "round_finalized"] * 2 + ["round_opened"]
    assert two == [e for e in entries if e["kind"] in ("round_opened", "round_finalized")]

    low, high = entries[3]["block"], entries[-4]["block"]
    ranged = everything(api, story.model_id, from_block=low, to_block=high)
    assert ranged == [e for e in entries if low <= e["block"] <= high]
    assert ranged[0] == entries[3] and ranged[-1]["block"] == high
    one = everything(api, story.model_id, from_block=low, to_block=low)
    assert one and {e["block"] for e in one} == {low}


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_paging_yields_every_entry_exactly_once(api: Api, story: Story, limit: int) -> None:
    whole = api.ok(f"/v1/models/{story.model_id}/timeline", params={"limit": 500})["entries"]
    pages = []
    cursor = None
    while True:
        page = api.ok(
            f"/v1/models/{story.model_id}/timeline",
            params={"limit": limit, **({"cursor": cursor} if cursor else {})},
        )
        assert len(page["entries"]) <= limit
        pages.append(page["entries"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        seen = sum(map(len, pages))
        if seen < len(whole):  # the next page starts at the next entry
            assert cursor == f"{whole[seen]['block']}:{whole[seen]['log_index']}"
    assert [e for p in pages for e in p] == whole
    filled = [len(p) for p in pages if p]
    assert filled[:-1] == [limit] * (len(filled) - 1)  # only the last one holds fewer


def test_jsonl_and_csv_are_the_same_entries(api: Api, story: Story) -> None:
    path = f"/v1/models/{story.model_id}/timeline"
    page = api.ok(path, params={"limit": 5})
    r = api.get(path, params={"limit": 5, "format": "jsonl"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in r.text.splitlines()] == page["entries"]
    assert r.headers["x-next-cursor"] == page["next_cursor"]
    assert f"cursor={page['next_cursor'].replace(':', '%3A')}" in r.headers["link"]
    r = api.get(path, params={"limit": 5, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = [entry_of_csv_row(row) for row in csv.DictReader(io.StringIO(r.text))]
    assert rows == [{k: e[k] for k in rows[0]} for e in page["entries"]]
    last = api.get(path, params={"limit": 500, "format": "jsonl"})
    assert "x-next-cursor" not in last.headers and "link" not in last.headers


# ---------------------------------------------------------------- refusals


def test_an_unknown_model_is_404(api: Api) -> None:
    r = api.get("/v1/models/999999/timeline")
    assert_problem(r, 404, "/problems/registry-unknown-model", "999999")


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"kind": "vote"}, "kind"),
        ({"kind": ["vote_cast", "exploded"]}, "kind"),
        ({"cursor": "12:"}, "BLOCK:LOG_INDEX"),
        ({"cursor": "1:2:3"}, "BLOCK:LOG_INDEX"),
        ({"cursor": "a:b"}, "BLOCK:LOG_INDEX"),
        ({"from_block": 9, "to_block": 3}, "from_block 9 is after to_block 3"),
        ({"to_block": 10**12}, "not mined yet"),
        ({"from_block": 10**12}, "not mined yet"),
        ({"from_block": -1}, "from_block"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_filters_are_422(api: Api, story: Story, params: dict[str, Any], mentions: str) -> None:
    r = api.get(f"/v1/models/{story.model_id}/timeline", params=params)
    assert r.status_code == 422, r.text
    type_ = r.json()["type"]
    assert type_ in ("/problems/invalid-request", "/problems/invalid-input")
    body = assert_problem(r, 422, type_)
    assert mentions in json.dumps(body)


def test_a_cursor_past_the_range_gives_an_empty_last_page(api: Api, story: Story) -> None:
    latest = api.block_number()
    page = api.ok(f"/v1/models/{story.model_id}/timeline", params={"cursor": f"{latest + 5}:0"})
    assert (page["entries"], page["next_cursor"]) == ([], None)


def test_a_page_scans_a_bounded_number_of_blocks_and_the_cursors_still_cover_everything(
    api: Api, story: Story
) -> None:
    """The domain's Timeline on a real ledger with windows of 4 blocks and one window per page:
    pages stop after 4 blocks, however few entries they hold, and their cursors still lead
    through every entry once, in order."""
    ledger = connect_ledger(api.stack.settings)
    ledger.history.page_blocks = 4
    timeline = Timeline(ledger, windows_per_page=1)
    whole = everything(api, story.model_id)
    low, high = whole[0]["block"], whole[-1]["block"]
    seen: list[tuple[str, int, int]] = []
    cursor, pages = None, 0
    while True:
        page = timeline.page(story.model_id, from_block=low, to_block=high, cursor=cursor)
        pages += 1
        assert all(e.block < (cursor or Position(low, 0)).block + 4 for e in page.entries)
        seen += [(e.kind, e.block, e.log_index) for e in page.entries]
        if page.next_cursor is None:
            break
        assert page.next_cursor > (cursor or Position(0, 0))
        cursor = page.next_cursor
    assert seen == [(e["kind"], e["block"], e["log_index"]) for e in whole]
    assert pages == -(-(high - low + 1) // 4)
