"""Two governed rounds in Flower's in-process simulation (``run_simulation``, Ray workers), run in
the Flower virtualenv by ``tests/flower/test_governed_rounds.py``:

    .venv-flower/bin/python -m tests.flower.simulation --url URL --model-id N \
        --base-version-id N --out rounds.json

The cast is ``tests/flower/scene.py``'s; the members (the founders' dev keys) approve each
aggregate as soon as it is finalized. Writes the strategy's rounds as JSON
(:func:`service.flower.rounds.rounds_to_json`) and exits 0 if the simulation ran to its end,
whatever the rounds say: the test reads them and the chain.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.simulation import run_simulation

from service.client import GovLedgerClient
from service.flower import records
from service.flower.identity import keys_by_partition
from service.flower.participant import Participant, participant_app
from service.flower.rounds import GovernedRound, rounds_to_json
from service.flower.strategy import GovernedStrategy, governed_server_app
from tests.flower.scene import (
    FAKE_CID,
    FOUNDERS,
    HONEST,
    KEY_PREFIX,
    LIAR,
    NODES,
    OWNER,
    ROUNDS,
    TERMS,
    TRAINER,
)


@dataclass(frozen=True)
class LyingNode:
    """The ClientApp's train handler: honest nodes run the participant helper; the liar signs
    nothing and claims, in its reply, that another organisation's update is its own."""

    honest: Participant

    def __call__(self, message: Message, context: Context) -> Message:
        if context.node_config.get("partition-id") != LIAR:
            return self.honest(message, context)
        claim = ConfigRecord(
            {
                records.STATUS: records.RECORDED,
                records.PARTICIPANT: NODES[HONEST[0]].address,
                records.UPDATE_CID: FAKE_CID,
                records.TRANSACTION: "0x" + "ab" * 32,
            }
        )
        metrics = MetricRecord({records.NUM_EXAMPLES: 10**6})
        content = RecordDict({records.REPLY: claim, records.METRICS: metrics})
        return Message(content=content, reply_to=message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model-id", type=int, required=True)
    parser.add_argument("--base-version-id", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    # the nodes' keys, by partition; Ray's workers inherit the environment
    os.environ.update({f"{KEY_PREFIX}{p}": a.key.hex() for p, a in NODES.items()})
    with GovLedgerClient(base_url=args.url, timeout=120) as client:

        def members_vote(done: GovernedRound) -> None:
            assert done.version_id is not None
            for voter in FOUNDERS:
                client.cast_vote(voter, done.version_id, "for")

        strategy = GovernedStrategy(
            client=client,
            coordinator=OWNER,
            model_id=args.model_id,
            base_version_id=args.base_version_id,
            terms=TERMS,
            on_finalized=members_vote,
            min_train_nodes=len(NODES),
            min_available_nodes=len(NODES),
        )
        client_app = participant_app(
            LyingNode(Participant(trainer=TRAINER, identity=keys_by_partition(KEY_PREFIX)))
        )
        run_simulation(
            server_app=governed_server_app(lambda: strategy, num_rounds=ROUNDS, timeout=300),
            client_app=client_app,
            num_supernodes=len(NODES),
            backend_config={
                "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                "init_args": {"num_cpus": 2, "include_dashboard": False},
            },
        )
    args.out.write_text(rounds_to_json(strategy.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
