"""``govledger login`` / ``logout``: Sign-In with Ethereum sessions, cached per URL and account.

The cache is ``<data_dir>/session.json`` (mode 0600): ``{"<url> <address>": {token, address,
expires_at}}``. A session token only proves who signed in; what it may read is asked of the
chain at each request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from service.cli.context import state
from service.cli.output import CliError, emit, fields, stderr
from service.client import ClientError, GovLedgerClient
from service.config import Settings

T = TypeVar("T")


class SessionCache:
    """Session tokens by service URL and address, in one small JSON file."""

    def __init__(self, settings: Settings) -> None:
        self.path: Path = settings.data_dir / "session.json"

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def get(self, url: str, address: str | None) -> dict[str, Any] | None:
        """The live session of ``address`` at ``url``; without an address, the one live
        session at ``url`` if there is exactly one."""
        now = time.time()
        live = {
            k: v
            for k, v in self._load().items()
            if k.split(" ")[0] == url and int(v.get("expires_at", 0)) > now
        }
        if address is not None:
            return live.get(f"{url} {address}")
        return next(iter(live.values())) if len(live) == 1 else None

    def put(self, url: str, session: dict[str, Any]) -> None:
        data = self._load()
        data[f"{url} {session['address']}"] = session
        self._save(data)

    def remove(self, url: str, address: str) -> None:
        data = self._load()
        if data.pop(f"{url} {address}", None) is not None:
            self._save(data)


def sign_in(client: GovLedgerClient) -> dict[str, Any]:
    """Sign in as the acting account and cache the session."""
    s = state()
    session = client.login(s.signer()).model_dump()
    SessionCache(s.settings).put(s.url, session)
    return session


def signed_in_if_asked(fetch: Callable[[], T]) -> T:
    """``fetch()`` with the cached session, if any; if the service answers 401 (restricted
    content) and a key is given, sign in as that account and fetch again."""
    try:
        return fetch()
    except ClientError as exc:
        if exc.status != 401:
            raise
        s = state()
        if not s.has_key():
            raise CliError(
                f"{exc.detail.split(';')[0]}: sign in first (`govledger --as NAME login`) or "
                "give a key with --as / --dev-account"
            ) from None
        stderr().print(f"signing in as {s.address()} ({exc.detail.split(';')[0]})")
        sign_in(s.client(session=True))
        return fetch()


def login() -> None:
    """Sign in with Ethereum as the acting account (for reading restricted artifacts)."""
    s = state()
    client = s.client()
    client.session_token = None
    session = sign_in(client)
    expires = datetime.fromtimestamp(session["expires_at"], UTC).isoformat(timespec="seconds")
    emit(
        {**session, "url": s.url},
        lambda: fields(
            [("signed in", session["address"]), ("service", s.url), ("expires", expires)]
        ),
        as_json=s.json_output,
    )


def logout() -> None:
    """End the acting account's session (or the only one) on this service."""
    s = state()
    cache = SessionCache(s.settings)
    cached = cache.get(s.url, s.address())
    if cached is None:
        raise CliError(f"no session to end at {s.url}; nobody signed in with `govledger login`")
    client = s.client()
    client.session_token = str(cached["token"])
    try:
        client.logout()
    except ClientError as exc:
        if exc.status != 401:
            raise
        stderr().print("the service had already ended the session")
    cache.remove(s.url, str(cached["address"]))
    emit(
        {"signed_out": cached["address"], "url": s.url},
        lambda: f"signed out {cached['address']} from {s.url}",
        as_json=s.json_output,
    )
