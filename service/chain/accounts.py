"""Local signing keys: anvil's public dev accounts and standard Ethereum keystore files.

Dev accounts are for the local chain and tests only: their keys are public.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.chain.node import DEV_MNEMONIC
from service.errors import LedgerError

Account.enable_unaudited_hdwallet_features()


class KeystoreError(LedgerError):
    """A keystore file could not be read or decrypted."""


def dev_account(index: int) -> LocalAccount:
    """Anvil's dev account ``index`` (0 is the deployer and relayer of the local stack)."""
    if not 0 <= index < 1000:
        raise ValueError(f"dev account index {index} is out of range 0..999")
    account: LocalAccount = Account.from_mnemonic(
        DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}"
    )
    return account


def dev_accounts(count: int) -> list[LocalAccount]:
    return [dev_account(i) for i in range(count)]


def account_from_key(private_key: str) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(private_key)
    except (ValueError, TypeError) as exc:
        raise KeystoreError(
            "the private key is not a 32-byte hex string; check GOVLEDGER_*_KEY"
        ) from exc
    return account


def load_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt a standard Ethereum keystore JSON file (V3, scrypt or pbkdf2)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KeystoreError(f"no keystore file at {path}") from exc
    except ValueError as exc:
        raise KeystoreError(f"{path} is not a JSON keystore file") from exc
    try:
        key = Account.decrypt(data, password)
    except ValueError as exc:
        raise KeystoreError(f"cannot decrypt {path}: wrong password or damaged file") from exc
    return account_from_key(key.hex())


def write_keystore(account: LocalAccount, path: Path, password: str) -> Path:
    """Encrypt ``account`` into a standard keystore file (mode 0600)."""
    data = Account.encrypt(account.key, password)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
