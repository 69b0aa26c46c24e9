"""What the governed strategy and the participants say to each other through Flower's messages.

Strings (CIDs, addresses, transaction hashes, reasons) travel in ``ConfigRecord`` s; Flower's
``MetricRecord`` takes numbers only. No tensors travel through Flower: the base is fetched from
the service and verified against the chain, the update is streamed to the service's gate.

Coordinator to node, in the train message's ``config`` record:

- ``govledger-round-id``: the on-chain round id (int);
- ``govledger-base-cid``: the CID of the round's base (the node checks the base it fetches
  against the chain, and against this);
- ``govledger-service-url``: the coordinator's service (a node's own ``govledger-url`` wins).

Node to coordinator, in the reply's ``govledger`` record (a claim, never trusted: the strategy
reads the round from the chain and aggregates only what the chain records):

- ``status``: ``recorded`` (the gate accepted the update) or ``refused`` (it did not, or the
  node could not take part);
- ``participant``: the signing account's address (empty if the node could not load its key);
- ``update-cid``, ``transaction``: the update's CID and the transaction that recorded it;
- ``reason`` and ``contract-error``: why it was refused, and the contract's error name if the
  chain refused it;

and a ``metrics`` MetricRecord with ``num-examples`` (the sample count it signed; 0 if refused)
and where the node's time went, ``seconds-fetch``, ``seconds-train``, ``seconds-sign``,
``seconds-submit`` and ``seconds-total`` (numbers a node reports about itself, for benchmarks).
"""

from __future__ import annotations

from typing import Final

CONFIG: Final = "config"  # FedAvg's configrecord_key
ROUND_ID: Final = "govledger-round-id"
BASE_CID: Final = "govledger-base-cid"
SERVICE_URL: Final = "govledger-service-url"

REPLY: Final = "govledger"
METRICS: Final = "metrics"
NUM_EXAMPLES: Final = "num-examples"
SECONDS: Final = "seconds-"  # a prefix: seconds-fetch, seconds-train, ... (node.NodeReply.seconds)
STATUS: Final = "status"
PARTICIPANT: Final = "participant"
UPDATE_CID: Final = "update-cid"
TRANSACTION: Final = "transaction"
REASON: Final = "reason"
CONTRACT_ERROR: Final = "contract-error"

RECORDED: Final = "recorded"
REFUSED: Final = "refused"
