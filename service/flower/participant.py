"""An organisation's side of a governed Flower round: a ClientApp whose ``train`` handler fetches
the round's base from the service (verified against the digest the chain records), trains on the
node's own data, and submits the update through the service's gate, signed with the node's own
key; it returns to the strategy only a claim (participant, update CID, transaction), never the
weights.

**Bytes travel through the service only.** The gate (round open, signer holds SubmitUpdates, no
earlier update, nonce, deadline, signature; then the bytes against the base and the norm bound)
is the one the project's own participants pass, and the chain records the same things, whichever
engine drove the round. Sending the weights through Flower as well would add a second copy that
nothing checks against the chain.

**Identity is the signing account**, not Flower's random node id. Each node names its key in its
node config (``flower-supernode --node-config``):

- ``govledger-key-env``: the name of an environment variable holding the hex private key;
- ``govledger-keystore`` and ``govledger-password-env``: a keystore file, and the name of the
  variable holding its password;
- ``govledger-account`` (optional): the address the key must have, an explicit node-to-account
  map (a mismatch refuses);
- ``govledger-url`` (optional): the service this node trusts (else the coordinator's, from the
  message).

The key never leaves the node: it signs locally (:meth:`GovLedgerClient.act`). In a simulation,
where every virtual node's config is only its ``partition-id``, :func:`keys_by_partition` maps
partitions to variables instead. A node that cannot take part — no key, a signer without the
right, a base that is not the round's — answers ``refused`` with the reason instead of failing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount
from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from safetensors.numpy import load as safetensors_load

from service.chain.accounts import KeystoreError, account_from_key, load_keystore
from service.client import ClientError, ClientFailure, GovLedgerClient
from service.flower import records
from service.ml.federated import update_bytes


@dataclass(frozen=True, kw_only=True)
class LocalTraining:
    """What a node's training produced: the update (trained weights minus the base, the base's
    tensor names and shapes) and the number of samples it saw (what the node signs)."""

    update: Mapping[str, np.ndarray]
    sample_count: int


Trainer = Callable[[Mapping[str, np.ndarray], Context, int], LocalTraining]
"""``trainer(base_weights, context, round_id) -> LocalTraining``: the node's own training."""

Identity = Callable[[Context], LocalAccount]
"""``identity(context) -> account``: the node's signing key, loaded on the node."""


class NodeIdentityError(KeystoreError):
    """The node config names no usable key, or a key of another account than the one mapped."""


def signer_from_node_config(context: Context) -> LocalAccount:
    """The node's key as its node config names it (see the module docstring)."""
    config = context.node_config
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

    def identity(context: Context) -> LocalAccount:
        partition = context.node_config.get("partition-id")
        if partition is None:
            raise NodeIdentityError("keys_by_partition needs the node config's partition-id")
        name = f"{prefix}{as_int(partition)}"
        key = os.environ.get(name)
        if not key:
            raise NodeIdentityError(f"no key for partition {partition}: {name} is unset")
        return account_from_key(key)

    return identity


@dataclass(frozen=True, kw_only=True)
class Participant:
    """The ``train`` handler of a governed node (a picklable callable, so Flower's simulation
    can ship it to its workers)."""

    trainer: Trainer
    identity: Identity = signer_from_node_config
    service_url: str | None = None
    timeout: float = 120.0

    def __call__(self, message: Message, context: Context) -> Message:
        return Message(content=self.take_part(message, context), reply_to=message)

    def take_part(self, message: Message, context: Context) -> RecordDict:
        """Fetch, train, sign and submit; the reply's records (see :mod:`records`)."""
        config = message.content.config_records.get(records.CONFIG) or ConfigRecord()
        try:
            round_id = as_int(config[records.ROUND_ID])
            base_cid = str(config[records.BASE_CID])
        except (KeyError, ValueError):
            return _refused("", "the message names no govledger round (not a governed strategy?)")
        url = str(
            context.node_config.get("govledger-url")
            or self.service_url
            or config.get(records.SERVICE_URL)
            or ""
        )
        if not url:
            return _refused("", "no service URL: set govledger-url in the node config")
        try:
            signer = self.identity(context)
        except KeystoreError as exc:
            return _refused("", f"this node has no usable key: {exc}")
        try:
            with (
                GovLedgerClient(base_url=url, timeout=self.timeout) as client,
                tempfile.TemporaryDirectory(prefix="govledger-flower-") as tmp,
            ):
                fetched = client.fetch_base(round_id, Path(tmp) / "base.safetensors")
                if fetched.cid != base_cid:
                    return _refused(
                        signer.address,
                        f"the coordinator named base {base_cid}, but round {round_id}'s base on "
                        f"chain is {fetched.cid}",
                    )
                base = safetensors_load(fetched.path.read_bytes())
                training = self.trainer(base, context, round_id)
                written = client.submit_update(
                    signer,
                    round_id,
                    update_bytes(training.update, round_id=round_id),
                    sample_count=training.sample_count,
                )
        except ClientFailure as exc:
            error = exc.contract_error if isinstance(exc, ClientError) else None
            return _refused(signer.address, str(exc), str((error or {}).get("name") or ""))
        reply = ConfigRecord(
            {
                records.STATUS: records.RECORDED,
                records.PARTICIPANT: signer.address,
                records.UPDATE_CID: written.update.update_cid,
                records.TRANSACTION: written.transaction.transaction_hash,
            }
        )
        metrics = MetricRecord({records.NUM_EXAMPLES: training.sample_count})
        return RecordDict({records.REPLY: reply, records.METRICS: metrics})


def as_int(value: object) -> int:
    """An integer from a Flower record or node config value (ints, or their decimal strings)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _refused(participant: str, reason: str, contract_error: str = "") -> RecordDict:
    reply = ConfigRecord(
        {
            records.STATUS: records.REFUSED,
            records.PARTICIPANT: participant,
            records.REASON: reason,
            records.CONTRACT_ERROR: contract_error,
        }
    )
    return RecordDict({records.REPLY: reply, records.METRICS: MetricRecord({"num-examples": 0})})


def participant_app(train: Callable[[Message, Context], Message]) -> ClientApp:
    """A ClientApp whose ``train`` handler is ``train`` (a :class:`Participant`, or a handler
    that wraps one)."""
    app = ClientApp()
    app.train()(train)
    return app
