"""Sign-In with Ethereum (EIP-4361) sessions for reading restricted artifacts.

The service hands out single-use nonces, checks a signed EIP-4361 message (domain, nonce,
chain id, validity window, signature; ERC-1271 wallets through the chain) with the ``siwe``
library, and issues a bearer token bound to the address. A session proves who the caller is;
what it may read is asked of the chain at each request.

Nothing is kept per nonce handed out or per session opened, so neither is a scarce resource
that anonymous calls (or sign-ins with throwaway keys) could exhaust: a nonce is random bytes
and an expiry authenticated with an HMAC under a key of this process, a token likewise carries
the address and its expiry. What is remembered is bounded by successful sign-ins: the nonces
that completed one (single use) and the tokens logged out, each until it would expire anyway.
A restart draws a new key, which ends every session (clients sign in again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

from abnf import GrammarWarning
from web3 import Web3

# siwe's EIP-4361 grammar imports the RFC 5234 core rules (ALPHA, DIGIT, HEXDIG, LF) into a
# grammar that already has them, and abnf warns once per rule as the grammar is built, which is
# on import. The rules are the same ones, so the warning says nothing to act on: silence exactly
# these four, only while siwe is imported (a later redefinition elsewhere still warns).
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"rule '(ALPHA|DIGIT|HEXDIG|LF)' redefines '(ALPHA|DIGIT|HEXDIG|LF)'",
        category=GrammarWarning,
    )
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

from service.errors import InvalidInput, Unauthenticated

NONCE_TTL_S = 300
STATEMENT = "Sign in to govledger to read restricted model artifacts."
MAX_MESSAGE_CHARS = 1024
_PREAMBLE = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^\s/]{1,255} wants you to sign in with your Ethereum "
    r"account:\n0x[0-9a-fA-F]{40}\n"
)
_RANDOM_BYTES = 12
_TIME_BYTES = 5  # unix seconds up to the year 36812
_MAC_BYTES = 16
_ADDRESS_BYTES = 20


@dataclass(frozen=True, kw_only=True)
class Session:
    token: str
    address: str
    expires_at: int


class _Sealer:
    """Authenticates short byte strings with HMAC-SHA256 under one random key of this process."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def seal(self, purpose: bytes, payload: bytes) -> bytes:
        return payload + self._mac(purpose, payload)

    def open(self, purpose: bytes, sealed: bytes, payload_len: int) -> bytes | None:
        """The payload if ``sealed`` was sealed here for ``purpose``, else None."""
        if len(sealed) != payload_len + _MAC_BYTES:
            return None
        payload, mac = sealed[:payload_len], sealed[payload_len:]
        return payload if hmac.compare_digest(mac, self._mac(purpose, payload)) else None

    def _mac(self, purpose: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\0" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


class _Spent:
    """Values that may not be used again before they expire (used nonces, ended sessions)."""

    def __init__(self) -> None:
        self._until: dict[bytes, float] = {}
        self._next_purge = 0.0

    def add(self, value: bytes, until: float, now: float) -> bool:
        """Record ``value``; False if it was already recorded (and has not expired)."""
        self._purge(now)
        if self._until.get(value, 0.0) >= now:
            return False
        self._until[value] = until
        return True

    def discard(self, value: bytes) -> None:
        self._until.pop(value, None)

    def __contains__(self, value: bytes) -> bool:
        return self._until.get(value, 0.0) >= time.time()

    def _purge(self, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + 10
        for value in [v for v, t in self._until.items() if t < now]:
            del self._until[value]


class SessionStore:
    def __init__(self, *, domain: str, uri: str, ttl_s: int) -> None:
        self.domain = domain
        self.uri = uri
        self.ttl_s = ttl_s
        self._sealer = _Sealer()
        self._used_nonces = _Spent()
        self._ended = _Spent()
        self._lock = threading.Lock()

    def new_nonce(self) -> tuple[str, int]:
        """A nonce (hex, alphanumeric as EIP-4361 requires) and when it expires."""
        expires = int(time.time()) + NONCE_TTL_S
        payload = secrets.token_bytes(_RANDOM_BYTES) + expires.to_bytes(_TIME_BYTES, "big")
        return self._sealer.seal(b"nonce", payload).hex(), expires

    def _nonce_expiry(self, nonce: str) -> int | None:
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            return None
        payload = self._sealer.open(b"nonce", raw, _RANDOM_BYTES + _TIME_BYTES)
        return None if payload is None else int.from_bytes(payload[_RANDOM_BYTES:], "big")

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
        now = time.time()
        expires = self._nonce_expiry(msg.nonce)
        if expires is None:
            raise Unauthenticated(
                f"nonce {msg.nonce!r} was not issued by this service (or by this process "
                "before a restart); get a fresh one from GET /v1/auth/nonce"
            )
        if expires < now:
            raise Unauthenticated(
                f"nonce {msg.nonce!r} expired; get a fresh one from GET /v1/auth/nonce"
            )
        nonce_key = msg.nonce.lower().encode()
        with self._lock:  # claimed now, so two concurrent sign-ins cannot both use it
            fresh = self._used_nonces.add(nonce_key, expires, now)
        if not fresh:
            raise Unauthenticated(
                f"nonce {msg.nonce!r} was used; get a fresh one from GET /v1/auth/nonce"
            )
        try:
            self._verify(msg, signature, provider)
        except BaseException:
            with self._lock:  # a refused sign-in does not use the nonce up
                self._used_nonces.discard(nonce_key)
            raise
        expires_at = now + self.ttl_s
        if msg.expiration_time is not None:
            expires_at = min(
                expires_at, datetime.fromisoformat(str(msg.expiration_time)).timestamp()
            )
        address = Web3.to_checksum_address(msg.address)
        payload = (
            secrets.token_bytes(_RANDOM_BYTES)
            + bytes.fromhex(address[2:])
            + int(expires_at).to_bytes(_TIME_BYTES, "big")
        )
        token = base64.urlsafe_b64encode(self._sealer.seal(b"session", payload)).decode()
        return Session(token=token, address=address, expires_at=int(expires_at))

    def _verify(self, msg: SiweMessage, signature: str, provider: object | None) -> None:
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

    def _session(self, token: str) -> tuple[bytes, str, int] | None:
        """(the token's sealed bytes, address, expiry) if this process issued it, else None."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None
        payload = self._sealer.open(b"session", raw, _RANDOM_BYTES + _ADDRESS_BYTES + _TIME_BYTES)
        if payload is None:
            return None
        address = Web3.to_checksum_address(payload[_RANDOM_BYTES:-_TIME_BYTES])
        return raw, address, int.from_bytes(payload[-_TIME_BYTES:], "big")

    def address_for(self, token: str) -> str:
        session = self._session(token)
        if session is None or session[2] < time.time() or session[0] in self._ended:
            raise Unauthenticated(
                "the session token is unknown or expired; sign in again (POST /v1/auth/login)"
            )
        return session[1]

    def logout(self, token: str) -> bool:
        session = self._session(token)
        now = time.time()
        if session is None or session[2] < now:
            return False
        with self._lock:
            return self._ended.add(session[0], session[2], now)


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
