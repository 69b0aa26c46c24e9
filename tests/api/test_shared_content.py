"""Content that several models reference: no reference made by someone else widens access.

A digest is public on chain, so anyone who may register a model or propose a version can make
their own record point at someone else's restricted artifact (through the service or with the
plain contract functions). Those references must never open the bytes: content that a restricted
model references in any role is served only to an account that may read every restricted model
referencing it, and only with ``Cache-Control: private, no-store``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from tests.api.conftest import (
    MEMBER2,
    MEMBER3,
    OWNER,
    READER,
    Api,
    api_on,
    assert_problem,
    digest_of,
    fresh_artifact,
    unique_name,
)
from tests.stack import Stack

OPEN_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, no-store"


@pytest.fixture(scope="module")
def ledger(stack: Stack) -> Iterator[Ledger]:
    """The chain adapter on the session stack, to send plain contract calls from dev accounts."""
    yield connect_ledger(stack.settings)


@pytest.fixture
def secret(api: Api) -> dict[str, Any]:
    """A restricted model of OWNER's with one version; READER holds no right on it."""
    model = api.register(OWNER, restricted=True)
    data = fresh_artifact()
    version = api.propose(model["model_id"], data)
    return {
        "model_id": model["model_id"],
        "version_id": version["version_id"],
        "cid": version["artifact_cid"],
        "digest": version["artifact_digest"],
        "data": data,
    }


def download_paths(secret: dict[str, Any]) -> list[str]:
    return [f"/v1/artifacts/{secret['cid']}", f"/v1/versions/{secret['version_id']}/artifact"]


def assert_still_restricted(api: Api, secret: dict[str, Any], *outsiders: Any) -> None:
    """No session: 401; a session of an account without the right: 403; bytes never served."""
    for path in download_paths(secret):
        r = api.get(path)
        assert_problem(r, 401, "/problems/unauthenticated", "restricted", "sign in")
        assert r.content != secret["data"]
        for outsider in outsiders:
            auth = {"authorization": f"Bearer {api.login(outsider)}"}
            r = api.get(path, headers=auth)
            assert_problem(r, 403, "/problems/forbidden", outsider.address, str(secret["model_id"]))


def assert_served(api: Api, path: str, data: bytes, cache: str, **kw: Any) -> None:
    r = api.get(path, **kw)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["cache-control"] == cache


def test_an_open_model_naming_the_digest_as_its_metadata_opens_nothing(
    api: Api, secret: dict[str, Any]
) -> None:
    # through the service: MEMBER2 (no right on the restricted model) registers an open model
    # whose metadata digest is the restricted artifact's digest, public on chain
    api.register(MEMBER2, metadata_digest=secret["digest"])
    assert_still_restricted(api, secret, MEMBER2)


def test_a_version_of_an_open_model_with_the_digest_opens_nothing(
    api: Api, secret: dict[str, Any], ledger: Ledger
) -> None:
    # a version proposed through the service needs the bytes; the plain contract function
    # (sent from MEMBER2's own account) takes only the digest
    own = api.register(MEMBER2)
    version_id = ledger.propose_version(MEMBER2, own["model_id"], secret["digest"], direct=True)
    assert api.ok(f"/v1/versions/{version_id}")["artifact_digest"] == secret["digest"]
    assert_still_restricted(api, secret, MEMBER2)
    # the attacker's own version's artifact is the same bytes: as restricted as the original
    r = api.get(f"/v1/versions/{version_id}/artifact")
    assert_problem(r, 401, "/problems/unauthenticated", "restricted")


def test_plain_contract_calls_open_nothing(
    api: Api, secret: dict[str, Any], ledger: Ledger
) -> None:
    """The same attacks sent by a dev account straight to the contract (no service involved)."""
    ledger.register_model(
        MEMBER3, f"plain-{secret['version_id']}", metadata_digest=secret["digest"], direct=True
    )
    own = ledger.register_model(MEMBER3, f"plain-own-{secret['version_id']}", direct=True)
    version_id = ledger.propose_version(MEMBER3, own, secret["digest"], direct=True)
    assert ledger.version(version_id).artifact_digest.hex() == secret["digest"][2:]
    assert not ledger.model(own).restricted
    assert_still_restricted(api, secret, MEMBER3)


def test_a_reader_needs_every_restricted_model_that_references_the_content(
    api: Api, secret: dict[str, Any]
) -> None:
    model_id = secret["model_id"]
    assert api.change_rights("grant", model_id, READER.address, ["read_artifacts"]).status_code
    auth = {"authorization": f"Bearer {api.login(READER)}"}
    for path in download_paths(secret):
        assert_served(api, path, secret["data"], PRIVATE_CACHE, headers=auth)

    # another member's restricted model references the same digest (as metadata): READER may
    # not read that one, so the content is refused to READER too (fail closed)
    other = api.register(MEMBER2, restricted=True, metadata_digest=secret["digest"])
    for path in download_paths(secret):
        r = api.get(path, headers=auth)
        assert_problem(r, 403, "/problems/forbidden", READER.address, str(other["model_id"]))
    assert (
        api.change_rights(
            "grant", other["model_id"], READER.address, ["read_artifacts"], MEMBER2
        ).status_code
        == 200
    )
    for path in download_paths(secret):
        assert_served(api, path, secret["data"], PRIVATE_CACHE, headers=auth)


