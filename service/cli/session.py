"""``govledger login`` / ``logout`` / ``sessions``: Sign-In with Ethereum sessions, one per
service URL and account, and which of them is active.

The cache is ``<data_dir>/session.json`` (mode 0600)::

    {"sessions": {"<url> <address>": {token, address, expires_at}},
     "active": {"<url>": "<address>"}}

A command that reads restricted content uses the session of the account it acts as (``--as``,
``--dev-account``, ``GOVLEDGER_PRIVATE_KEY``); without a key, the active session: the last
``login``, or the one chosen with ``govledger sessions use``. A session token only proves who
signed in; what it may read is asked of the chain at each request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from service.cli.context import state
from service.cli.exits import ExitCode
from service.cli.output import CliError, command, emit, fields, stderr, table
from service.client import ClientError, GovLedgerClient
from service.config import Settings
from service.timefmt import human_time

T = TypeVar("T")

app = typer.Typer(help="Sign-in sessions: list them, choose the active one.", no_args_is_help=True)


class SessionCache:
    """Session tokens by service URL and address, and the active one per URL, in one small
    JSON file (the flat ``{"<url> <address>": session}`` of earlier versions is read too)."""

    def __init__(self, settings: Settings) -> None:
        self.path: Path = settings.data_dir / "session.json"

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {"sessions": {}, "active": {}}
        if not isinstance(data, dict):
            return {"sessions": {}, "active": {}}
        if "sessions" not in data:  # the earlier flat layout: sessions only, none active
            return {
                "sessions": {k: v for k, v in data.items() if isinstance(v, dict)},
                "active": {},
            }
        return {
            "sessions": dict(data.get("sessions") or {}),
            "active": dict(data.get("active") or {}),
        }

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def live(self, url: str) -> dict[str, dict[str, Any]]:
        """The sessions at ``url`` that have not expired, by address."""
        now = time.time()
        return {
            str(v["address"]): v
            for k, v in self._load()["sessions"].items()
            if k.split(" ")[0] == url and int(v.get("expires_at", 0)) > now
        }

    def active(self, url: str) -> str | None:
        """The address of the active session at ``url`` (None if none is chosen)."""
        address = self._load()["active"].get(url)
        return str(address) if address else None

    def get(self, url: str, address: str | None) -> dict[str, Any] | None:
        """The live session of ``address`` at ``url``; without an address, the active one, or
        the only live one when none is chosen."""
        live = self.live(url)
        if address is not None:
            return live.get(address)
        active = self.active(url)
        if active is not None:
            return live.get(active)
        return next(iter(live.values())) if len(live) == 1 else None

    def put(self, url: str, session: dict[str, Any], *, activate: bool) -> None:
        data = self._load()
        data["sessions"][f"{url} {session['address']}"] = session
        if activate:
            data["active"][url] = session["address"]
        self._save(data)

    def activate(self, url: str, address: str) -> None:
        data = self._load()
        data["active"][url] = address
        self._save(data)

    def remove(self, url: str, address: str) -> None:
        data = self._load()
        data["sessions"].pop(f"{url} {address}", None)
        if data["active"].get(url) == address:
            del data["active"][url]
        self._save(data)


def sign_in(client: GovLedgerClient, *, activate: bool) -> dict[str, Any]:
    """Sign in as the acting account and cache the session (``activate``: make it the active
    one, as ``login`` does; a sign-in a command does by itself for its key does not)."""
    s = state()
    session = client.login(s.signer()).model_dump()
    SessionCache(s.settings).put(s.url, session, activate=activate)
    return session


def no_session_hint(url: str) -> str:
    """What to do when no session applies: which accounts have one, and how to choose."""
    cache = SessionCache(state().settings)
    live = sorted(cache.live(url))
    active = cache.active(url)
    expired = (
        f"the active session ({active}) has expired: sign in again (`govledger --as NAME login`); "
        if active is not None and active not in live
        else ""
    )
    if not live:
        return (
            f"{expired or 'nobody is signed in here: '}sign in first (`govledger --as NAME "
            "login`) or give a key with --as / --dev-account"
        )
    return (
        f"{expired}sessions at {url} exist for {', '.join(live)} but none is active: choose "
        "one with `govledger sessions use ADDRESS`, or act as one with --as NAME / "
        "--dev-account N"
    )


def signed_in_if_asked(fetch: Callable[[], T]) -> T:
    """``fetch()`` with the session that applies, if any; if the service answers 401
    (restricted content) and a key is given, sign in as that account and fetch again."""
    s = state()
    try:
        return fetch()
    except ClientError as exc:
        if exc.status != 401:
            raise
        refused = exc
    client = s.client(session=True)
    if client.session_token is not None and s.session_address is not None:
        # the service no longer knows the saved session (it restarted, or the session ended):
        # forget it, and try without it (open content needs none)
        stderr().print(
            f"the saved session of {s.session_address} at {s.url} has ended (the service "
            "restarted, or it expired); it is forgotten"
        )
        SessionCache(s.settings).remove(s.url, s.session_address)
        client.session_token, s.session_address = None, None
        try:
            return fetch()
        except ClientError as exc:
            if exc.status != 401:
                raise
            refused = exc
    what = refused.detail.split(";")[0]
    if not s.has_key():
        raise CliError(f"{what}: {no_session_hint(s.url)}", code=ExitCode.SIGNATURE) from None
    stderr().print(f"signing in as {s.address()} ({what})")
    sign_in(client, activate=False)
    return fetch()


def login() -> None:
    """Sign in with Ethereum as the acting account, which becomes the active session (for
    reading restricted artifacts and metadata)."""
    s = state()
    client = s.client()
    client.session_token = None
    session = sign_in(client, activate=True)
    expires = human_time(session["expires_at"])
    emit(
        {**session, "url": s.url, "active": True},
        lambda: fields(
            [
                ("signed in", session["address"]),
                ("service", s.url),
                ("expires", expires),
                ("active", "yes: commands without --as / --dev-account use this session"),
            ]
        ),
        as_json=s.json_output,
    )


def logout() -> None:
    """End the acting account's session (or the active one) on this service."""
    s = state()
    cache = SessionCache(s.settings)
    cached = cache.get(s.url, s.address())
    if cached is None:
        raise CliError(
            f"no session to end at {s.url}: {no_session_hint(s.url)}", code=ExitCode.NOT_FOUND
        )
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


