"""Models over HTTP: register, read, list and search, metadata documents, owner, read policy."""

from __future__ import annotations

import hashlib
import json

import httpx
from eth_utils import keccak, to_checksum_address

from service.store.embedded import EmbeddedStore
from tests.api.conftest import (
    MEMBER2,
    MEMBER3,
    OUTSIDER,
    OWNER,
    ZERO32,
    ZERO_ADDRESS,
    Api,
    assert_contract_error,
    assert_problem,
    cid_of,
    digest_of,
    fresh_artifact,
    unique_name,
)


def test_register_and_read_back(api: Api) -> None:
    name = unique_name("digits")
    sig = api.signed(
        "RegisterModel", OWNER, {"name": name, "metadataDigest": ZERO32, "restricted": True}
    )
    r = api.post("/v1/models", json={"name": name, "restricted": True, **sig})
    assert r.status_code == 201, r.text
    body = r.json()
    model = body["model"]
    assert model["name"] == name
    assert model["owner"] == OWNER.address
    assert model["restricted"] is True
    assert model["metadata_digest"] == ZERO32
    tx = body["transaction"]
    assert tx["block_number"] == api.block_number()
    receipt = api.rpc("eth_getTransactionReceipt", tx["transaction_hash"])
    assert int(receipt["status"], 16) == 1

    assert api.ok(f"/v1/models/{model['model_id']}") == model
    assert api.ok(f"/v1/models/by-name/{name}") == model


def test_list_and_search_by_name_and_owner(api: Api) -> None:
    tag = unique_name("search")
    mine = [api.register(OWNER, f"{tag}-a"), api.register(OWNER, f"{tag}-b")]
    theirs = api.register(MEMBER2, f"{tag}-c")

    found = api.ok("/v1/models", params={"name": tag})
    assert found["total"] == 3
    assert found["items"] == [*mine, theirs]

    by_owner = api.ok("/v1/models", params={"name": tag, "owner": MEMBER2.address.lower()})
    assert by_owner["items"] == [theirs]

    page = api.ok("/v1/models", params={"name": tag, "offset": 1, "limit": 1})
    indexed_to = page.pop("indexed_to_block")  # the event index's head (null: chain alone)
    assert page == {"items": [mine[1]], "total": 3, "offset": 1, "limit": 1}
    assert indexed_to is None or indexed_to <= api.block_number()

    everything = api.ok("/v1/models", params={"limit": 500})
    assert {m["model_id"] for m in [*mine, theirs]} <= {m["model_id"] for m in everything["items"]}


def test_duplicate_name_is_409_and_names_the_holder(api: Api) -> None:
    first = api.register(OWNER)
    name = first["name"]
    sig = api.signed(
        "RegisterModel", MEMBER2, {"name": name, "metadataDigest": ZERO32, "restricted": False}
    )
    r = api.post("/v1/models", json={"name": name, **sig})
    assert_contract_error(
        r, 409, "RegistryDuplicateName", name=name, existingModelId=first["model_id"]
    )
    assert name in r.json()["detail"]
    assert api.ok(f"/v1/models/by-name/{name}")["owner"] == OWNER.address


def test_invalid_name_is_422_naming_the_field(api: Api) -> None:
    sig = api.signed(
        "RegisterModel", OWNER, {"name": "Bad Name", "metadataDigest": ZERO32, "restricted": False}
    )
    r = api.post("/v1/models", json={"name": "Bad Name", **sig})
    body = assert_problem(r, 422, "/problems/invalid-request", "name")
    assert [e["field"] for e in body["errors"]] == ["name"]
    # the rule in words, what breaks it and a name that keeps it; no regular expression
    said = body["errors"][0]["message"]
    assert said.startswith("model name 'Bad Name' has upper-case letters and spaces")
    assert "each a lower-case letter a-z, a digit 0-9, a dot, an underscore or a hyphen" in said
    assert "'bad-name' would do" in said and "[a-z" not in body["detail"]

    r = api.get("/v1/models/by-name/Bad%20Name")
    body = assert_problem(r, 422, "/problems/invalid-input", "'bad-name' would do")
    assert "[a-z" not in body["detail"]


