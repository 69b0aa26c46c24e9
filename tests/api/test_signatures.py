"""Signed actions the service must not relay: a forged signature, another account's signature
and an expired one are refused with 401 problem+json naming the contract's error, and change
nothing: no transaction, no block, no nonce, no state. A replayed request (the same signed
action again) changes nothing either: it gets the first one's result back (retries are
idempotent; the journal keeps each relayed action's receipt)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from tests.api.conftest import (
    MEMBER2,
    MEMBER3,
    OWNER,
    READER,
    ZERO32,
    ZERO_ADDRESS,
    Api,
    alias_hex,
    assert_contract_error,
    cid_of,
    digest_of,
    fresh_artifact,
    tampered,
    unique_name,
)


@dataclass
class Scenario:
    """One signed action: who signs what, how it is sent, and what it would change."""

    action: str
    actor: LocalAccount
    args: dict[str, Any]
    send: Callable[[dict[str, Any]], httpx.Response]
    observe: Callable[[], Any]


def register_model(api: Api) -> Scenario:
    name = unique_name("sig")
    return Scenario(
        action="RegisterModel",
        actor=OWNER,
        args={"name": name, "metadataDigest": ZERO32, "restricted": False},
        send=lambda sig: api.post("/v1/models", json={"name": name, **sig}),
        observe=lambda: (
            api.ok("/v1/models", params={"limit": 1})["total"],
            api.get(f"/v1/models/by-name/{name}").status_code,
        ),
    )


def cast_vote(api: Api) -> Scenario:
    model = api.register(OWNER)
    version_id = api.propose(model["model_id"])["version_id"]
    return Scenario(
        action="CastVote",
        actor=MEMBER2,
        args={"versionId": version_id, "support": 1},
        send=lambda sig: api.post(
            f"/v1/versions/{version_id}/votes", json={"support": "for", **sig}
        ),
        observe=lambda: (
            api.ok(f"/v1/versions/{version_id}"),
            api.ok(f"/v1/versions/{version_id}/votes"),
        ),
    )


def move_alias(api: Api) -> Scenario:
    model_id = api.register(OWNER)["model_id"]
    version_id = api.approved_version(model_id)
    return Scenario(
        action="MoveAlias",
        actor=OWNER,
        args={"modelId": model_id, "aliasName": alias_hex("production"), "versionId": version_id},
        send=lambda sig: api.put(
            f"/v1/models/{model_id}/aliases/production", json={"version_id": version_id, **sig}
        ),
        observe=lambda: api.ok(f"/v1/models/{model_id}/aliases/production/history"),
    )


def grant_rights(api: Api) -> Scenario:
    model_id = api.register(OWNER, restricted=True)["model_id"]
    return Scenario(
        action="GrantRights",
        actor=OWNER,
        args={"modelId": model_id, "account": READER.address, "rights": 2},
        send=lambda sig: api.post(
            f"/v1/models/{model_id}/rights/{READER.address}/grant",
            json={"rights": ["read_artifacts"], **sig},
        ),
        observe=lambda: api.ok(f"/v1/models/{model_id}/rights"),
    )


def propose_change(api: Api) -> Scenario:
    return Scenario(
        action="ProposeChange",
        actor=MEMBER3,
        args={"kind": 3, "account": ZERO_ADDRESS, "value": 7200},
        send=lambda sig: api.post(
            "/v1/membership-proposals", json={"kind": "set_voting_period", "value": 7200, **sig}
        ),
        observe=lambda: (
            api.ok("/v1/membership-proposals", params={"limit": 500}),
            api.ok("/v1/consortium"),
        ),
    )


def propose_version(api: Api) -> Scenario:
    model_id = api.register(OWNER)["model_id"]
    data = fresh_artifact()
    return Scenario(
        action="ProposeVersion",
        actor=OWNER,
        args={
            "modelId": model_id,
            "parentId": 0,
            "kind": 0,
            "artifactDigest": digest_of(data),
            "metadataDigest": ZERO32,
        },
        send=lambda sig: api.post(
            f"/v1/models/{model_id}/versions",
            params={"artifact_format": "safetensors", "artifact_cid": str(cid_of(data)), **sig},
            content=data,
            headers={"content-type": "application/octet-stream"},
        ),
        observe=lambda: (api.ok(f"/v1/models/{model_id}/versions"), api.pins()),
    )


SCENARIOS = [register_model, cast_vote, move_alias, grant_rights, propose_change, propose_version]


def snapshot(api: Api, scenario: Scenario) -> dict[str, Any]:
    return {
        "block": api.block_number(),
        "relayer_transactions": api.relayer_tx_count(),
        "registry_nonce": api.nonce("CastVote", scenario.actor),
        "consortium_nonce": api.nonce("Resign", scenario.actor),
        "state": scenario.observe(),
    }


@pytest.mark.parametrize("make", SCENARIOS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("attack", ["forged", "another_account", "replayed", "expired"])
def test_bad_signature_is_401_and_changes_nothing(
    api: Api, make: Callable[[Api], Scenario], attack: str
) -> None:
    s = make(api)
    other = MEMBER3 if s.actor != MEMBER3 else MEMBER2
    if attack == "forged":
        sig = api.signed(s.action, s.actor, s.args)
        sig["signature"] = tampered(sig["signature"])
    elif attack == "another_account":
        sig = api.signed(s.action, s.actor, s.args, signer=other)
    elif attack == "replayed":
        sig = api.signed(s.action, s.actor, s.args)
        first = s.send(sig)
        assert first.status_code in (200, 201), first.text
    else:
        sig = api.signed(s.action, s.actor, s.args, deadline=int(time.time()) - 10)

    before = snapshot(api, s)
    r = s.send(sig)
    after = snapshot(api, s)

    if attack == "replayed":
        # the same signed request again is idempotent: the first one's result, nothing new
        assert r.status_code == first.status_code, r.text
        assert r.json()["transaction"] == first.json()["transaction"]
        assert after == before
        return
    if attack == "expired":
        body = assert_contract_error(r, 401, "SignedActionExpired", deadline=sig["deadline"])
        assert body["contract_error"]["arguments"]["timestamp"] > sig["deadline"]
    else:
        assert_contract_error(r, 401, "SignedActionInvalidSignature", actor=s.actor.address)
        assert s.actor.address in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("EIP712")
    assert after == before

    # the genuine signature of a fresh nonce still works afterwards (the refusal used nothing up)
    ok = s.send(api.signed(s.action, s.actor, s.args))
    assert ok.status_code in (200, 201), ok.text


def test_malformed_signature_is_refused_without_a_transaction(api: Api) -> None:
    s = register_model(api)
    sig = api.signed(s.action, s.actor, s.args)
    before = snapshot(api, s)
    for bad in ("0x" + "00" * 65, "0x" + "ab" * 64, "0x1234"):
        r = s.send({**sig, "signature": bad})
        assert_contract_error(r, 401, "SignedActionInvalidSignature", actor=OWNER.address)
    r = s.send({**sig, "signature": "not hex"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "signature"
    assert snapshot(api, s) == before
