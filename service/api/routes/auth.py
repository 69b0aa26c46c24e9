"""Sign-In with Ethereum (EIP-4361) sessions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import LedgerDep, SessionsDep, SessionTokenDep, SettingsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.schemas import NoncePublic, SessionPublic, SiweLogin
from service.domain.auth import STATEMENT
from service.errors import Unauthenticated

router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.get("/nonce", response_model=NoncePublic)
def nonce(sessions: SessionsDep, settings: SettingsDep, ledger: LedgerDep) -> NoncePublic:
    """A single-use nonce and the fields an EIP-4361 sign-in message must carry."""
    from datetime import UTC, datetime

    value, expires = sessions.new_nonce()
    return NoncePublic(
        nonce=value,
        domain=sessions.domain,
        uri=sessions.uri,
        chain_id=ledger.deployment.chain_id,
        statement=STATEMENT,
        expires_at=datetime.fromtimestamp(expires, UTC).isoformat(),
    )


@router.post("/login", response_model=SessionPublic)
def login(body: SiweLogin, sessions: SessionsDep, ledger: LedgerDep) -> SessionPublic:
    """Exchange a signed EIP-4361 message for a session token (send it as a Bearer token)."""
    session = sessions.login(
        body.message,
        body.signature,
        chain_id=ledger.deployment.chain_id,
        provider=ledger.w3.provider,
    )
    return SessionPublic(
        token=session.token, address=session.address, expires_at=session.expires_at
    )


@router.delete("/session", status_code=204, response_class=Response)
def logout(sessions: SessionsDep, token: SessionTokenDep) -> Response:
    """End the session of the Bearer token."""
    if token is None or not sessions.logout(token):
        raise Unauthenticated("no session to end: send the session token as a Bearer token")
    return Response(status_code=204)
