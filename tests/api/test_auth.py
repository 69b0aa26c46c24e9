"""Sign-In with Ethereum (EIP-4361) over HTTP: nonces, refused messages, sessions, logout."""

from __future__ import annotations

import httpx

from tests.api.conftest import (
    MEMBER2,
    OWNER,
    READER,
    Api,
    assert_problem,
    sign_text,
    tampered,
)


def login(api: Api, message: str, signature: str) -> httpx.Response:
    return api.post("/v1/auth/login", json={"message": message, "signature": signature})


def test_nonce_describes_what_to_sign(api: Api) -> None:
    first, second = api.ok("/v1/auth/nonce"), api.ok("/v1/auth/nonce")
    assert first["nonce"] != second["nonce"]
    assert first["domain"] == f"127.0.0.1:{api.stack.service_port}"
    assert first["uri"] == api.stack.url
    assert first["chain_id"] == 31337 == api.ok("/v1/info")["chain_id"]
    assert first["statement"]


def test_login_gives_a_session_bound_to_the_address(api: Api) -> None:
    message, signature = api.siwe(READER)
    r = login(api, message, signature)
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["address"] == READER.address
    assert session["token"]

    # the nonce is single-use
    replay = login(api, message, signature)
    assert_problem(replay, 401, "/problems/unauthenticated", "nonce", "was used")


def test_refused_sign_ins(api: Api) -> None:
    message, _ = api.siwe(OWNER, domain="evil.example")
    r = login(api, message, sign_text(message, OWNER))
    assert_problem(
        r, 401, "/problems/unauthenticated", "'evil.example'", api.ok("/v1/auth/nonce")["domain"]
    )

    message, _ = api.siwe(OWNER, chain_id=1)
    r = login(api, message, sign_text(message, OWNER))
    assert_problem(r, 401, "/problems/unauthenticated", "chain 1", "31337")

    message, _ = api.siwe(OWNER, ttl_s=-60)
    r = login(api, message, sign_text(message, OWNER))
    assert_problem(r, 401, "/problems/unauthenticated", "expired")

    message, signature = api.siwe(OWNER)
    r = login(api, message, tampered(signature))
    assert_problem(r, 401, "/problems/unauthenticated", OWNER.address)

    message, _ = api.siwe(OWNER)  # signed by another account
    r = login(api, message, sign_text(message, MEMBER2))
    assert_problem(r, 401, "/problems/unauthenticated", f"not {OWNER.address}'s signature")

    message, _ = api.siwe(OWNER, nonce="a" * 32)  # never issued
    r = login(api, message, sign_text(message, OWNER))
    assert_problem(r, 401, "/problems/unauthenticated", f"{'a' * 32!r}", "not issued")

    r = login(api, "hello, let me in", sign_text("hello, let me in", OWNER))
    assert_problem(r, 422, "/problems/invalid-input", "EIP-4361")
    # refused before the (slow) grammar parser: a KiB of garbage, or a message over the bound
    r = login(api, "a" * 1024, sign_text("a" * 1024, OWNER))
    assert_problem(r, 422, "/problems/invalid-input", "wants you to sign in", "1024")
    message, _ = api.siwe(OWNER)
    r = login(api, message + "\n" + "x" * 1024, sign_text(message, OWNER))
    assert_problem(r, 422, "/problems/invalid-request", "message", "1024")
    r = login(api, "x", "0xzz")
    assert_problem(r, 422, "/problems/invalid-request", "signature")


def test_logout_ends_the_session(api: Api) -> None:
    token = api.login(OWNER)
    auth = {"authorization": f"Bearer {token}"}
    model = api.register(OWNER, restricted=True)
    version = api.propose(model["model_id"])
    path = f"/v1/versions/{version['version_id']}/artifact"
    assert api.get(path, headers=auth).status_code == 200

    r = api.http.delete("/v1/auth/session", headers=auth)
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(api.get(path, headers=auth), 401, "/problems/unauthenticated", "sign in again")
    again = api.http.delete("/v1/auth/session", headers=auth)
    assert_problem(again, 401, "/problems/unauthenticated", "no session")
    assert_problem(api.http.delete("/v1/auth/session"), 401, "/problems/unauthenticated", "Bearer")
