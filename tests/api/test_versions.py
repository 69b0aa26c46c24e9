"""Versions over HTTP: streamed upload-and-propose, reads, filters, finalize, size bound."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from service.store.cid import cid_from_digest
from tests.api.conftest import (
    MEMBER2,
    OUTSIDER,
    OWNER,
    ZERO32,
    Api,
    api_on,
    assert_contract_error,
    assert_problem,
    cid_of,
    digest_of,
    fresh_artifact,
)
from tests.stack import Stack


def versions_total(api: Api, model_id: int) -> int:
    return int(api.ok(f"/v1/models/{model_id}/versions")["total"])


def test_upload_and_propose_a_safetensors_file(api: Api) -> None:
    model = api.register(OWNER)
    data = fresh_artifact()  # two 256 KiB chunks: a dag-pb root over raw leaves
    assert len(data) > 262_144
    expected = cid_of(data)
    pins_before = api.pins()
    metadata = "0x" + "cd" * 32

    r = api.upload(model["model_id"], data, metadata_digest=metadata)
    assert r.status_code == 201, r.text
    body = r.json()
    version = body["version"]
    assert body["artifact_size"] == len(data)
    assert version["model_id"] == model["model_id"]
    assert version["kind"] == "base"
    assert version["state"] == "proposed"
    assert version["parent_id"] is None
    assert version["proposer"] == OWNER.address
    assert version["metadata_digest"] == metadata
    # the digest on chain is the one inside the stored bytes' CID
    assert version["artifact_cid"] == str(expected)
    assert version["artifact_digest"] == "0x" + expected.digest.hex()
    assert expected.codec_name == "dag-pb"
    assert api.pins() - pins_before == {str(expected)}
    ballot = version["ballot"]
    assert (ballot["for_votes"], ballot["required"], ballot["eligible"]) == (0, 2, 3)
    assert ballot["snapshot_block"] == version["proposed_block"]
    assert body["transaction"]["block_number"] >= version["proposed_block"]

    assert api.ok(f"/v1/versions/{version['version_id']}") == version
    download = api.get(f"/v1/versions/{version['version_id']}/artifact")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["x-content-cid"] == str(expected)
    assert download.headers["content-length"] == str(len(data))


def test_a_small_file_is_one_raw_block(api: Api) -> None:
    model = api.register(OWNER)
    data = fresh_artifact((16, 16))
    version = api.propose(model["model_id"], data)
    cid = cid_of(data)
    assert cid.codec_name == "raw"
    assert version["artifact_cid"] == str(cid)
    assert version["artifact_digest"] == "0x" + cid.digest.hex()
    assert api.get(version_path(version) + "/artifact").content == data


def version_path(version: dict[str, object]) -> str:
    return f"/v1/versions/{version['version_id']}"


@pytest.mark.parametrize(
    ("artifact_format", "data", "mention"),
    [
        ("safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + b"\0" * 64, "JSON"),
        ("safetensors", b"PK\x03\x04 a zip archive, not safetensors" * 100, "header"),
        ("torch-export", None, "zip"),
        (  # a 100 MB header took the service from 108 to 395 MB of memory
            "safetensors",
            (100_000_000).to_bytes(8, "little") + b'{"t":' + b" " * 300_000,
            "header length 100000000 exceeds the limit of 8388608 bytes",
        ),
    ],
    ids=["bad-header", "zip-as-safetensors", "safetensors-as-torch-export", "huge-header"],
)
def test_wrong_format_is_422_and_nothing_is_pinned_or_proposed(
    api: Api, artifact_format: str, data: bytes | None, mention: str
) -> None:
    model = api.register(OWNER)
    data = data if data is not None else fresh_artifact()
    pins, nonce = api.pins(), api.nonce("CastVote", OWNER)
    relayed = api.relayer_tx_count()

    r = api.upload(model["model_id"], data, artifact_format=artifact_format)
    assert_problem(r, 422, "/problems/invalid-artifact", mention)

    assert api.pins() == pins
    assert versions_total(api, model["model_id"]) == 0
    assert api.nonce("CastVote", OWNER) == nonce
    assert api.relayer_tx_count() == relayed


def test_unknown_format_is_422_naming_the_parameter(api: Api) -> None:
    model = api.register(OWNER)
    r = api.upload(model["model_id"], fresh_artifact(), artifact_format="pickle")
    body = assert_problem(r, 422, "/problems/invalid-request", "artifact_format")
    assert body["errors"][0]["field"] == "query.artifact_format"


def test_signature_over_another_digest_is_401_and_nothing_is_pinned(api: Api) -> None:
    model = api.register(OWNER)
    data, other = fresh_artifact(), fresh_artifact()
    pins, relayed = api.pins(), api.relayer_tx_count()

    r = api.upload(model["model_id"], data, signed_digest=digest_of(other))
    assert_contract_error(r, 401, "SignedActionInvalidSignature", actor=OWNER.address)
    assert r.headers["www-authenticate"].startswith("EIP712")

    assert api.pins() == pins
    assert versions_total(api, model["model_id"]) == 0
    assert api.relayer_tx_count() == relayed


def test_a_failing_proposal_leaves_no_pinned_orphan(api: Api) -> None:
    """The chain refuses an aggregate without a parent after the bytes are stored: the
    service unpins them again."""
    model = api.register(OWNER)
    pins = api.pins()
    r = api.upload(model["model_id"], fresh_artifact(), kind="aggregate")
    assert_contract_error(r, 422, "RegistryMissingParent", kind=1)
    assert api.pins() == pins
    assert versions_total(api, model["model_id"]) == 0


def test_non_maintainer_is_refused_before_the_body_is_read(api: Api) -> None:
    """The service answers 403 having read only the headers: the client announces 50 MB and
    sends a few bytes, and still gets its answer."""
    model = api.register(OWNER)
    sig = api.signed(
        "ProposeVersion",
        MEMBER2,
        {
            "modelId": model["model_id"],
            "parentId": 0,
            "kind": 0,
            "artifactDigest": "0x" + "11" * 32,
            "metadataDigest": ZERO32,
        },
    )
    declared = cid_from_digest(bytes.fromhex("11" * 32), file_size=50_000_000)
    query = urlencode({"artifact_format": "safetensors", "artifact_cid": str(declared), **sig})
    head = (
        f"POST /v1/models/{model['model_id']}/versions?{query} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{api.stack.service_port}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {50_000_000}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.stack.service_port), timeout=20) as s:
        s.sendall(head + b"\0" * 1000)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"403", answer
    assert b"application/problem+json" in rest
    assert b"RegistryNotMaintainer" in rest
    assert MEMBER2.address.encode() in rest

    # and through an ordinary client, with the whole body
    r = api.upload(model["model_id"], fresh_artifact(), actor=OUTSIDER)
    assert_contract_error(
        r, 403, "RegistryNotMaintainer", modelId=model["model_id"], account=OUTSIDER.address
    )
    assert versions_total(api, model["model_id"]) == 0


def test_list_versions_with_kind_and_state_filters(api: Api) -> None:
    model = api.register(OWNER)
    model_id = model["model_id"]
    base = api.approved_version(model_id)
    pending = api.propose(model_id)["version_id"]
    aggregate = api.propose(model_id, kind="aggregate", parent_id=base)
    assert aggregate["parent_id"] == base
    assert aggregate["kind"] == "aggregate"

    def ids(**params: str) -> list[int]:
        listing = api.ok(f"/v1/models/{model_id}/versions", params=params)
        assert listing["total"] == len(listing["items"])
        return [v["version_id"] for v in listing["items"]]

    assert ids() == [base, pending, aggregate["version_id"]]
    assert ids(state="approved") == [base]
    assert ids(state="proposed") == [pending, aggregate["version_id"]]
    assert ids(kind="aggregate") == [aggregate["version_id"]]
    assert ids(kind="base", state="proposed") == [pending]
    assert ids(state="rejected") == []
    assert ids(kind="accelerated") == []

    page = api.ok(f"/v1/models/{model_id}/versions", params={"offset": 1, "limit": 1})
    assert [v["version_id"] for v in page["items"]] == [pending]
    assert (page["total"], page["offset"], page["limit"]) == (3, 1, 1)

    r = api.get(f"/v1/models/{model_id}/versions", params={"state": "pending"})
    assert_problem(r, 422, "/problems/invalid-request", "state")
    r = api.get(f"/v1/models/{model_id}/versions", params={"kind": "int8"})
    assert_problem(r, 422, "/problems/invalid-request", "kind")
    assert_contract_error(api.get("/v1/models/888888/versions"), 404, "RegistryUnknownModel")


def test_get_unknown_version_is_404(api: Api) -> None:
    r = api.get("/v1/versions/777777")
    assert_contract_error(r, 404, "RegistryUnknownVersion", versionId=777777)
    assert "777777" in r.json()["detail"]
    assert_contract_error(api.get("/v1/versions/777777/votes"), 404, "RegistryUnknownVersion")


def test_finalize_after_the_voting_window(api: Api) -> None:
    model = api.register(OWNER)
    version = api.propose(model["model_id"])
    version_id = version["version_id"]
    assert api.vote(MEMBER2, version_id, "for").status_code == 201

    r = api.post(f"/v1/versions/{version_id}/finalize")
    assert_contract_error(
        r, 409, "RegistryVotingOpen", versionId=version_id, deadline=version["ballot"]["deadline"]
    )

    api.increase_time(3601)
    assert api.ok(f"/v1/versions/{version_id}")["state"] == "rejected"  # effective at once
    late = api.vote(OWNER, version_id)
    assert_contract_error(late, 409, "RegistryVotingClosed", versionId=version_id)

    r = api.post(f"/v1/versions/{version_id}/finalize")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"]["state"] == "rejected"
    assert body["version"]["ballot"]["for_votes"] == 1
    assert api.rpc("eth_getTransactionReceipt", body["transaction"]["transaction_hash"])

    again = api.post(f"/v1/versions/{version_id}/finalize")
    assert_contract_error(
        again, 409, "RegistryUnexpectedState", versionId=version_id, current=2, expected=0
    )
    assert (
        api.ok(f"/v1/models/{model['model_id']}/versions", params={"state": "rejected"})["total"]
        == 1
    )


LIMIT = 100_000


@pytest.fixture(scope="module")
def small_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A stack of its own whose uploads are bounded at 100 kB."""
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("small"),
        extra_env={"GOVLEDGER_MAX_UPLOAD_BYTES": str(LIMIT)},
    ).start()
    try:
        with api_on(stack) as a:
            yield a
    finally:
        stack.stop()


