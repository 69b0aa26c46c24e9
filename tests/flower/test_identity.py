"""A node's identity is the signing account its node config names: a key in an environment
variable, or a keystore file and the variable holding its password; optionally pinned to an
address. Nothing here talks to a stack or imports Flower (a node config is a mapping)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.chain.accounts import KeystoreError, dev_account, write_keystore
from service.flower.identity import (
    NodeIdentityError,
    as_int,
    keys_by_partition,
    signer_from_node_config,
)

ORG = dev_account(11)


def context(**node_config: str | int) -> dict[str, str | int]:
    return node_config


def test_a_key_in_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORG_KEY", ORG.key.hex())
    assert signer_from_node_config(context(**{"govledger-key-env": "ORG_KEY"})) == ORG
    pinned = context(**{"govledger-key-env": "ORG_KEY", "govledger-account": ORG.address.lower()})
    assert signer_from_node_config(pinned).address == ORG.address
    someone_else = dev_account(12).address
    other = context(**{"govledger-key-env": "ORG_KEY", "govledger-account": someone_else})
    with pytest.raises(NodeIdentityError, match="mapped to"):
        signer_from_node_config(other)
    monkeypatch.delenv("ORG_KEY")
    with pytest.raises(NodeIdentityError, match="ORG_KEY"):
        signer_from_node_config(context(**{"govledger-key-env": "ORG_KEY"}))


def test_a_keystore_and_its_password_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keystore = write_keystore(ORG, tmp_path / "org.json", "s3cret")
    config = {"govledger-keystore": str(keystore), "govledger-password-env": "ORG_PASSWORD"}
    with pytest.raises(NodeIdentityError, match="password"):
        signer_from_node_config(context(**config))
    monkeypatch.setenv("ORG_PASSWORD", "s3cret")
    assert signer_from_node_config(context(**config)).address == ORG.address
    monkeypatch.setenv("ORG_PASSWORD", "wrong")
    with pytest.raises(KeystoreError, match="wrong password"):
        signer_from_node_config(context(**config))


def test_no_key_named_and_keys_by_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NodeIdentityError, match="names no key"):
        signer_from_node_config(context(**{"partition-id": 0}))
    identity = keys_by_partition("ORG_KEY_")
    monkeypatch.setenv("ORG_KEY_3", ORG.key.hex())
    assert identity(context(**{"partition-id": 3})) == ORG
    with pytest.raises(NodeIdentityError, match="ORG_KEY_2"):
        identity(context(**{"partition-id": 2}))


def test_as_int_takes_ints_and_their_decimal_strings_only() -> None:
    assert (as_int(7), as_int("7")) == (7, 7)
    for bad in (True, 1.5, "x", None):
        with pytest.raises(ValueError):
            as_int(bad)
