"""Numbers at and past the bounds of the Solidity types they stand for.

Every signed field and numeric input is a uint256 (or uint64) on chain: a larger number is
refused with 422 naming the field, before any work (it used to crash the request with 500).
Numbers the published JSON Schema calls integers (``961.0``) are taken as integers; ``961.5``
is not an integer and is refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    MEMBER2,
    OWNER,
    READER,
    ZERO32,
    Api,
    assert_contract_error,
    assert_problem,
    fresh_artifact,
    unique_name,
)

TOO_BIG = 2**256
UINT256_MAX = 2**256 - 1
SIG = "0x" + "11" * 65


def sig(**fields: Any) -> dict[str, Any]:
    deadline = int(time.time()) + 3600  # within the service's bound on deadlines
    return {"actor": OWNER.address, "nonce": 0, "deadline": deadline, "signature": SIG, **fields}


def requests(api: Api) -> dict[str, Callable[[dict[str, Any]], httpx.Response]]:
    """One request per signed JSON endpoint, taking the signed fields to send."""
    model_id = api.register(OWNER)["model_id"]
    version_id = api.propose(model_id)["version_id"]
    return {
        "register": lambda f: api.post("/v1/models", json={"name": unique_name(), **f}),
        "metadata": lambda f: api.put(
            f"/v1/models/{model_id}/metadata", json={"metadata_digest": ZERO32, **f}
        ),
        "owner": lambda f: api.put(
            f"/v1/models/{model_id}/owner", json={"new_owner": MEMBER2.address, **f}
        ),
        "read-policy": lambda f: api.put(
            f"/v1/models/{model_id}/read-policy", json={"restricted": True, **f}
        ),
        "grant": lambda f: api.post(
            f"/v1/models/{model_id}/rights/{READER.address}/grant",
            json={"rights": ["read_artifacts"], **f},
        ),
        "vote": lambda f: api.post(
            f"/v1/versions/{version_id}/votes", json={"support": "for", **f}
        ),
        "alias": lambda f: api.put(
            f"/v1/models/{model_id}/aliases/production", json={"version_id": 0, **f}
        ),
        "membership": lambda f: api.post(
            "/v1/membership-proposals", json={"kind": "set_quorum", "value": 5000, **f}
        ),
        "resign": lambda f: api.post("/v1/members/resign", json=f),
    }


@pytest.mark.parametrize("field", ["nonce", "deadline"])
def test_signed_fields_past_uint256_are_422(api: Api, field: str) -> None:
    sends = requests(api)
    before = api.relayer_tx_count()
    for name, send in sends.items():
        r = send(sig(**{field: TOO_BIG}))
        body = assert_problem(r, 422, "/problems/invalid-request", field, str(UINT256_MAX))
        assert [e["field"] for e in body["errors"]] == [field], name
        # the largest uint256 is a valid number: the request gets as far as the signature, or,
        # as a deadline, to the service's bound on how far out a deadline may be
        r = send(sig(**{field: UINT256_MAX}))
        if field == "deadline":
            assert_problem(r, 422, "/problems/invalid-input", "GOVLEDGER_MAX_DEADLINE_S")
        else:
            assert r.status_code in (401, 403, 404, 409), name
    assert api.relayer_tx_count() == before


def test_other_numbers_past_their_solidity_types_are_422(api: Api) -> None:
    model_id = api.register(OWNER)["model_id"]
    r = api.put(f"/v1/models/{model_id}/aliases/production", json={"version_id": TOO_BIG, **sig()})
    assert_problem(r, 422, "/problems/invalid-request", "version_id", str(UINT256_MAX))
    r = api.post("/v1/membership-proposals", json={"kind": "set_quorum", "value": 2**64, **sig()})
    assert_problem(r, 422, "/problems/invalid-request", "value", str(2**64 - 1))

    prepare = {"action": "CastVote", "actor": OWNER.address}
    r = api.post("/v1/actions/prepare", json={**prepare, "args": {"versionId": 1, "support": 1},
                                              "deadline": TOO_BIG})  # fmt: skip
    assert_problem(r, 422, "/problems/invalid-request", "deadline", str(UINT256_MAX))
    r = api.post("/v1/actions/prepare", json={**prepare, "args": {"versionId": TOO_BIG,
                                                                   "support": 1}})  # fmt: skip
    assert_problem(r, 422, "/problems/invalid-input", "versionId", "2**256 - 1")


@pytest.mark.parametrize("field", ["nonce", "deadline"])
def test_upload_query_numbers_past_uint256_are_422(api: Api, field: str) -> None:
    model_id = api.register(OWNER)["model_id"]
    params = {"artifact_format": "safetensors", **sig(**{field: TOO_BIG})}
    r = api.post(
        f"/v1/models/{model_id}/versions",
        params=params,
        content=fresh_artifact(),
        headers={"content-type": "application/octet-stream"},
    )
    assert_problem(r, 422, "/problems/invalid-request", field, str(UINT256_MAX))
    assert api.ok(f"/v1/models/{model_id}/versions")["total"] == 0


def test_integer_valued_numbers_are_integers(api: Api) -> None:
    """961.0 is an integer under JSON Schema: a vote with nonce 3.0 is the vote with nonce 3."""
    model_id = api.register(OWNER)["model_id"]
    version_id = api.propose(model_id)["version_id"]
    fields = api.signed("CastVote", MEMBER2, {"versionId": version_id, "support": 1})
    as_floats = {**fields, "nonce": float(fields["nonce"]), "deadline": float(fields["deadline"])}
    half = {**as_floats, "nonce": fields["nonce"] + 0.5}
    r = api.post(f"/v1/versions/{version_id}/votes", json={"support": "for", **half})
    assert_problem(r, 422, "/problems/invalid-request", "nonce", "must be an integer")
    r = api.post(f"/v1/versions/{version_id}/votes", json={"support": "for", **as_floats})
    assert r.status_code == 201, r.text
    assert r.json()["vote"]["voter"] == MEMBER2.address

    # the actions' arguments and deadline too, and an alias's version id
    prepared = api.prepare(
        "CastVote", MEMBER2, {"versionId": float(version_id), "support": 1.0}, deadline=2e9
    )
    assert prepared["typed_data"]["message"]["versionId"] == version_id
    assert prepared["deadline"] == 2_000_000_000
    r = api.post(
        "/v1/actions/prepare",
        json={"action": "CastVote", "actor": OWNER.address, "args": {"versionId": 1.5,
                                                                       "support": 1}},
    )  # fmt: skip
    assert_problem(r, 422, "/problems/invalid-input", "versionId", "1.5")
    r = api.put(f"/v1/models/{model_id}/aliases/production", json={"version_id": 0.0, **sig()})
    assert_contract_error(r, 401, "SignedActionInvalidSignature")  # parsed, then checked

    # exact only up to 2**53: a larger number with a fraction or exponent is refused
    r = api.post(
        f"/v1/versions/{version_id}/votes",
        json={"support": "for", **{**fields, "deadline": float(2**60)}},
    )
    assert_problem(r, 422, "/problems/invalid-request", "deadline", "2**53", "digits only")


def test_query_and_path_integers_as_numbers(api: Api) -> None:
    """Query and path parameters are text: "2.0" is read as 2, "2.5" refused."""
    model = api.register(OWNER)
    models = api.get("/v1/models", params={"limit": "2.0"})
    assert models.status_code == 200, models.text
    assert models.json()["limit"] == 2
    assert_problem(
        api.get("/v1/models", params={"limit": "2.5"}), 422, "/problems/invalid-request", "limit"
    )
    assert api.ok(f"/v1/models/{model['model_id']}.0") == model


def test_a_block_past_any_chain_is_422_and_offsets_past_the_end_are_empty(api: Api) -> None:
    model_id = api.register(OWNER)["model_id"]
    page = api.ok("/v1/models", params={"offset": TOO_BIG})
    assert (page["items"], page["offset"]) == ([], TOO_BIG)
    r = api.get(f"/v1/models/{model_id}/aliases/production", params={"block": TOO_BIG})
    assert_problem(r, 422, "/problems/invalid-input", "block")
