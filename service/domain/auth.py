"""Sign-In with Ethereum (EIP-4361) sessions for reading restricted artifacts.

The service hands out single-use nonces, checks a signed EIP-4361 message (domain, nonce,
chain id, validity window, signature; ERC-1271 wallets through the chain) with the ``siwe``
library, and issues a bearer token bound to the address. A session proves who the caller is;
what it may read is asked of the chain at each request.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from siwe import SiweMessage
from siwe.siwe import (
    DomainMismatch,
    ExpiredMessage,
    InvalidSignature,
    MalformedSession,
    NonceMismatch,
    NotYetValidMessage,
    VerificationError,
)
from web3 import Web3

from service.errors import InvalidInput, Unauthenticated

NONCE_TTL_S = 300
MAX_PENDING_NONCES = 10_000
MAX_SESSIONS = 100_000
STATEMENT = "Sign in to govledger to read restricted model artifacts."
MAX_MESSAGE_CHARS = 1024
_PREAMBLE = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^\s/]{1,255} wants you to sign in with your Ethereum "
    r"account:\n0x[0-9a-fA-F]{40}\n"
)


@dataclass(frozen=True, kw_only=True)
class Session:
    token: str
    address: str
    expires_at: int


class SessionStore:
    def __init__(self, *, domain: str, uri: str, ttl_s: int) -> None:
        self.domain = domain
        self.uri = uri
        self.ttl_s = ttl_s
        self._nonces: dict[str, float] = {}
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def new_nonce(self) -> tuple[str, int]:
        now = time.time()
        with self._lock:
            self._purge(now)
            if len(self._nonces) >= MAX_PENDING_NONCES:
                raise Unauthenticated("too many sign-ins in progress; retry in a few minutes")
            nonce = secrets.token_hex(16)
            self._nonces[nonce] = now + NONCE_TTL_S
        return nonce, int(now + NONCE_TTL_S)

    def login(
        self, message: str, signature: str, *, chain_id: int, provider: object | None = None
    ) -> Session:
        # the siwe library's grammar parser takes time quadratic in the input (seconds for a few
        # KiB of garbage): refuse at once what cannot be a sign-in message, and bound the rest
        if len(message) > MAX_MESSAGE_CHARS or not _PREAMBLE.match(message):
            raise InvalidInput(
                "the message is not an EIP-4361 sign-in message: it must start with "
                "'<domain> wants you to sign in with your Ethereum account:', the address on "
                f"the next line, and have at most {MAX_MESSAGE_CHARS} characters"
            )
        try:
            msg = SiweMessage.from_message(message=message)
        except (ValueError, MalformedSession) as exc:
            raise InvalidInput(f"the message is not an EIP-4361 sign-in message: {exc}") from exc
        if msg.chain_id != chain_id:
            raise Unauthenticated(
                f"the message is for chain {msg.chain_id}; this ledger is on chain {chain_id}"
            )
        with self._lock:
            expires = self._nonces.pop(msg.nonce, None)  # single use, even if the rest fails
        if expires is None or expires < time.time():
            raise Unauthenticated(
                f"nonce {msg.nonce!r} was not issued by this service, was used, or expired; "
                "get a fresh one from GET /v1/auth/nonce"
            )
        try:
            msg.verify(signature, domain=self.domain, nonce=msg.nonce, provider=provider)
        except DomainMismatch:
            raise Unauthenticated(
                f"the message is for {msg.domain!r}; sign in to {self.domain!r}"
            ) from None
        except ExpiredMessage:
            raise Unauthenticated("the sign-in message has expired; sign a new one") from None
        except NotYetValidMessage:
            raise Unauthenticated("the sign-in message is not valid yet (not-before)") from None
        except (InvalidSignature, NonceMismatch):
            raise Unauthenticated(
                f"the signature is not {msg.address}'s signature of this message"
            ) from None
        except VerificationError as exc:
            raise Unauthenticated(
                f"the sign-in message was refused: {type(exc).__name__}"
            ) from None
        now = time.time()
        expires_at = now + self.ttl_s
        if msg.expiration_time is not None:
            expires_at = min(
                expires_at, datetime.fromisoformat(str(msg.expiration_time)).timestamp()
            )
        session = Session(
            token=secrets.token_urlsafe(32),
            address=Web3.to_checksum_address(msg.address),
            expires_at=int(expires_at),
        )
        with self._lock:
            self._purge(now)
            if len(self._sessions) >= MAX_SESSIONS:
                raise Unauthenticated("too many open sessions; retry later")
            self._sessions[session.token] = session
        return session

    def address_for(self, token: str) -> str:
        with self._lock:
            session = self._sessions.get(token)
        if session is None or session.expires_at < time.time():
            raise Unauthenticated(
                "the session token is unknown or expired; sign in again (POST /v1/auth/login)"
            )
        return session.address

    def logout(self, token: str) -> bool:
        with self._lock:
            return self._sessions.pop(token, None) is not None

    def _purge(self, now: float) -> None:
        for n in [n for n, t in self._nonces.items() if t < now]:
            del self._nonces[n]
        for t in [t for t, s in self._sessions.items() if s.expires_at < now]:
            del self._sessions[t]


def siwe_message(
    *, domain: str, uri: str, address: str, chain_id: int, nonce: str, ttl_s: int = 600
) -> str:
    """An EIP-4361 message for ``address`` (what a wallet or the CLI signs)."""
    now = datetime.now(UTC)
    msg = SiweMessage(
        domain=domain,
        address=Web3.to_checksum_address(address),
        statement=STATEMENT,
        uri=uri,
        version="1",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=now.isoformat().replace("+00:00", "Z"),
        expiration_time=datetime.fromtimestamp(now.timestamp() + ttl_s, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
    )
    return msg.prepare_message()