def test_body_over_the_bound_is_413_stating_the_limit(small_api: Api) -> None:
    api = small_api
    assert api.ok("/v1/info")["max_upload_bytes"] == LIMIT
    model = api.register(OWNER)
    pins = api.pins()

    data = fresh_artifact((200, 200))  # 160 kB
    assert len(data) > LIMIT
    r = api.upload(model["model_id"], data)  # Content-Length announces it
    assert_problem(r, 413, "/problems/payload-too-large", str(len(data)), str(LIMIT))

    # streamed without a length: refused once the bound is crossed
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 16_384):
            yield data[i : i + 16_384]

    sig = api.signed(
        "ProposeVersion",
        OWNER,
        {
            "modelId": model["model_id"],
            "parentId": 0,
            "kind": 0,
            "artifactDigest": digest_of(data),
            "metadataDigest": ZERO32,
        },
    )
    r = api.post(
        f"/v1/models/{model['model_id']}/versions",
        params={"artifact_format": "safetensors", "artifact_cid": str(cid_of(data)), **sig},
        content=chunks(),
        headers={"content-type": "application/octet-stream"},
    )
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "/problems/payload-too-large", str(LIMIT))

    assert api.pins() == pins
    assert versions_total(api, model["model_id"]) == 0

    # under the bound, all is well
    small = fresh_artifact((100, 100))
    assert len(small) < LIMIT
    assert api.propose(model["model_id"], small)["artifact_cid"] == str(cid_of(small))


