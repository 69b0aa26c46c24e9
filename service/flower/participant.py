"""An organisation's side of a governed Flower round as a Flower ClientApp: its ``train`` handler
runs :func:`service.flower.node.take_part` (fetch the base, train, sign, submit through the
service's gate) and replies with the claim in a ``govledger`` ConfigRecord and the sample count
in a ``metrics`` MetricRecord (:mod:`service.flower.records`); no weights travel through Flower.

This module imports Flower: it runs in the Flower side's own virtualenv (``.venv-flower``), never
in the service's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from service.flower import records
from service.flower.identity import Identity, signer_from_node_config
from service.flower.node import NodeReply, Trainer, take_part


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
        """Fetch, train, sign and submit; the reply's records."""
        config = message.content.config_records.get(records.CONFIG) or ConfigRecord()
        reply = take_part(
            dict(config),
            dict(context.node_config),
            trainer=self.trainer,
            identity=self.identity,
            service_url=self.service_url,
            timeout=self.timeout,
        )
        return reply_records(reply)


def reply_records(reply: NodeReply) -> RecordDict:
    claim = ConfigRecord()
    for key, value in reply.config().items():
        claim[key] = value
    metrics = MetricRecord(
        {
            records.NUM_EXAMPLES: reply.num_examples,
            **{f"{records.SECONDS}{step}": s for step, s in reply.seconds.items()},
        }
    )
    return RecordDict({records.REPLY: claim, records.METRICS: metrics})


def participant_app(train: Callable[[Message, Context], Message]) -> ClientApp:
    """A ClientApp whose ``train`` handler is ``train`` (a :class:`Participant`, or a handler
    that wraps one)."""
    app = ClientApp()
    app.train()(train)
    return app