@command(app, "list")
def list_sessions() -> None:
    """The live sessions at this service, which one is active, when each expires."""
    s = state()
    cache = SessionCache(s.settings)
    active = cache.active(s.url)
    rows = [
        {"address": a, "expires_at": v["expires_at"], "active": a == active}
        for a, v in sorted(cache.live(s.url).items())
    ]
    emit(
        rows,
        lambda: table(
            "account", "expires", "active",
            rows=[(r["address"], human_time(r["expires_at"]), r["active"]) for r in rows],
            title=f"sessions at {s.url}",
        ),
        as_json=s.json_output,
    )  # fmt: skip


@command(app, "use")
def use(
    account: Annotated[
        str | None,
        typer.Argument(help="The address (or key name) whose session becomes active."),
    ] = None,
) -> None:
    """Make an existing session the active one (or the acting account's: --as, --dev-account)."""
    s = state()
    cache = SessionCache(s.settings)
    if account is None:
        address = s.address()
    elif account.startswith("0x"):
        address = account
    else:
        from service.cli.keys import keystore_address

        address = keystore_address(s.settings, account)
    if address is None:
        raise CliError("name the account: `govledger sessions use ADDRESS` (or --as NAME)")
    live = cache.live(s.url)
    match = next((a for a in live if a.lower() == address.lower()), None)
    if match is None:
        has = ", ".join(sorted(live)) or "nobody"
        raise CliError(
            f"{address} has no session at {s.url} (sessions: {has}); sign in as it first: "
            "`govledger --as NAME login`",
            code=ExitCode.NOT_FOUND,
        )
    cache.activate(s.url, match)
    emit(
        {"active": match, "url": s.url},
        lambda: f"{match} is the active session at {s.url}",
        as_json=s.json_output,
    )