def _raw_post(api: Api, path_and_query: str, announced: int, sent: bytes) -> tuple[int, bytes]:
    """POST over a raw socket: headers announcing ``announced`` body bytes, then only ``sent``
    of them; the status and the answer, which must come without the rest of the body."""
    head = (
        f"POST {path_and_query} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{api.stack.service_port}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.stack.service_port), timeout=20) as s:
        s.sendall(head + sent)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


def _store_bytes(api: Api) -> int:
    root = api.stack.settings.store_dir
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_a_garbage_signature_is_refused_before_a_byte_of_the_body_is_stored(api: Api) -> None:
    """The signature covers the digest the request names, so it is checked before the body:
    a 20 MB upload with a made-up signature gets 401 having sent 64 KiB, and the store on
    disk does not grow by a byte."""
    model = api.register(OWNER)
    data = fresh_artifact()
    sig = api.signed(
        "ProposeVersion",
        OWNER,
        {
            "modelId": model["model_id"],
            "parentId": 0,
            "kind": 0,
            "artifactDigest": digest_of(data),
            "metadataDigest": ZERO32,
        },
    )
    sig["signature"] = "0x" + "5a" * 64 + "1b"
    before, relayed = _store_bytes(api), api.relayer_tx_count()
    query = urlencode({"artifact_format": "safetensors", "artifact_cid": str(cid_of(data)), **sig})
    status, answer = _raw_post(
        api, f"/v1/models/{model['model_id']}/versions?{query}", 20_000_000, b"\0" * 65_536
    )
    assert status == 401, answer
    assert b"SignedActionInvalidSignature" in answer
    assert _store_bytes(api) == before
    assert api.relayer_tx_count() == relayed
    assert versions_total(api, model["model_id"]) == 0


def test_bytes_other_than_the_signed_cid_are_refused_and_not_kept(api: Api) -> None:
    model = api.register(OWNER)
    signed, sent = fresh_artifact(), fresh_artifact()
    pins, relayed = api.pins(), api.relayer_tx_count()
    named = {"signed_digest": digest_of(signed), "artifact_cid": str(cid_of(signed))}
    r = api.upload(model["model_id"], sent, **named)
    assert_problem(r, 422, "/problems/invalid-input", str(cid_of(sent)), str(cid_of(signed)))
    assert api.pins() == pins
    assert api.relayer_tx_count() == relayed
    assert versions_total(api, model["model_id"]) == 0
    # the bytes the signature names go through with the same nonce (the refusal used nothing up)
    r = api.upload(model["model_id"], signed, **named)
    assert r.status_code == 201, r.text
