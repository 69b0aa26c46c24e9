"""An organisation's part in a governed Flower round, without Flower: fetch the round's base from
the service (verified against the digest the chain records), train on the node's own data, and
submit the update through the service's gate, signed with the node's own key. What it returns is
a claim for the strategy (participant, update CID, transaction), never the weights.
:mod:`service.flower.participant` wraps it as a Flower ClientApp's ``train`` handler.

**Bytes travel through the service only.** The gate (round open, signer holds SubmitUpdates, no
earlier update, nonce, deadline, signature; then the bytes against the base and the norm bound)
is the one the project's own participants pass, and the chain records the same things, whichever
engine drove the round. Sending the weights through Flower as well would add a second copy that
nothing checks against the chain.

**Identity is the signing account** (:mod:`service.flower.identity`). The node config may also
name ``govledger-url``, the service this node trusts (else the coordinator's, from the message).
A node that cannot take part — no key, a signer without the right, a base that is not the
round's — answers ``refused`` with the reason instead of failing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load as safetensors_load

from service.chain.accounts import KeystoreError
from service.client import ClientError, ClientFailure, GovLedgerClient
from service.flower import records
from service.flower.identity import Identity, NodeConfig, as_int, signer_from_node_config
from service.flower.timing import Stopwatch, TimedSigner
from service.ml.federated import update_bytes


@dataclass(frozen=True, kw_only=True)
class LocalTraining:
    """What a node's training produced: the update (trained weights minus the base, the base's
    tensor names and shapes) and the number of samples it saw (what the node signs)."""

    update: Mapping[str, np.ndarray]
    sample_count: int


Trainer = Callable[[Mapping[str, np.ndarray], NodeConfig, int], LocalTraining]
"""``trainer(base_weights, node_config, round_id) -> LocalTraining``: the node's own training."""


@dataclass(frozen=True, kw_only=True)
class NodeReply:
    """What a node tells the strategy (see :mod:`service.flower.records`)."""

    status: str  # records.RECORDED or records.REFUSED
    participant: str = ""
    update_cid: str = ""
    transaction: str = ""
    reason: str = ""
    contract_error: str = ""
    num_examples: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)  # fetch, train, sign, submit, total

    def config(self) -> dict[str, str]:
        """The strings of the reply's ``govledger`` ConfigRecord."""
        if self.status == records.RECORDED:
            return {
                records.STATUS: self.status,
                records.PARTICIPANT: self.participant,
                records.UPDATE_CID: self.update_cid,
                records.TRANSACTION: self.transaction,
            }
        return {
            records.STATUS: self.status,
            records.PARTICIPANT: self.participant,
            records.REASON: self.reason,
            records.CONTRACT_ERROR: self.contract_error,
        }


def refused(participant: str, reason: str, contract_error: str = "") -> NodeReply:
    return NodeReply(
        status=records.REFUSED,
        participant=participant,
        reason=reason,
        contract_error=contract_error,
    )


def take_part(
    config: Mapping[str, object],
    node_config: NodeConfig,
    *,
    trainer: Trainer,
    identity: Identity = signer_from_node_config,
    service_url: str | None = None,
    timeout: float = 120.0,
) -> NodeReply:
    """Fetch, train, sign and submit. ``config`` is the train message's ``config`` record.
    The reply's ``seconds`` say where the node's time went: ``fetch`` (the base, verified),
    ``train``, ``submit`` (hashing, preparing, signing and the upload through the gate until the
    chain recorded it), ``sign`` (the signature alone, part of ``submit``), ``total``."""
    started = time.perf_counter()
    try:
        round_id = as_int(config[records.ROUND_ID])
        base_cid = str(config[records.BASE_CID])
    except (KeyError, ValueError):
        return refused("", "the message names no govledger round (not a governed strategy?)")
    url = str(
        node_config.get("govledger-url") or service_url or config.get(records.SERVICE_URL) or ""
    )
    if not url:
        return refused("", "no service URL: set govledger-url in the node config")
    try:
        signer = TimedSigner(identity(node_config))
    except KeystoreError as exc:
        return refused("", f"this node has no usable key: {exc}")
    watch = Stopwatch()
    try:
        with (
            GovLedgerClient(base_url=url, timeout=timeout) as client,
            tempfile.TemporaryDirectory(prefix="govledger-flower-") as tmp,
        ):
            with watch.step("fetch"):
                fetched = client.fetch_base(round_id, Path(tmp) / "base.safetensors")
            if fetched.cid != base_cid:
                return refused(
                    signer.address,
                    f"the coordinator named base {base_cid}, but round {round_id}'s base on "
                    f"chain is {fetched.cid}",
                )
            base = safetensors_load(fetched.path.read_bytes())
            with watch.step("train"):
                training = trainer(base, node_config, round_id)
            with watch.step("submit"):
                written = client.submit_update(
                    signer,
                    round_id,
                    update_bytes(training.update, round_id=round_id),
                    sample_count=training.sample_count,
                )
    except ClientFailure as exc:
        error = exc.contract_error if isinstance(exc, ClientError) else None
        return refused(signer.address, str(exc), str((error or {}).get("name") or ""))
    return NodeReply(
        status=records.RECORDED,
        participant=signer.address,
        update_cid=written.update.update_cid,
        transaction=written.transaction.transaction_hash,
        num_examples=training.sample_count,
        seconds={**watch.seconds, "sign": signer.seconds, "total": time.perf_counter() - started},
    )