def test_open_content_is_publicly_cacheable_until_a_restricted_model_references_it(
    api: Api,
) -> None:
    model = api.register(OWNER)
    data = fresh_artifact()
    version = api.propose(model["model_id"], data)
    paths = [f"/v1/artifacts/{version['artifact_cid']}", f"/v1/versions/{version['version_id']}"]
    paths[1] += "/artifact"
    for path in paths:
        assert_served(api, path, data, OPEN_CACHE)

    # a restricted reference made by anyone narrows access (visible on chain)
    api.register(MEMBER2, restricted=True, metadata_digest=digest_of(data))
    for path in paths:
        assert_problem(api.get(path), 401, "/problems/unauthenticated", "restricted")
    auth = {"authorization": f"Bearer {api.login(MEMBER2)}"}
    r = api.get(paths[0], headers=auth)  # MEMBER2 owns that model, but not OWNER's: open, fine
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == PRIVATE_CACHE


def test_model_metadata_follows_the_same_rule(api: Api) -> None:
    doc = {"description": "a restricted model's notes", "run": unique_name()}
    stored = api.store_metadata(doc)
    restricted = api.register(OWNER, restricted=True, metadata_digest=stored["digest"])
    path = f"/v1/models/{restricted['model_id']}/metadata"
    assert_problem(api.get(path), 401, "/problems/unauthenticated", "restricted", "sign in")
    outsider = {"authorization": f"Bearer {api.login(MEMBER2)}"}
    assert_problem(api.get(path, headers=outsider), 403, "/problems/forbidden", MEMBER2.address)
    owner = {"authorization": f"Bearer {api.login(OWNER)}"}
    r = api.get(path, headers=owner)
    assert r.status_code == 200, r.text
    assert r.json() == doc
    assert r.headers["cache-control"] == PRIVATE_CACHE

    # an open model of someone else's naming the same digest does not open it either
    copy = api.register(MEMBER2, metadata_digest=stored["digest"])
    copy_path = f"/v1/models/{copy['model_id']}/metadata"
    assert_problem(api.get(copy_path), 401, "/problems/unauthenticated", "restricted")
    assert_problem(api.get(copy_path, headers=outsider), 403, "/problems/forbidden")
    assert api.get(copy_path, headers=owner).json() == doc
    # nor by CID
    assert_problem(api.get(f"/v1/artifacts/{stored['cid']}"), 401, "/problems/unauthenticated")

    # open metadata stays open to everyone
    plain = api.store_metadata({"description": json.dumps(doc)})
    open_model = api.register(OWNER, metadata_digest=plain["digest"])
    r = api.get(f"/v1/models/{open_model['model_id']}/metadata")
    assert r.status_code == 200, r.text
    assert r.json() == {"description": json.dumps(doc)}


def test_nothing_is_said_about_a_restricted_version_before_the_reader_is_allowed(
    api: Api, ledger: Ledger
) -> None:
    """Whether the store holds a restricted version's artifact is not told to a stranger."""
    model = api.register(MEMBER3, restricted=True)
    missing = bytes(range(32))  # recorded with the plain call; no bytes were ever uploaded
    version_id = ledger.propose_version(MEMBER3, model["model_id"], missing, direct=True)
    path = f"/v1/versions/{version_id}/artifact"
    assert_problem(api.get(path), 401, "/problems/unauthenticated", f"version {version_id}")
    auth = {"authorization": f"Bearer {api.login(MEMBER2)}"}
    assert_problem(api.get(path, headers=auth), 403, "/problems/forbidden", MEMBER2.address)
    owner = {"authorization": f"Bearer {api.login(MEMBER3)}"}
    assert_problem(api.get(path, headers=owner), 404, "/problems/not-found", "does not hold")


def test_references_written_again_after_a_rollback_still_restrict(private_stack: Stack) -> None:
    """After a rollback, the restricted model's references land at heights the service had
    already read once; an open model naming the digest above them must still open nothing."""
    with api_on(private_stack) as api:
        api.wait_ready()
        ledger = connect_ledger(private_stack.settings)
        mark = api.block_number()
        api.rewind_past_a_read()
        model = api.register(OWNER, restricted=True)
        data = fresh_artifact()
        version = api.propose(model["model_id"], data)
        assert api.block_number() < mark + 30  # below what the service had read before
        for _ in range(40):
            api.rpc("evm_mine")
        ledger.register_model(
            MEMBER2, unique_name("after-rollback"), metadata_digest=version["artifact_digest"],
            direct=True,
        )  # fmt: skip
        secret = {
            "model_id": model["model_id"],
            "version_id": version["version_id"],
            "cid": version["artifact_cid"],
            "data": data,
        }
        assert_still_restricted(api, secret, MEMBER2)
