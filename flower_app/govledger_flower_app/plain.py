"""Plain Flower FedAvg on the same nodes, data and training, for ``scripts/bench_flower.py``:
the weights travel in Flower's messages, Flower's float mean aggregates, nothing touches the
ledger. Not a governed path: the baseline the governed round's time is measured against."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from service.flower.digits import DigitsTrainer
from service.flower.identity import as_int


class TimedFedAvg(FedAvg):
    """Flower's FedAvg, each round's timings appended as a JSON line to ``report_file``
    (the governed strategy's shape: ``server_round``, ``seconds``, ``nodes``)."""

    def __init__(self, *, report_file: Path | None, nodes: int) -> None:
        super().__init__(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=nodes,
            min_evaluate_nodes=0,
            min_available_nodes=nodes,
        )
        self.report_file = report_file
        self._started = self._configured = 0.0

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._started = time.perf_counter()
        messages = list(super().configure_train(server_round, arrays, config, grid))
        self._configured = time.perf_counter()
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        waited = time.perf_counter() - self._configured
        start = time.perf_counter()
        result = super().aggregate_train(server_round, replies)
        now = time.perf_counter()
        if self.report_file is not None:
            row = {
                "server_round": server_round,
                "seconds": {
                    "configure": self._configured - self._started,
                    "wait-for-nodes": waited,
                    "aggregate": now - start,
                    "round": now - self._started,
                },
                "nodes": [_node_seconds(m) for m in replies if not m.has_error()],
            }
            with self.report_file.open("a") as out:
                out.write(json.dumps(row) + "\n")
        return result


def _node_seconds(message: Message) -> dict[str, float]:
    metrics = message.content.metric_records.get("metrics") or MetricRecord()
    return {
        str(k).removeprefix("seconds-"): float(str(v))
        for k, v in metrics.items()
        if str(k).startswith("seconds-")
    }


def plain_train(message: Message, context: Context, trainer: DigitsTrainer) -> Message:
    """Train from the weights in the message; reply with the new weights (base + update)."""
    started = time.perf_counter()
    arrays = message.content.array_records["arrays"]
    base = {name: np.asarray(array.numpy()) for name, array in arrays.items()}
    server_round = as_int(message.content.config_records["config"].get("server-round", 1))
    trained = time.perf_counter()
    training = trainer(base, dict(context.node_config), server_round)
    trained = time.perf_counter() - trained
    weights = {name: (base[name] + training.update[name]).astype(base[name].dtype) for name in base}
    reply = ArrayRecord(array_dict={k: Array.from_numpy_ndarray(v) for k, v in weights.items()})
    metrics = MetricRecord(
        {
            "num-examples": training.sample_count,
            "seconds-train": trained,
            "seconds-total": time.perf_counter() - started,
        }
    )
    return Message(content=RecordDict({"arrays": reply, "metrics": metrics}), reply_to=message)
