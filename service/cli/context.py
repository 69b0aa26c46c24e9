"""What every command shares: the global options, the settings, the client and the acting key.

The acting key is, in this order: ``--dev-account N`` (anvil's public dev keys, local chain
only), ``--as NAME`` (the keystore ``<data_dir>/keys/NAME.json``), or ``GOVLEDGER_PRIVATE_KEY``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from pydantic import ValidationError

from service.api.schemas import VersionPublic
from service.cli.exits import ExitCode
from service.cli.output import CliError
from service.client import ClientError, GovLedgerClient
from service.config import Settings

PRIVATE_KEY_ENV = "GOVLEDGER_PRIVATE_KEY"
PASSWORD_ENV = "GOVLEDGER_KEY_PASSWORD"


@dataclass(kw_only=True)
class CliState:
    """The root command's options, and what is built from them once per invocation."""

    url_option: str | None = None
    key_name: str | None = None
    dev_account: int | None = None
    json_output: bool = False
    session_address: str | None = None  # whose cached session the client carries
    _settings: Settings | None = None
    _client: GovLedgerClient | None = None
    _signer: LocalAccount | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings()
            except ValidationError as exc:
                raise CliError(f"invalid GOVLEDGER_* environment: {exc}") from None
        return self._settings

    @property
    def url(self) -> str:
        return (self.url_option or self.settings.service_url).rstrip("/")

    def client(self, *, session: bool = False) -> GovLedgerClient:
        """The service client; with ``session``, carrying the cached sign-in of the acting
        account, or without a key the active session (see service/cli/session.py)."""
        if self._client is None:
            self._client = GovLedgerClient(base_url=self.url, timeout=120.0)
        if session and self._client.session_token is None:
            from service.cli.session import SessionCache

            cached = SessionCache(self.settings).get(self.url, self.address())
            if cached is not None:
                self._client.session_token = str(cached["token"])
                self.session_address = str(cached["address"])
        return self._client

    def has_key(self) -> bool:
        return (
            self.dev_account is not None
            or self.key_name is not None
            or bool(os.environ.get(PRIVATE_KEY_ENV))
        )

    def address(self) -> str | None:
        """The acting account's address, without decrypting anything; None if no key is set."""
        from service.chain.accounts import account_from_key, dev_account

        if self.dev_account is not None:
            return str(dev_account(self.dev_account).address)
        if self.key_name is not None:
            from service.cli.keys import keystore_address

            return keystore_address(self.settings, self.key_name)
        key = os.environ.get(PRIVATE_KEY_ENV)
        return str(account_from_key(key).address) if key else None

    def signer(self) -> LocalAccount:
        """The acting account's key (a keystore's password is asked for once)."""
        if self._signer is None:
            self._signer = self._load_signer()
        return self._signer

    def _load_signer(self) -> LocalAccount:
        from service.chain.accounts import account_from_key, dev_account
        from service.chain.setup import LOCAL_CHAIN_ID

        if self.dev_account is not None and self.key_name is not None:
            raise CliError("give either --dev-account or --as, not both")
        if self.dev_account is not None:
            chain_id = self.client().info().chain_id
            if chain_id != LOCAL_CHAIN_ID:
                raise CliError(
                    f"--dev-account signs with anvil's public dev keys, for the local chain "
                    f"({LOCAL_CHAIN_ID}) only; the service runs chain {chain_id}: use --as NAME"
                )
            return dev_account(self.dev_account)
        if self.key_name is not None:
            from service.cli.keys import load_key

            return load_key(self.settings, self.key_name)
        key = os.environ.get(PRIVATE_KEY_ENV)
        if key:
            return account_from_key(key)
        raise CliError(
            "this command signs: choose a key with --as NAME (see `govledger keys list`), "
            f"--dev-account N on the local chain, or set {PRIVATE_KEY_ENV}",
            code=ExitCode.SIGNATURE,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


_current: ContextVar[CliState | None] = ContextVar("govledger_cli_state", default=None)


def begin(new: CliState) -> CliState:
    """Make ``new`` the state of this invocation (the root command calls this first)."""
    previous = _current.get()
    if previous is not None:
        previous.close()
    _current.set(new)
    return new


def state() -> CliState:
    """The state of this invocation."""
    current = _current.get()
    return current if current is not None else begin(CliState())


def model_id(client: GovLedgerClient, model: str) -> int:
    """A model given by id (digits) or by name."""
    if model.isdigit():
        return int(model)
    return client.get_model_by_name(model).model_id


def version_of(client: GovLedgerClient, ref: str, *, model: str | None = None) -> VersionPublic:
    """The version ``ref`` names (``digits-mlp@3``, ``digits-mlp:production``, an id; with
    ``model``, a bare number is that model's number): see service/domain/refs.py."""
    from service.domain.refs import parse_version_ref
    from service.errors import InvalidInput

    try:
        parsed = parse_version_ref(ref, model=model)
    except InvalidInput as exc:
        raise CliError(str(exc)) from None
    if parsed.version_id is not None:
        return client.get_version(parsed.version_id)
    return client.resolve_version(str(parsed))


class VersionNames:
    """Models' names and versions' ``name@N (id X)`` for what a command shows about the models
    ``model_ids``: one read of each model's versions, however many rows name it."""

    def __init__(self, client: GovLedgerClient, model_ids: Iterable[int]) -> None:
        from service.cli.render import numbered

        self.models: dict[int, str] = {}
        self.versions: dict[int, str] = {}
        for mid in sorted(set(model_ids)):
            offset = 0
            while True:
                try:
                    page = client.list_versions(mid, offset=offset, limit=100)
                except ClientError:  # names are a courtesy: without them, ids
                    break
                for v in page.items:
                    self.models[mid] = v.model_name or str(mid)
                    self.versions[v.version_id] = numbered(v.number, v.version_id, v.model_name)
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break

    def model(self, model_id: int) -> str:
        return self.models.get(model_id, str(model_id))

    def version(self, version_id: int | None) -> str:
        if version_id is None:
            return "-"
        return self.versions.get(version_id, f"id {version_id}")


@contextmanager
def naming(v: VersionPublic) -> Iterator[None]:
    """The service's errors say ``version 7`` (its id); within this block they also say the
    name the user knows it by: ``version 7 (digits-mlp@3)``."""
    try:
        yield
    except ClientError as exc:
        detail = exc.problem.get("detail")
        if v.model_name and v.number and isinstance(detail, str):
            exc.problem["detail"] = re.sub(
                rf"\bversion {v.version_id}\b",
                f"version {v.version_id} ({v.model_name}@{v.number})",
                detail,
            )
        raise
