"""``govledger keys``: signing keys in standard encrypted Ethereum keystore files.

Keys live in ``<data_dir>/keys/NAME.json`` (keystore V3, mode 0600). The password comes from
``GOVLEDGER_KEY_PASSWORD`` or a hidden prompt; the private key of ``keys import`` from
``GOVLEDGER_PRIVATE_KEY`` or a hidden prompt, so neither lands in the shell history.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.cli.context import PASSWORD_ENV, PRIVATE_KEY_ENV, state
from service.cli.exits import ExitCode
from service.cli.output import CliError, command, emit, fields, table
from service.config import Settings

app = typer.Typer(help="Signing keys (encrypted Ethereum keystore files).", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The key's name, e.g. alice.")]
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def key_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def key_path(settings: Settings, name: str) -> Path:
    if not _NAME.match(name):
        raise CliError(f"key name {name!r} is invalid: use 1 to 64 of A-Z a-z 0-9 . _ -")
    return key_dir(settings) / f"{name}.json"


def keystore_address(settings: Settings, name: str) -> str:
    """The address a keystore file names (stored in clear), without decrypting it."""
    path = key_path(settings, name)
    try:
        data = json.loads(path.read_text())
        address = str(data["address"])
    except FileNotFoundError:
        raise CliError(
            f"no key named {name!r} (looked for {path}); see `govledger keys list`",
            code=ExitCode.NOT_FOUND,
        ) from None
    except (ValueError, KeyError, TypeError):
        raise CliError(f"{path} is not a keystore file") from None
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address if address.startswith("0x") else "0x" + address))


def load_key(settings: Settings, name: str) -> LocalAccount:
    """Decrypt the keystore ``name`` (password from the environment or a prompt)."""
    from service.chain.accounts import load_keystore

    path = key_path(settings, name)
    if not path.exists():
        raise CliError(
            f"no key named {name!r} (looked for {path}); see `govledger keys list`",
            code=ExitCode.NOT_FOUND,
        )
    return load_keystore(path, _password(f"Password of key {name!r}", confirm=False))


def _password(prompt: str, *, confirm: bool) -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    if not password:
        raise CliError(f"an empty password does not protect a key; set {PASSWORD_ENV}")
    return password


def _save(name: str, account: LocalAccount) -> None:
    from service.chain.accounts import write_keystore

    settings = state().settings
    path = key_path(settings, name)
    if path.exists():
        raise CliError(f"a key named {name!r} exists already ({path}); choose another name")
    password = _password(f"Password for the new key {name!r}", confirm=True)
    write_keystore(account, path, password)
    emit(
        {"name": name, "address": account.address, "path": str(path)},
        lambda: fields([("name", name), ("address", account.address), ("file", str(path))]),
        as_json=state().json_output,
    )


@command(app, "new")
def new(name: NameArg) -> None:
    """Create a new random key and store it encrypted."""
    _save(name, Account.create())


@command(app, "import")
def import_(name: NameArg) -> None:
    """Store an existing private key (from GOVLEDGER_PRIVATE_KEY or a hidden prompt)."""
    from service.chain.accounts import account_from_key

    key = os.environ.get(PRIVATE_KEY_ENV) or typer.prompt("Private key (hex)", hide_input=True)
    _save(name, account_from_key(key.strip()))


@command(app, "list")
def list_() -> None:
    """List the stored keys and their addresses."""
    settings = state().settings
    rows = []
    for path in sorted(key_dir(settings).glob("*.json")):
        try:
            address = keystore_address(settings, path.stem)
        except CliError as exc:
            address = f"unreadable: {exc}"
        rows.append({"name": path.stem, "address": address, "path": str(path)})
    emit(
        rows,
        lambda: table(
            "name",
            "address",
            "file",
            rows=[(r["name"], r["address"], r["path"]) for r in rows],
            title=f"keys in {key_dir(settings)}",
        ),
        as_json=state().json_output,
    )


@command(app, "show")
def show(name: NameArg) -> None:
    """Show a key's address and file (nothing is decrypted)."""
    settings = state().settings
    address = keystore_address(settings, name)
    path = key_path(settings, name)
    emit(
        {"name": name, "address": address, "path": str(path)},
        lambda: fields([("name", name), ("address", address), ("file", str(path))]),
        as_json=state().json_output,
    )