def test_non_member_cannot_register(api: Api) -> None:
    name = unique_name()
    sig = api.signed(
        "RegisterModel", OUTSIDER, {"name": name, "metadataDigest": ZERO32, "restricted": False}
    )
    r = api.post("/v1/models", json={"name": name, **sig})
    assert_contract_error(r, 403, "RegistryNotMember", account=OUTSIDER.address)
    assert OUTSIDER.address in r.json()["detail"]
    assert_problem(api.get(f"/v1/models/by-name/{name}"), 404, "/problems/not-found", name)


def test_unknown_model_is_404(api: Api) -> None:
    r = api.get("/v1/models/999999")
    assert_contract_error(r, 404, "RegistryUnknownModel", modelId=999999)
    assert "999999" in r.json()["detail"]
    assert_problem(api.get("/v1/models/0"), 422, "/problems/invalid-request", "model_id")
    assert_problem(api.get("/v1/models/x"), 422, "/problems/invalid-request", "model_id")


def test_metadata_document_round_trip(api: Api) -> None:
    doc = {"description": "MLP on digits", "framework": "pytorch", "run": unique_name()}
    raw = json.dumps(doc, indent=1).encode()
    r = api.metadata_request(raw)
    assert r.status_code == 201, r.text
    stored = r.json()
    # the document is stored as sent: one raw block, its digest the sha2-256 of the bytes
    assert stored["size"] == len(raw)
    assert stored["digest"] == "0x" + hashlib.sha256(raw).hexdigest()
    assert stored["cid"] == str(cid_of(raw))
    assert stored["cid"] in api.pins()

    model = api.register(OWNER)
    model_id = model["model_id"]
    assert_problem(
        api.get(f"/v1/models/{model_id}/metadata"), 404, "/problems/not-found", "no metadata"
    )

    sig = api.signed(
        "SetModelMetadata", OWNER, {"modelId": model_id, "metadataDigest": stored["digest"]}
    )
    r = api.put(
        f"/v1/models/{model_id}/metadata", json={"metadata_digest": stored["digest"], **sig}
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"]["metadata_digest"] == stored["digest"]
    assert api.ok(f"/v1/models/{model_id}/metadata") == doc

    # a model registered with the digest serves the same document
    other = api.register(MEMBER2, metadata_digest=stored["digest"])
    assert api.ok(f"/v1/models/{other['model_id']}/metadata") == doc


def test_metadata_failures(api: Api) -> None:
    assert_problem(
        api.metadata_request(json.dumps(["not", "an", "object"]).encode()),
        422,
        "/problems/invalid-input",
        "JSON object",
    )
    assert_problem(api.metadata_request(b"{not json"), 422, "/problems/invalid-input", "not JSON")
    big = {"blob": "x" * (256 * 1024)}
    assert_problem(api.metadata_request(big), 413, "/problems/payload-too-large", "262144")

    # a digest the store does not hold
    model = api.register(OWNER)
    unknown = "0x" + "ab" * 32
    sig = api.signed(
        "SetModelMetadata", OWNER, {"modelId": model["model_id"], "metadataDigest": unknown}
    )
    r = api.put(
        f"/v1/models/{model['model_id']}/metadata", json={"metadata_digest": unknown, **sig}
    )
    assert r.status_code == 200, r.text
    assert_problem(
        api.get(f"/v1/models/{model['model_id']}/metadata"),
        404,
        "/problems/not-found",
        "does not hold",
    )

    # only the owner may change it
    sig = api.signed(
        "SetModelMetadata", MEMBER2, {"modelId": model["model_id"], "metadataDigest": ZERO32}
    )
    r = api.put(f"/v1/models/{model['model_id']}/metadata", json={"metadata_digest": ZERO32, **sig})
    assert_contract_error(
        r, 403, "RegistryNotModelOwner", modelId=model["model_id"], account=MEMBER2.address
    )
    assert api.ok(f"/v1/models/{model['model_id']}")["metadata_digest"] == unknown

    r = api.put(f"/v1/models/{model['model_id']}/metadata", json={"metadata_digest": "0x12", **sig})
    assert_problem(r, 422, "/problems/invalid-request", "metadata_digest")


def test_a_metadata_digest_naming_a_block_that_is_not_a_document(api: Api) -> None:
    """Whatever block a model's metadata digest names, the answer says what it is (409)."""
    run = unique_name().encode()
    blocks = {
        "JSON but an array": b'["' + run + b'"]',
        "text but not JSON": b"not json " + run,
        "not UTF-8 text": b"\xff\xfe" + run,
    }
    with EmbeddedStore(api.stack.settings.store_dir) as store:  # the stack's own store
        for data in blocks.values():
            store.put(data)
    big = fresh_artifact()  # two 256 KiB chunks: its digest names a UnixFS file root
    api.propose(api.register(OWNER)["model_id"], big)
    cases = [(data, f"({len(data)} bytes), which is {what}") for what, data in blocks.items()]
    cases.append((big, f"the root of a {len(big)}-byte UnixFS file"))
    for data, what in cases:
        model_id = api.register(MEMBER2, metadata_digest=digest_of(data))["model_id"]
        assert_problem(
            api.get(f"/v1/models/{model_id}/metadata"),
            409,
            "/problems/invalid-metadata-document",
            f"model {model_id}'s metadata digest names block {cid_of(data)}"
            if len(data) <= 262144
            else f"model {model_id}'s metadata digest names block",
            what,
            f"PUT /v1/models/{model_id}/metadata",
        )


def owner_events(api: Api, tx_hash: str) -> list[tuple[str, int, str, str]]:
    """The ownership events of a transaction, from its receipt: (name, model, from, to)."""
    names = {
        "0x" + keccak(text=f"{name}(uint256,address,address)").hex(): name
        for name in ("ModelOwnershipTransferStarted", "ModelOwnershipTransferred")
    }
    receipt = api.rpc("eth_getTransactionReceipt", tx_hash)
    return [
        (
            names[log["topics"][0]],
            int(log["topics"][1], 16),
            to_checksum_address("0x" + log["topics"][2][-40:]),
            to_checksum_address("0x" + log["topics"][3][-40:]),
        )
        for log in receipt["logs"]
        if log["topics"][0] in names
    ]


def test_owner_transfer_in_two_steps(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    assert model["pending_owner"] is None
    accept = f"/v1/models/{model_id}/owner/accept"

    # the owner names a pending owner; nothing else changes yet
    sig = api.signed(
        "TransferModelOwnership", OWNER, {"modelId": model_id, "newOwner": MEMBER2.address}
    )
    r = api.put(f"/v1/models/{model_id}/owner", json={"new_owner": MEMBER2.address, **sig})
    assert r.status_code == 200, r.text
    started = r.json()
    assert (started["model"]["owner"], started["model"]["pending_owner"]) == (
        OWNER.address,
        MEMBER2.address,
    )
    assert api.ok(f"/v1/models/{model_id}") == started["model"]
    assert owner_events(api, started["transaction"]["transaction_hash"]) == [
        ("ModelOwnershipTransferStarted", model_id, OWNER.address, MEMBER2.address)
    ]

    # nobody else may accept
    sig = api.signed("AcceptModelOwnership", MEMBER3, {"modelId": model_id})
    r = api.post(accept, json=sig)
    assert_contract_error(
        r,
        403,
        "RegistryNotPendingOwner",
        modelId=model_id,
        account=MEMBER3.address,
        pendingOwner=MEMBER2.address,
    )

    # the pending owner accepts
    sig = api.signed("AcceptModelOwnership", MEMBER2, {"modelId": model_id})
    r = api.post(accept, json=sig)
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert (accepted["model"]["owner"], accepted["model"]["pending_owner"]) == (
        MEMBER2.address,
        None,
    )
    assert owner_events(api, accepted["transaction"]["transaction_hash"]) == [
        ("ModelOwnershipTransferred", model_id, OWNER.address, MEMBER2.address)
    ]
    assert api.ok(f"/v1/models/{model_id}")["owner"] == MEMBER2.address
    assert api.ok("/v1/models", params={"owner": MEMBER2.address, "name": model["name"]})[
        "items"
    ] == [accepted["model"]]

    # the former owner no longer may transfer it
    sig = api.signed(
        "TransferModelOwnership", OWNER, {"modelId": model_id, "newOwner": OWNER.address}
    )
    r = api.put(f"/v1/models/{model_id}/owner", json={"new_owner": OWNER.address, **sig})
    assert_contract_error(r, 403, "RegistryNotModelOwner", modelId=model_id, account=OWNER.address)
    # nor accept again
    sig = api.signed("AcceptModelOwnership", MEMBER2, {"modelId": model_id})
    assert_contract_error(
        api.post(accept, json=sig),
        403,
        "RegistryNotPendingOwner",
        account=MEMBER2.address,
        pendingOwner=ZERO_ADDRESS,
    )


def test_owner_transfer_cancelled_and_refused(api: Api) -> None:
    model_id = api.register(OWNER)["model_id"]
    owner_path = f"/v1/models/{model_id}/owner"

    def transfer(new_owner: str) -> httpx.Response:
        sig = api.signed(
            "TransferModelOwnership", OWNER, {"modelId": model_id, "newOwner": new_owner}
        )
        return api.put(owner_path, json={"new_owner": new_owner, **sig})

    # nothing to cancel yet
    assert_contract_error(
        transfer(ZERO_ADDRESS), 409, "RegistryNoPendingTransfer", modelId=model_id
    )
    # not to the owner itself
    assert_contract_error(
        transfer(OWNER.address), 409, "RegistryAlreadyOwner", account=OWNER.address
    )
    assert transfer(OUTSIDER.address).status_code == 200
    # the zero address cancels
    r = transfer(ZERO_ADDRESS)
    assert r.status_code == 200, r.text
    assert r.json()["model"]["pending_owner"] is None
    assert owner_events(api, r.json()["transaction"]["transaction_hash"]) == [
        ("ModelOwnershipTransferStarted", model_id, OWNER.address, ZERO_ADDRESS)
    ]
    sig = api.signed("AcceptModelOwnership", OUTSIDER, {"modelId": model_id})
    assert_contract_error(
        api.post(f"{owner_path}/accept", json=sig),
        403,
        "RegistryNotPendingOwner",
        account=OUTSIDER.address,
        pendingOwner=ZERO_ADDRESS,
    )
    assert api.ok(f"/v1/models/{model_id}")["owner"] == OWNER.address

    # bad requests change nothing and say what was wrong
    r = api.put(owner_path, json={"new_owner": "0x12", **sig})
    assert_problem(r, 422, "/problems/invalid-request", "new_owner")
    r = api.post(f"{owner_path}/accept", json={**sig, "new_owner": OUTSIDER.address})
    assert_problem(r, 422, "/problems/invalid-request", "new_owner")
    sig = api.signed("AcceptModelOwnership", OUTSIDER, {"modelId": 999_999})
    assert_contract_error(
        api.post("/v1/models/999999/owner/accept", json=sig),
        404,
        "RegistryUnknownModel",
        modelId=999_999,
    )


def test_read_policy(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    assert model["restricted"] is False
    for restricted in (True, False):
        sig = api.signed("SetReadPolicy", OWNER, {"modelId": model_id, "restricted": restricted})
        r = api.put(f"/v1/models/{model_id}/read-policy", json={"restricted": restricted, **sig})
        assert r.status_code == 200, r.text
        assert r.json()["model"]["restricted"] is restricted
        assert api.ok(f"/v1/models/{model_id}")["restricted"] is restricted

    sig = api.signed("SetReadPolicy", MEMBER2, {"modelId": model_id, "restricted": True})
    r = api.put(f"/v1/models/{model_id}/read-policy", json={"restricted": True, **sig})
    assert_contract_error(
        r, 403, "RegistryNotModelOwner", modelId=model_id, account=MEMBER2.address
    )
    assert api.ok(f"/v1/models/{model_id}")["restricted"] is False
