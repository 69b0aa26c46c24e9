"""POST /v1/metadata over HTTP: only a consortium member who signs StoreMetadata over the
document's digest may store one, within a per-account quota; every refusal says what was wrong
and stores nothing."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.store.embedded import EmbeddedStore
from tests.api.conftest import (
    MEMBER2,
    OUTSIDER,
    OWNER,
    Api,
    api_on,
    assert_problem,
    cid_of,
    unique_name,
)
from tests.stack import Stack


def doc() -> dict[str, str]:
    return {"description": "metrics", "run": unique_name()}


def assert_not_stored(api: Api, data: bytes | dict[str, str], pins: set[str]) -> None:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    assert api.pins() == pins
    with EmbeddedStore(api.stack.settings.store_dir) as store:
        assert not store.has(cid_of(raw))


def test_a_member_stores_a_signed_document(api: Api) -> None:
    document = doc()
    raw = json.dumps(document).encode()
    r = api.metadata_request(raw, MEMBER2)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored == {
        "cid": str(cid_of(raw)),
        "digest": "0x" + hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
    }
    assert stored["cid"] in api.pins()
    # the same signed request again (a retry, or a replay by whoever saw it) stores the same
    assert api.metadata_request(raw, MEMBER2).json() == stored


def test_without_a_signature_is_422_naming_what_is_missing(api: Api) -> None:
    pins, document = api.pins(), doc()
    r = api.post("/v1/metadata", json=document)
    body = assert_problem(r, 422, "/problems/invalid-request", "actor", "digest", "signature")
    assert {e["field"] for e in body["errors"]} == {
        "query.actor",
        "query.digest",
        "query.deadline",
        "query.signature",
    }
    assert_not_stored(api, document, pins)


def test_another_accounts_signature_is_401(api: Api) -> None:
    pins, document = api.pins(), doc()
    r = api.metadata_request(document, OWNER, signer=MEMBER2)
    assert_problem(r, 401, "/problems/signature-rejected", f"not {OWNER.address}'s signature")
    assert r.headers["www-authenticate"].startswith("EIP712")
    assert_not_stored(api, document, pins)


def test_a_non_member_is_403(api: Api) -> None:
    pins, document = api.pins(), doc()
    r = api.metadata_request(document, OUTSIDER)
    assert_problem(r, 403, "/problems/forbidden", OUTSIDER.address, "not a member")
    assert_not_stored(api, document, pins)


def test_expired_or_far_deadlines_are_401(api: Api) -> None:
    pins, document = api.pins(), doc()
    now = int(time.time())
    r = api.metadata_request(document, deadline=now - 5)
    assert_problem(r, 401, "/problems/signature-rejected", f"deadline {now - 5} has passed")
    r = api.metadata_request(document, deadline=now + 7200)
    assert_problem(r, 401, "/problems/signature-rejected", "more than 3600 s ahead")
    assert_not_stored(api, document, pins)


def test_bytes_not_matching_the_signed_digest_are_422(api: Api) -> None:
    pins, signed, sent = api.pins(), doc(), doc()
    digest = cid_of(json.dumps(signed).encode()).digest
    r = api.metadata_request(sent, signed_digest=digest)
    assert_problem(
        r, 422, "/problems/invalid-input", f"signature covers 0x{digest.hex()}", "nothing was"
    )
    assert_not_stored(api, sent, pins)
    assert_not_stored(api, signed, pins)


def test_a_refused_signature_is_refused_before_the_body_is_read(api: Api) -> None:
    """A body far over the size bound is not read: the signature is refused first (401, not
    413), so nobody can make the service read or buffer anything without a member's key."""
    pins = api.pins()
    r = api.metadata_request(b"{" + b" " * (4 * 1024 * 1024), OUTSIDER)
    assert_problem(r, 403, "/problems/forbidden", "not a member")
    r = api.metadata_request(b"{" + b" " * (4 * 1024 * 1024), OWNER, signer=MEMBER2)
    assert_problem(r, 401, "/problems/signature-rejected")
    assert api.pins() == pins


def test_the_deadline_past_uint256_is_422(api: Api) -> None:
    r = api.post(
        "/v1/metadata",
        params={
            "actor": OWNER.address,
            "digest": "0x" + "ab" * 32,
            "deadline": 2**256,
            "signature": "0x" + "11" * 65,
        },
        json={"a": 1},
    )
    assert_problem(r, 422, "/problems/invalid-request", "deadline", str(2**256 - 1))


@pytest.fixture
def quota_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack whose quota is 2 documents and 600 bytes per account per day."""
    stack = Stack(
        data_dir=tmp_path / "stack",
        extra_env={
            "GOVLEDGER_METADATA_QUOTA_DOCUMENTS": "2",
            "GOVLEDGER_METADATA_QUOTA_BYTES": "600",
        },
    ).start()
    yield stack
    stack.stop()


def test_over_quota_is_429_with_retry_after_and_survives_a_restart(quota_stack: Stack) -> None:
    with api_on(quota_stack) as api:
        first = {"pad": "x" * 400}
        assert api.metadata_request(first).status_code == 201
        # a document that would take OWNER over 600 bytes today: refused after reading it
        pins, big = api.pins(), {"pad": "y" * 300}
        r = api.metadata_request(big)
        body = assert_problem(r, 429, "/problems/quota-exceeded", OWNER.address, "does not fit")
        assert "600 bytes per account per 24 h" in body["detail"]
        assert 86_000 < int(r.headers["retry-after"]) <= 86_400
        assert_not_stored(api, big, pins)
        # a small one fits; then the document count is used up: refused before the body
        assert api.metadata_request({"n": 2}).status_code == 201
        pins, third = api.pins(), {"n": 3}
        r = api.metadata_request(third)
        assert_problem(r, 429, "/problems/quota-exceeded", "stored 2 metadata documents")
        assert_not_stored(api, third, pins)
        # storing a document this account stored today again costs nothing
        assert api.metadata_request(first).status_code == 201
        # the quota is per account
        assert api.metadata_request(third, MEMBER2).status_code == 201

        quota_stack.stop_service()
        quota_stack.start_service()

        r = api.metadata_request({"n": 4})  # counted durably, not in the service's memory
        assert_problem(r, 429, "/problems/quota-exceeded", "stored 2 metadata documents")
