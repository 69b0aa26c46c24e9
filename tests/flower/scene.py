"""The governed simulation's cast, shared by the test (the service's virtualenv) and the run it
starts in the Flower virtualenv (``tests/flower/simulation.py``). No Flower, no pytest.

Seven virtual nodes, by ``partition-id``: 0-3 honest organisations with label-skewed digits
shards, 4 an organisation sending its honest update scaled by -4, 5 a node whose account lacks
the SubmitUpdates right, 6 a node that lies in its reply (claims another participant's update
with a made-up CID). Two rounds, Multi-Krum f=1 (which needs at least 2f + 3 = 5 updates), the
members approving each aggregate in between.
"""

from __future__ import annotations

from service.chain.accounts import dev_account
from service.flower.digits import DigitsTrainer
from service.flower.rounds import RoundTerms
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid

OWNER, FOUNDERS = dev_account(1), (dev_account(2), dev_account(3))
NODES = {p: dev_account(5 + p) for p in range(7)}  # partition -> the node's account
HONEST, POISONED, NO_RIGHT, LIAR = (0, 1, 2, 3), 4, 5, 6
KEY_PREFIX = "GOVLEDGER_TEST_FLOWER_KEY_"
ROUNDS = 2
TERMS = RoundTerms(
    rule="multi-krum", params={"f": 1, "m": 4}, min_updates=5, max_updates=6, max_norm=50.0
)
TRAINER = DigitsTrainer(participants=4, poisoned_partitions=frozenset({POISONED}), epochs=1)
FAKE_CID = str(compute_cid(iter_chunks([b"not an update anybody sent"]))[0])
