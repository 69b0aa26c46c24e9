"""Federated rounds over HTTP against a real stack: a round from opening to its approved
aggregate, and the gate — every refusal changes nothing on chain or in the store."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from safetensors.numpy import save as safetensors_save

from service.chain.accounts import dev_account
from service.ml.aggregate import params_digest, rule_from, rule_id
from service.ml.safetensors_format import with_sorted_metadata
from service.ml.tensors import read_safetensors
from service.store.embedded import EmbeddedStore
from tests.api.conftest import (
    OWNER,
    Api,
    assert_contract_error,
    assert_problem,
    cid_of,
    digest_of,
    tampered,
)
from tests.api.test_versions import _raw_post, _store_bytes

PARTICIPANTS = [dev_account(i) for i in (5, 6, 7, 8, 9)]
SHAPES = {"weight": (16, 8), "bias": (8,)}
_seeds = itertools.count(1000)


def tensors(scale: float = 0.01, *, seed: int | None = None, **overrides: Any) -> dict[str, Any]:
    rng = np.random.default_rng(next(_seeds) if seed is None else seed)
    out: dict[str, Any] = {
        name: (rng.standard_normal(shape) * scale).astype(np.float32)
        for name, shape in SHAPES.items()
    }
    out.update(overrides)
    return out


def file_of(arrays: dict[str, Any]) -> bytes:
    return with_sorted_metadata(safetensors_save(arrays))


@dataclass
class Scene:
    model_id: int
    base_version: int
    base_bytes: bytes


def scene(api: Api, *, right: bool = True) -> Scene:
    """A model with an approved base of SHAPES; PARTICIPANTS hold SubmitUpdates if ``right``."""
    model_id = int(api.register(OWNER)["model_id"])
    base = file_of(tensors(1.0))
    version = api.approved_version(model_id, base)
    if right:
        for p in PARTICIPANTS:
            r = api.change_rights("grant", model_id, p.address, ["submit_updates"])
            assert r.status_code == 200, r.text
    return Scene(model_id=model_id, base_version=version, base_bytes=base)


def open_round(
    api: Api,
    s: Scene,
    *,
    rule: str = "fedavg",
    params: dict[str, Any] | None = None,
    min_updates: int = 2,
    max_updates: int = 4,
    max_norm: float = 10.0,
    deadline_in: int = 3600,
) -> dict[str, Any]:
    rule_obj = rule_from(rule, params or {})
    deadline = api.block_timestamp(api.block_number()) + deadline_in
    terms = {
        "modelId": s.model_id,
        "baseVersionId": s.base_version,
        "rule": "0x" + rule_id(rule_obj.name).hex(),
        "paramsDigest": "0x" + params_digest(rule_obj).hex(),
        "minUpdates": min_updates,
        "maxUpdates": max_updates,
        "submissionDeadline": deadline,
        "maxNorm": round(max_norm * 1_000_000),
    }
    sig = api.signed("OpenRound", OWNER, terms)
    r = api.post(
        f"/v1/models/{s.model_id}/rounds",
        json={
            "base_version_id": s.base_version,
            "rule": rule,
            "params": rule_obj.params,
            "min_updates": min_updates,
            "max_updates": max_updates,
            "submission_deadline": deadline,
            "max_norm": max_norm,
            **sig,
        },
    )
    assert r.status_code == 201, r.text
    round_: dict[str, Any] = r.json()["round"]
    return round_


def update_signature(
    api: Api,
    round_: dict[str, Any],
    participant: LocalAccount,
    data: bytes,
    *,
    samples: int = 10,
    signer: LocalAccount | None = None,
    signed_round: int | None = None,
    signed_base: str | None = None,
) -> dict[str, Any]:
    """The SubmitUpdate fields ``participant`` signs for ``data`` (by default for this round
    and its base), with its signature."""
    return api.signed(
        "SubmitUpdate",
        participant,
        {
            "roundId": signed_round or round_["round_id"],
            "baseDigest": signed_base or round_["base_digest"],
            "updateDigest": digest_of(data),
            "sampleCount": samples,
        },
        signer=signer,
    )


def submit(
    api: Api,
    round_: dict[str, Any],
    participant: LocalAccount,
    data: bytes,
    *,
    samples: int = 10,
    signer: LocalAccount | None = None,
    signed_round: int | None = None,
    signed_base: str | None = None,
    to_round: int | None = None,
) -> httpx.Response:
    sig = update_signature(
        api, round_, participant, data, samples=samples, signer=signer,
        signed_round=signed_round, signed_base=signed_base,
    )  # fmt: skip
    return api.post_bytes(
        f"/v1/rounds/{to_round or round_['round_id']}/updates",
        {"update_cid": str(cid_of(data)), "sample_count": samples, **sig},
        data,
    )


def round_action(
    api: Api, action: str, round_id: int, actor: LocalAccount = OWNER
) -> httpx.Response:
    path = {"CloseRound": "close", "CancelRound": "cancel", "FinalizeRound": "finalize"}[action]
    if action == "FinalizeRound":
        aggregation = api.post(f"/v1/rounds/{round_id}/aggregate")
        assert aggregation.status_code == 200, aggregation.text
        sig = api.signed(action, actor, aggregation.json()["finalize_args"])
    else:
        sig = api.signed(action, actor, {"roundId": round_id})
    return api.post(f"/v1/rounds/{round_id}/{path}", json=sig)


def observe(api: Api, round_id: int) -> dict[str, Any]:
    """What a refused submission must leave as it was: the round, the pins, the relayer's
    transactions and the bytes the store holds on disk."""
    return {
        "round": api.ok(f"/v1/rounds/{round_id}"),
        "pins": api.pins(),
        "relayed": api.relayer_tx_count(),
        "store_bytes": _store_bytes(api),
    }


# ---------------------------------------------------------------- a whole round


def test_a_round_from_opening_to_its_approved_aggregate(api: Api) -> None:
    s = scene(api)
    round_ = open_round(api, s, min_updates=3, max_updates=3)
    assert round_["state"] == "open" and round_["rule"] == "fedavg"
    waiting = api.ok("/v1/rounds", params={"participant": PARTICIPANTS[0].address})["items"]
    assert round_["round_id"] in [r["round_id"] for r in waiting]

    updates = {}
    for i, p in enumerate(PARTICIPANTS[:3]):
        data = file_of(tensors())
        r = submit(api, round_, p, data, samples=10 * (i + 1))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["update"]["update_cid"] == str(cid_of(data))
        assert body["update"]["participant"] == p.address
        updates[p.address] = (data, 10 * (i + 1))
    # the third update filled the round: it closed in the same transaction
    assert body["round"]["state"] == "closed"
    assert round_["round_id"] not in [
        r["round_id"]
        for r in api.ok("/v1/rounds", params={"participant": PARTICIPANTS[0].address})["items"]
    ]

    agg = api.post(f"/v1/rounds/{round_['round_id']}/aggregate")
    assert agg.status_code == 200, agg.text
    aggregation = agg.json()
    assert [u["participant"] for u in aggregation["included"]] == sorted(updates, key=str.lower)
    assert aggregation["excluded"] == []
    again = api.post(f"/v1/rounds/{round_['round_id']}/aggregate").json()
    assert again == aggregation  # the same bytes, the same CIDs

    # FedAvg by hand: the sample-weighted mean of the updates, added to the base
    base = read_safetensors(s.base_bytes)
    total = sum(n for _, n in updates.values())
    expected = {
        k: (
            base[k].astype(np.float64)
            + sum(read_safetensors(d)[k].astype(np.float64) * n for d, n in updates.values())
            / total
        )
        for k in base
    }
    # nothing on chain names the aggregate yet: the service does not serve it
    assert api.get(f"/v1/artifacts/{aggregation['aggregate_cid']}").status_code == 404

    r = round_action(api, "FinalizeRound", round_["round_id"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["round"]["state"] == "finalized"
    version = api.ok(f"/v1/versions/{done['version_id']}")
    assert (version["kind"], version["parent_id"]) == ("aggregate", s.base_version)
    assert version["artifact_cid"] == aggregation["aggregate_cid"]
    assert version["metadata_digest"] == aggregation["metadata_digest"]
    document = api.get(f"/v1/artifacts/{aggregation['metadata_cid']}").json()
    assert document["inclusion_root"] == done["round"]["inclusion_root"]
    assert [u["participant"] for u in document["included"]] == [
        u["participant"] for u in aggregation["included"]
    ]
    assert "evaluation" not in document  # the model registers no evaluation set
    assert aggregation["evaluation"] is None
    stored = api.get(f"/v1/versions/{done['version_id']}/artifact")
    assert stored.status_code == 200
    got = read_safetensors(stored.content)
    for k in base:
        assert np.allclose(got[k], expected[k], atol=1e-6)
    api.approve(done["version_id"])
    assert api.ok(f"/v1/versions/{done['version_id']}")["state"] == "approved"


def test_multi_krum_excludes_a_scaled_update_and_the_chain_says_so(api: Api) -> None:
    s = scene(api)
    round_ = open_round(
        api, s, rule="multi-krum", params={"f": 1}, min_updates=5, max_updates=5, max_norm=1000.0
    )
    honest = [tensors(0.01) for _ in range(4)]
    poisoned = {k: v * -400 for k, v in tensors(0.01).items()}
    for p, arrays in zip(PARTICIPANTS, [*honest, poisoned], strict=True):
        r = submit(api, round_, p, file_of(arrays))
        assert r.status_code == 201, r.text
    agg = api.post(f"/v1/rounds/{round_['round_id']}/aggregate")
    assert agg.status_code == 200, agg.text
    aggregation = agg.json()
    assert [(e["participant"], e["reason"], e["code"]) for e in aggregation["excluded"]] == [
        (PARTICIPANTS[4].address, "not_selected", 1)
    ]
    r = round_action(api, "FinalizeRound", round_["round_id"])
    assert r.status_code == 200, r.text
    done = r.json()["round"]
    assert (done["included_count"], done["excluded_count"]) == (4, 1)
    receipt = api.rpc("eth_getTransactionReceipt", r.json()["transaction"]["transaction_hash"])
    topic = (
        "0x" + __import__("eth_utils").keccak(text="UpdateExcluded(uint256,address,uint8)").hex()
    )
    excluded_logs = [log for log in receipt["logs"] if log["topics"][0] == topic]
    assert len(excluded_logs) == 1
    assert excluded_logs[0]["topics"][2][-40:].lower() == PARTICIPANTS[4].address[2:].lower()
    assert int(excluded_logs[0]["data"], 16) == 1  # NOT_SELECTED


def evaluated_scene(
    api: Api, base: bytes, *, evaluation: bytes | None = None, restricted: bool = False
) -> Scene:
    """A model whose metadata document registers ``evaluation`` (default: the digits test
    split) as its evaluation set, with ``base`` approved and PARTICIPANTS holding
    SubmitUpdates."""
    from tests.api.test_builds import evaluation_bytes, evaluation_request

    stored = evaluation_request(api, evaluation or evaluation_bytes())
    assert stored.status_code == 201, stored.text
    doc = api.store_metadata({"task": "digits", "evaluation": {"cid": stored.json()["cid"]}})
    model_id = int(
        api.register(OWNER, restricted=restricted, metadata_digest=doc["digest"])["model_id"]
    )
    version = api.approved_version(model_id, base)
    for p in PARTICIPANTS[:2]:
        r = api.change_rights("grant", model_id, p.address, ["submit_updates"])
        assert r.status_code == 200, r.text
    return Scene(model_id=model_id, base_version=version, base_bytes=base)


def aggregated_document(
    api: Api, s: Scene, updates: list[bytes], *, answered: bool = True
) -> dict[str, Any]:
    """The aggregate's metadata document (and its bytes) after the round of ``updates``; the
    API's answer gives the same evaluation (``answered``) or none (a restricted model's)."""
    round_ = open_round(api, s, min_updates=2, max_updates=2, max_norm=1000.0)
    for p, data in zip(PARTICIPANTS, updates, strict=False):
        r = submit(api, round_, p, data, samples=300)
        assert r.status_code == 201, r.text
    agg = api.post(f"/v1/rounds/{round_['round_id']}/aggregate")
    assert agg.status_code == 200, agg.text
    # nothing on chain names them before FinalizeRound: read from the store's directory
    store = EmbeddedStore(api.stack.settings.store_dir)
    document: dict[str, Any] = json.loads(store.get_bytes(agg.json()["metadata_cid"]))
    document["aggregate_bytes"] = store.get_bytes(agg.json()["aggregate_cid"])
    said = agg.json()["evaluation"]
    assert said == (document.get("evaluation") if answered else None)  # the API says the same
    return document


def test_the_aggregate_is_measured_on_the_models_evaluation_set(api: Api) -> None:
    """The aggregate's metadata document holds its held-out accuracy and its base's, measured on
    the evaluation set the model registers: what the test split gives when measured here."""
    import torch

    from service.ml import federated
    from service.ml.digits import DigitsMLP, save_safetensors

    torch.manual_seed(7)
    base_model = DigitsMLP()
    base_bytes = save_safetensors(base_model)
    base = read_safetensors(base_bytes)
    updates = [
        federated.local_update(
            base, federated.sample_shard(300, seed=i), epochs=3, learning_rate=0.1, seed=i
        )
        for i in (1, 2)
    ]
    s = evaluated_scene(api, base_bytes)
    document = aggregated_document(api, s, [file_of(u) for u in updates])

    evaluation = document["evaluation"]
    registered = EmbeddedStore(api.stack.settings.store_dir).get_bytes(evaluation["cid"])
    rows = len(read_safetensors(registered)["labels"])
    assert (evaluation["metric"], evaluation["rows"]) == ("accuracy", rows)
    assert evaluation["base_accuracy"] == pytest.approx(federated.accuracy(base), abs=1 / rows)
    aggregate = read_safetensors(document["aggregate_bytes"])
    assert evaluation["aggregate_accuracy"] == pytest.approx(
        federated.accuracy(aggregate), abs=1 / rows
    )
    assert evaluation["aggregate_accuracy"] > evaluation["base_accuracy"] + 0.2


def test_an_evaluation_set_the_weights_cannot_be_run_on_is_reported_not_fatal(api: Api) -> None:
    """Weights of no known architecture aggregate as before; the document says why they were
    not measured."""
    s = evaluated_scene(api, file_of(tensors(1.0)))
    document = aggregated_document(api, s, [file_of(tensors()), file_of(tensors())])
    assert "base_accuracy" not in document["evaluation"]
    assert "architecture" in document["evaluation"]["unmeasured"]


def test_an_evaluation_set_that_does_not_fit_the_architecture_is_reported_not_fatal(
    api: Api,
) -> None:
    """Digits weights and an evaluation set of 10 features per row (the MLP takes 64): the
    forward pass fails, and the aggregation still answers, the document saying why."""
    from service.ml.digits import DigitsMLP, save_safetensors

    rng = np.random.default_rng(3)
    wrong = safetensors_save(
        {
            "inputs": rng.standard_normal((20, 10)).astype(np.float32),
            "labels": rng.integers(0, 10, 20).astype(np.int64),
        }
    )
    base_bytes = save_safetensors(DigitsMLP())
    zero = {k: np.zeros_like(v) for k, v in read_safetensors(base_bytes).items()}
    s = evaluated_scene(api, base_bytes, evaluation=wrong)
    document = aggregated_document(api, s, [file_of(zero), file_of(zero)])
    assert "base_accuracy" not in document["evaluation"]
    assert "cannot be run through these weights" in document["evaluation"]["unmeasured"]


def test_a_restricted_models_held_out_accuracy_is_not_in_the_anonymous_answer(api: Api) -> None:
    """Aggregating needs no session; a restricted model's evaluation set and accuracies stay in
    the aggregate's metadata document, which its readers read under the model's rule."""
    from service.ml.digits import DigitsMLP, save_safetensors

    base_bytes = save_safetensors(DigitsMLP())
    zero = {k: np.zeros_like(v) for k, v in read_safetensors(base_bytes).items()}
    s = evaluated_scene(api, base_bytes, restricted=True)
    document = aggregated_document(api, s, [file_of(zero), file_of(zero)], answered=False)
    assert document["evaluation"]["base_accuracy"] == document["evaluation"]["aggregate_accuracy"]


# ---------------------------------------------------------------- the gate


@pytest.fixture
def open_scene(api: Api) -> tuple[Scene, dict[str, Any]]:
    s = scene(api)
    return s, open_round(api, s, max_norm=1.0)


def refused(
    api: Api, round_: dict[str, Any], response: httpx.Response, before: dict[str, Any]
) -> None:
    assert response.status_code >= 400, response.text
    assert observe(api, round_["round_id"]) == before


def test_an_update_without_the_right_is_refused_before_its_body(
    api: Api, open_scene: tuple[Scene, dict[str, Any]]
) -> None:
    _, round_ = open_scene
    stranger = Account.create()  # holds no right on the model (and no funds: the relayer pays)
    before = observe(api, round_["round_id"])
    r = submit(api, round_, stranger, file_of(tensors()))
    assert_contract_error(r, 403, "RoundsNotContributor", account=stranger.address)
    refused(api, round_, r, before)


def test_a_right_revoked_mid_round_stops_the_next_update(
    api: Api, open_scene: tuple[Scene, dict[str, Any]]
) -> None:
    s, round_ = open_scene
    assert submit(api, round_, PARTICIPANTS[0], file_of(tensors())).status_code == 201
    r = api.change_rights("revoke", s.model_id, PARTICIPANTS[1].address, ["submit_updates"])
    assert r.status_code == 200
    before = observe(api, round_["round_id"])
    r = submit(api, round_, PARTICIPANTS[1], file_of(tensors()))
    assert_contract_error(r, 403, "RoundsNotContributor", account=PARTICIPANTS[1].address)
    refused(api, round_, r, before)


def test_a_second_update_of_a_participant_is_refused(
    api: Api, open_scene: tuple[Scene, dict[str, Any]]
) -> None:
    _, round_ = open_scene
    assert submit(api, round_, PARTICIPANTS[0], file_of(tensors())).status_code == 201
    before = observe(api, round_["round_id"])
    r = submit(api, round_, PARTICIPANTS[0], file_of(tensors()))
    assert_contract_error(r, 409, "RoundsAlreadySubmitted", participant=PARTICIPANTS[0].address)
    refused(api, round_, r, before)


@pytest.mark.parametrize("how", ["closed", "cancelled"])
def test_updates_to_a_closed_or_cancelled_round_are_refused(
    api: Api, open_scene: tuple[Scene, dict[str, Any]], how: str
) -> None:
    _, round_ = open_scene
    action = {"closed": "CloseRound", "cancelled": "CancelRound"}[how]
    r = round_action(api, action, round_["round_id"])
    assert r.status_code == 200, r.text
    assert r.json()["round"]["state"] == how
    before = observe(api, round_["round_id"])
    r = submit(api, round_, PARTICIPANTS[0], file_of(tensors()))
    assert_contract_error(r, 409, "RoundsUnexpectedState")
    refused(api, round_, r, before)


def test_bad_and_replayed_signatures_are_refused(
    api: Api, open_scene: tuple[Scene, dict[str, Any]]
) -> None:
    s, round_ = open_scene
    other = open_round(api, s, max_norm=1.0)
    other_model = scene(api)
    elsewhere = open_round(api, other_model, max_norm=1.0)
    data = file_of(tensors())
    before = observe(api, round_["round_id"])
    # another key's signature
    r = submit(api, round_, PARTICIPANTS[0], data, signer=PARTICIPANTS[1])
    assert_contract_error(r, 401, "SignedActionInvalidSignature", actor=PARTICIPANTS[0].address)
    refused(api, round_, r, before)
    # signed for another round of the same model, sent to this one
    r = submit(api, round_, PARTICIPANTS[0], data, signed_round=other["round_id"])
    assert_contract_error(r, 401, "SignedActionInvalidSignature")
    refused(api, round_, r, before)
    # signed for a round of another model, sent here
    r = submit(api, round_, PARTICIPANTS[0], data, signed_round=elsewhere["round_id"])
    assert_contract_error(r, 401, "SignedActionInvalidSignature")
    refused(api, round_, r, before)
    # signed over another base
    r = submit(api, round_, PARTICIPANTS[0], data, signed_base="0x" + "ab" * 32)
    assert_contract_error(r, 401, "SignedActionInvalidSignature")
    refused(api, round_, r, before)
    # a tampered signature
    sig = update_signature(api, round_, PARTICIPANTS[0], data)
    sig["signature"] = tampered(sig["signature"])
    r = api.post_bytes(
        f"/v1/rounds/{round_['round_id']}/updates",
        {"update_cid": str(cid_of(data)), "sample_count": 10, **sig},
        data,
    )
    assert_contract_error(r, 401, "SignedActionInvalidSignature")
    refused(api, round_, r, before)


def _with(**overrides: Any) -> dict[str, Any]:
    return {"weight": np.zeros((16, 8), np.float32), "bias": np.zeros(8, np.float32), **overrides}


@pytest.mark.parametrize(
    ("what", "arrays", "mention"),
    [
        ("names", {"weights": np.zeros((16, 8), np.float32), "bias": np.zeros(8, np.float32)},
         "weight"),
        ("shape", _with(weight=np.zeros((8, 16), np.float32)), "shape"),
        ("dtype", _with(weight=np.zeros((16, 8), np.float64)), "dtype"),
        ("nan", _with(weight=np.full((16, 8), np.nan, np.float32)), "finite"),
        ("inf", _with(weight=np.full((16, 8), np.inf, np.float32)), "finite"),
        ("norm", _with(weight=np.ones((16, 8), np.float32)), "norm"),
    ],
    ids=["names", "shape", "dtype", "nan", "inf", "norm"],
)  # fmt: skip
def test_updates_that_do_not_fit_the_base_are_refused_and_not_kept(
    api: Api, open_scene: tuple[Scene, dict[str, Any]], what: str, arrays: dict[str, Any],
    mention: str,
) -> None:  # fmt: skip
    _, round_ = open_scene
    before = observe(api, round_["round_id"])
    r = submit(api, round_, PARTICIPANTS[0], file_of(arrays))
    body = assert_problem(r, 422, "/problems/invalid-artifact")
    assert mention in body["detail"].lower(), body["detail"]
    refused(api, round_, r, before)
    # the participant's nonce was not used: a good update goes through
    assert submit(api, round_, PARTICIPANTS[0], file_of(tensors())).status_code == 201


def test_an_update_over_the_size_bound_is_refused_before_its_body(
    api: Api, open_scene: tuple[Scene, dict[str, Any]]
) -> None:
    """An update's exact data size is the base's, so a longer announced body is refused by the
    pre-check: with the whole body, and over a raw socket announcing 5 MB and sending 64 KiB
    of it (the answer comes without the rest; nothing reaches the store's disk)."""
    _, round_ = open_scene
    data = file_of(tensors()) + b"\0" * 200_000
    before = observe(api, round_["round_id"])
    r = submit(api, round_, PARTICIPANTS[0], data)
    assert_problem(
        r, 422, "/problems/invalid-artifact", f"{len(data)} bytes is more than it can be"
    )
    refused(api, round_, r, before)

    sig = update_signature(api, round_, PARTICIPANTS[0], data)
    query = urlencode({"update_cid": str(cid_of(data)), "sample_count": 10, **sig})
    status, answer = _raw_post(
        api, f"/v1/rounds/{round_['round_id']}/updates?{query}", 5_000_000, b"\0" * 65_536
    )
    assert status == 422, answer
    assert b"5000000 bytes is more than it can be" in answer
    assert observe(api, round_["round_id"]) == before
    # the refusal used nothing up: the participant's right update goes through
    assert submit(api, round_, PARTICIPANTS[0], file_of(tensors())).status_code == 201


def test_an_update_past_the_deadline_is_refused(api: Api) -> None:
    s = scene(api)
    round_ = open_round(api, s, deadline_in=120)
    api.increase_time(300)
    before = observe(api, round_["round_id"])
    r = submit(api, round_, PARTICIPANTS[0], file_of(tensors()))
    assert r.status_code in (409, 401), r.text  # closed at its deadline (or the signature too)
    refused(api, round_, r, before)
    assert api.ok(f"/v1/rounds/{round_['round_id']}")["round"]["state"] == "closed"
    time.sleep(0)  # keep the chain's clock where it is for later tests


@pytest.mark.parametrize("max_norm", [1.5e307, 1e13, 0.0, -1.0])
def test_a_norm_bound_out_of_range_is_refused_as_bad_input(api: Api, max_norm: float) -> None:
    s = scene(api, right=False)
    relayed = api.relayer_tx_count()
    r = api.post(
        f"/v1/models/{s.model_id}/rounds",
        json={
            "base_version_id": s.base_version,
            "rule": "fedavg",
            "min_updates": 2,
            "max_updates": 4,
            "submission_deadline": api.block_timestamp(api.block_number()) + 3600,
            "max_norm": max_norm,
            "actor": OWNER.address,
            "nonce": 0,
            "deadline": 2**40,
            "signature": "0x" + "11" * 65,
        },
    )
    assert_problem(r, 422, "/problems/invalid-request", "max_norm")
    assert api.relayer_tx_count() == relayed
