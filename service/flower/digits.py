"""The federated digits scenario's local training for Flower nodes (scripts/federated.py's data and
misbehaviour, by the node's ``partition-id``): partition ``i < participants`` holds the ``i``-th
label-skewed shard, any further partition a random sample of its own; listed partitions send
their honest update scaled by -4 (a model-poisoning attack the round's robust rule should drop).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from service.flower.identity import NodeConfig, as_int
from service.flower.node import LocalTraining
from service.ml.federated import Shard, label_skewed_shards, local_update, poisoned, sample_shard


@dataclass(frozen=True, kw_only=True)
class DigitsTrainer:
    """A :data:`service.flower.node.Trainer` for the digits MLP."""

    participants: int
    classes_each: int = 5
    poisoned_partitions: frozenset[int] = field(default_factory=frozenset)
    epochs: int = 2
    extra_samples: int = 200

    def shard(self, partition: int) -> Shard:
        if partition < self.participants:
            return label_skewed_shards(self.participants, classes_each=self.classes_each)[partition]
        return sample_shard(self.extra_samples, seed=partition)

    def __call__(
        self, base: Mapping[str, np.ndarray], node_config: NodeConfig, round_id: int
    ) -> LocalTraining:
        partition = as_int(node_config.get("partition-id", 0))
        shard = self.shard(partition)
        update = local_update(base, shard, epochs=self.epochs, seed=100 * round_id + partition)
        if partition in self.poisoned_partitions:
            update = poisoned(update)
        return LocalTraining(update=update, sample_count=len(shard))
