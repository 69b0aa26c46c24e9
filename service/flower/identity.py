"""An organisation's identity in a governed Flower run: the signing account its node config
names, never Flower's random node id. Pure lookups over the node config (a mapping, as Flower's
``Context.node_config`` is one); nothing here imports Flower.

Each node names its key in its node config (``flower-supernode --node-config``):

- ``govledger-key-env``: the name of an environment variable holding the hex private key;
- ``govledger-keystore`` and ``govledger-password-env``: a keystore file, and the name of the
  variable holding its password;
- ``govledger-account`` (optional): the address the key must have, an explicit node-to-account
  map (a mismatch refuses).

The key never leaves the node. In a simulation, where every virtual node's config is only its
``partition-id``, :func:`keys_by_partition` maps partitions to variables instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from eth_account.signers.local import LocalAccount

from service.chain.accounts import KeystoreError, account_from_key, load_keystore

NodeConfig = Mapping[str, object]
"""A node's config: Flower's ``Context.node_config`` (str, int, float or bool values)."""

Identity = Callable[[NodeConfig], LocalAccount]
"""``identity(node_config) -> account``: the node's signing key, loaded on the node."""


class NodeIdentityError(KeystoreError):
    """The node config names no usable key, or a key of another account than the one mapped."""


def signer_from_node_config(config: NodeConfig) -> LocalAccount:
    """The node's key as its node config names it (see the module docstring)."""
    key_env = config.get("govledger-key-env")
    keystore = config.get("govledger-keystore")
    if key_env:
        key = os.environ.get(str(key_env))
        if not key:
            raise NodeIdentityError(f"the variable {key_env} named by govledger-key-env is unset")
        account = account_from_key(key)
    elif keystore:
        password_env = str(config.get("govledger-password-env") or "")
        password = os.environ.get(password_env) if password_env else None
        if password is None:
            raise NodeIdentityError(
                "govledger-keystore needs govledger-password-env, the name of a set variable "
                "holding the keystore's password"
            )
        account = load_keystore(Path(str(keystore)), password)
    else:
        raise NodeIdentityError(
            "the node config names no key: give govledger-key-env, or govledger-keystore and "
            "govledger-password-env"
        )
    expected = config.get("govledger-account")
    if expected and str(expected).lower() != account.address.lower():
        raise NodeIdentityError(
            f"the key is {account.address}'s, but this node is mapped to {expected}"
        )
    return account


def keys_by_partition(prefix: str) -> Identity:
    """For simulations: the node whose ``partition-id`` is ``i`` signs with the hex key in the
    variable ``{prefix}{i}``."""

    def identity(config: NodeConfig) -> LocalAccount:
        partition = config.get("partition-id")
        if partition is None:
            raise NodeIdentityError("keys_by_partition needs the node config's partition-id")
        name = f"{prefix}{as_int(partition)}"
        key = os.environ.get(name)
        if not key:
            raise NodeIdentityError(f"no key for partition {partition}: {name} is unset")
        return account_from_key(key)

    return identity


def as_int(value: object) -> int:
    """An integer from a Flower record or node config value (ints, or their decimal strings)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)
