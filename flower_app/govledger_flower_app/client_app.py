"""The ClientApp: one organisation's node. Its node config names its key (``govledger-key-env``,
or ``govledger-keystore`` + ``govledger-password-env``; optionally ``govledger-account``), its
``partition-id`` of the digits data, and ``govledger-poisoned = true`` for the scenario's
misbehaving node. With the run config's ``engine = "plain"`` it trains from the weights in the
message and sends its weights back, as plain Flower does (the benchmark's baseline)."""

from __future__ import annotations

from flwr.app import Context, Message

from govledger_flower_app.plain import plain_train
from service.flower.digits import DigitsTrainer
from service.flower.identity import as_int
from service.flower.participant import Participant, participant_app


def train(message: Message, context: Context) -> Message:
    partition = as_int(context.node_config.get("partition-id", 0))
    poisoned = bool(context.node_config.get("govledger-poisoned", False))
    trainer = DigitsTrainer(
        participants=as_int(context.run_config.get("participants", 4)),
        poisoned_partitions=frozenset({partition} if poisoned else ()),
    )
    if str(context.run_config.get("engine", "governed")) == "plain":
        return plain_train(message, context, trainer)
    return Participant(trainer=trainer)(message, context)


app = participant_app(train)
