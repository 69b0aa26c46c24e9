"""Sign-In with Ethereum sessions (service/domain/auth.py), in process: the nonces and tokens
the service hands out keep no state per request, so no number of anonymous calls or sign-ins
can lock anyone out; single use still holds."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from service.chain.accounts import dev_account
from service.domain.auth import SessionStore, siwe_message
from service.errors import Unauthenticated

DOMAIN, URI, CHAIN_ID = "127.0.0.1:8000", "http://127.0.0.1:8000", 31337
ALICE, BOB = dev_account(6), dev_account(7)


def signed_in(sessions: SessionStore, account: LocalAccount, nonce: str | None = None) -> str:
    message = siwe_message(
        domain=DOMAIN,
        uri=URI,
        address=account.address,
        chain_id=CHAIN_ID,
        nonce=nonce or sessions.new_nonce()[0],
    )
    signature = account.sign_message(encode_defunct(text=message)).signature
    session = sessions.login(message, "0x" + bytes(signature).hex(), chain_id=CHAIN_ID)
    assert session.address == account.address
    return session.token


@pytest.fixture
def sessions() -> SessionStore:
    return SessionStore(domain=DOMAIN, uri=URI, ttl_s=3600)


def test_many_anonymous_nonce_requests_then_sign_in_works(sessions: SessionStore) -> None:
    # the old store kept every pending nonce and refused new ones past 10,000 for 5 minutes
    nonces = {sessions.new_nonce()[0] for _ in range(20_000)}
    assert len(nonces) == 20_000
    assert all(n.isalnum() and len(n) >= 8 for n in nonces)  # EIP-4361's nonce grammar
    token = signed_in(sessions, ALICE)
    assert sessions.address_for(token) == ALICE.address
    # and one of the nonces handed out long ago (in this burst) still works once
    assert sessions.address_for(signed_in(sessions, BOB, nonces.pop())) == BOB.address


def test_many_sign_ins_lock_nobody_out(sessions: SessionStore) -> None:
    """Sign-ins cost an attacker only fresh keys: sessions are not a scarce resource either."""
    for _ in range(300):
        signed_in(sessions, Account.create())
    assert sessions.address_for(signed_in(sessions, ALICE)) == ALICE.address


def test_a_nonce_is_single_use_and_cannot_be_forged(sessions: SessionStore) -> None:
    nonce = sessions.new_nonce()[0]
    signed_in(sessions, ALICE, nonce)
    with pytest.raises(Unauthenticated, match="was used"):
        signed_in(sessions, ALICE, nonce)
    with pytest.raises(Unauthenticated, match="not issued by this service"):
        signed_in(sessions, ALICE, "a" * 32)
    flipped = nonce[:-1] + ("0" if nonce[-1] != "0" else "1")
    with pytest.raises(Unauthenticated, match="not issued by this service"):
        signed_in(sessions, ALICE, flipped)
    other = SessionStore(domain=DOMAIN, uri=URI, ttl_s=3600)  # another process: another key
    with pytest.raises(Unauthenticated, match="not issued by this service"):
        signed_in(sessions, ALICE, other.new_nonce()[0])


def test_a_refused_sign_in_does_not_burn_the_nonce(sessions: SessionStore) -> None:
    nonce = sessions.new_nonce()[0]
    message = siwe_message(
        domain=DOMAIN, uri=URI, address=ALICE.address, chain_id=CHAIN_ID, nonce=nonce
    )
    wrong = BOB.sign_message(encode_defunct(text=message)).signature
    with pytest.raises(Unauthenticated, match="signature"):
        sessions.login(message, "0x" + bytes(wrong).hex(), chain_id=CHAIN_ID)
    assert sessions.address_for(signed_in(sessions, ALICE, nonce)) == ALICE.address


def test_expired_nonces_and_sessions(
    sessions: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    nonce, expires = sessions.new_nonce()
    token = signed_in(sessions, ALICE)
    later = time.time() + 3601 + max(0, expires - time.time())
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(Unauthenticated, match="expired"):
        signed_in(sessions, ALICE, nonce)
    with pytest.raises(Unauthenticated, match="unknown or expired"):
        sessions.address_for(token)


def test_logout_ends_a_session(sessions: SessionStore) -> None:
    token = signed_in(sessions, ALICE)
    assert sessions.logout(token)
    with pytest.raises(Unauthenticated, match="unknown or expired"):
        sessions.address_for(token)
    assert not sessions.logout(token)
    assert not sessions.logout("not-a-token")
    with pytest.raises(Unauthenticated):
        sessions.address_for(token[:-2] + "AA")
