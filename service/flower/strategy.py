"""The coordinator's side of a governed Flower run: a Flower strategy (Message API) whose every
round is an on-chain round.

For each Flower round :class:`GovernedStrategy`

1. opens an on-chain round at the model's current base (the last aggregate the members approved,
   else the base it was given) through the service, signed with the coordinator's key (the
   model's owner or a maintainer), with the round's rule, parameters and bounds;
2. sends each sampled node the round id, the base's CID and the service URL in the train
   message's ``config`` record (no tensors: see :mod:`service.flower.participant`);
3. reads the replies as claims only (participant, update CID, transaction), closes the round if
   it is still open (no late update slips in after), then reads it from the service, which reads
   the chain: the updates the chain recorded are the round's, a claim the chain does not back is
   reported and ignored;
4. cancels the round if it has fewer updates than its minimum; else asks the service for the
   aggregate — the project's deterministic rule over the recorded updates, not Flower's float
   mean — and signs ``FinalizeRound`` over it, so that the aggregate becomes a version (kind
   Aggregate, parent the base) for the members' vote. Updates the rule leaves out are excluded
   on chain with their reason;
5. returns the aggregate's weights (downloaded, verified against the chain) as the round's
   ``ArrayRecord`` and numbers about the round as its ``MetricRecord``.

What happened in each round is in :attr:`GovernedStrategy.rounds` (:class:`GovernedRound`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from safetensors.numpy import load as safetensors_load

from service.client import GovLedgerClient, Signer
from service.flower import records
from service.flower.rounds import Exclusion, GovernedRound, NodeReport, RoundTerms
from service.flower.timing import Stopwatch, TimedSigner

__all__ = ["Exclusion", "GovernedRound", "GovernedStrategy", "NodeReport", "RoundTerms"]

log = logging.getLogger("flwr.govledger")  # a child of flwr's logger: in the ServerApp's log


class GovernedStrategy(FedAvg):
    """Flower FedAvg's node sampling, with the ledger's rounds, gate and aggregation rules.

    ``on_finalized(round)`` runs after each finalized round (a deployment could notify the
    members; a test or demo votes). The next round's base is the last aggregate whose version
    the chain shows Approved by then, else the last base: the strategy cannot approve anything.
    """

    def __init__(
        self,
        *,
        client: GovLedgerClient,
        coordinator: Signer,
        model_id: int,
        base_version_id: int,
        terms: RoundTerms | None = None,
        on_finalized: Callable[[GovernedRound], None] | None = None,
        fraction_train: float = 1.0,
        min_train_nodes: int = 2,
        min_available_nodes: int = 2,
    ) -> None:
        super().__init__(
            fraction_train=fraction_train,
            fraction_evaluate=0.0,
            min_train_nodes=min_train_nodes,
            min_evaluate_nodes=0,
            min_available_nodes=min_available_nodes,
        )
        self.client = client
        self.coordinator = coordinator
        self.model_id = model_id
        self.base_version_id = base_version_id
        self.terms = terms or RoundTerms()
        self.on_finalized = on_finalized
        self.rounds: list[GovernedRound] = []
        # server round -> (round id, base version, its stopwatch and signer, configure's end)
        self._open: dict[int, tuple[int, int, _RoundClock]] = {}

    def summary(self) -> None:
        super().summary()
        log.info(
            "governed by the ledger: model %s, base version %s, rule %s %s",
            self.model_id,
            self.base_version_id,
            self.terms.rule,
            dict(self.terms.params),
        )

    # ------------------------------------------------------------ a round's start

    def current_base(self) -> int:
        """The last aggregate the chain shows Approved, else the base given."""
        for done in reversed(self.rounds):
            approved = (
                done.version_id is not None
                and self.client.get_version(done.version_id).state == "approved"
            )
            if approved and done.version_id is not None:
                return done.version_id
        return self.base_version_id

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        clock = _RoundClock(self.coordinator)
        base = self.current_base()
        t = self.terms
        with clock.watch.step("open"):
            # the window counts from the chain's time, which need not be this machine's
            now = self.client.info().chain_time or int(time.time())
            opened = self.client.open_round(
                clock.signer,
                self.model_id,
                base_version_id=base,
                rule=t.rule,
                params=t.params,
                min_updates=t.min_updates,
                max_updates=t.max_updates,
                submission_deadline=now + t.submission_seconds,
                max_norm=t.max_norm,
            )
            round_id = opened.round.round_id
            detail = self.client.round(round_id)
        self._open[server_round] = (round_id, base, clock)
        log.info("Flower round %s is on-chain round %s at version %s", server_round, round_id, base)
        governed = ConfigRecord(dict(config))
        governed[records.ROUND_ID] = round_id
        governed[records.BASE_CID] = detail.base_cid or ""
        governed[records.SERVICE_URL] = self.client.base_url
        # no weights in the message: the nodes fetch the base from the service, verified
        messages = list(super().configure_train(server_round, ArrayRecord(), governed, grid))
        clock.configured = time.perf_counter()
        return messages

    # ------------------------------------------------------------ a round's end

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        round_id, base, clock = self._open.pop(server_round)
        replies = list(replies)
        clock.watch.add("wait-for-nodes", time.perf_counter() - clock.configured)
        claims = [_claim(m) for m in replies]
        with clock.watch.step("close"):
            if self.client.round(round_id).round.state == "open":
                # nothing more is admitted: a late node's update cannot slip in after this read
                self.client.close_round(clock.signer, round_id)
        with clock.watch.step("read"):
            detail = self.client.round(round_id)
        on_chain = {u.participant.lower(): u.update_cid for u in detail.updates}
        reports = tuple(
            NodeReport(
                **{**c, "on_chain": on_chain.get(str(c["participant"]).lower()) == c["update_cid"]}
            )
            for c in claims
        )
        for r in reports:
            if r.status == records.RECORDED and not r.on_chain:
                log.warning("node %s claims an update the chain does not record", r.node_id)
            elif r.status != records.RECORDED:
                log.info("node %s (%s) refused: %s", r.node_id, r.participant or "?", r.reason)
        recorded = tuple(u.participant for u in detail.updates)
        if len(recorded) < detail.round.min_updates:
            self.client.cancel_round(clock.signer, round_id)
            minimum = detail.round.min_updates
            why = f"{len(recorded)} updates recorded, fewer than the minimum {minimum}"
            self.rounds.append(
                GovernedRound(
                    server_round=server_round,
                    round_id=round_id,
                    base_version_id=base,
                    reports=reports,
                    recorded=recorded,
                    cancelled=why,
                    seconds=clock.seconds(),
                )
            )
            log.warning("round %s cancelled: %s", round_id, why)
            return None, self._metrics(round_id, reports, 0, 0, None)

        with clock.watch.step("aggregate"):
            aggregation = self.client.aggregate_round(round_id)
        with clock.watch.step("finalize"):
            finalized = self.client.finalize_round(clock.signer, round_id)
        with clock.watch.step("download"):
            weights = self._weights(finalized.version_id)
        done = GovernedRound(
            server_round=server_round,
            round_id=round_id,
            base_version_id=base,
            reports=reports,
            recorded=recorded,
            included=tuple(i.participant for i in aggregation.included),
            excluded=tuple(
                Exclusion(participant=e.participant, reason=e.reason, detail=e.detail)
                for e in aggregation.excluded
            ),
            aggregate_cid=aggregation.aggregate_cid,
            version_id=finalized.version_id,
            seconds=clock.seconds(),
        )
        self.rounds.append(done)
        log.info(
            "round %s finalized: version %s, %s included, %s excluded",
            round_id,
            finalized.version_id,
            len(done.included),
            len(done.excluded),
        )
        if self.on_finalized is not None:
            self.on_finalized(done)
        metrics = self._metrics(
            round_id, reports, len(done.included), len(done.excluded), finalized.version_id
        )
        return weights, metrics

    def _weights(self, version_id: int) -> ArrayRecord:
        """The aggregate version's weights, verified against the chain's digest."""
        with tempfile.TemporaryDirectory(prefix="govledger-flower-") as tmp:
            got = self.client.download_version(version_id, Path(tmp) / "aggregate.safetensors")
            tensors = safetensors_load(got.path.read_bytes())
        return ArrayRecord(
            array_dict={k: Array.from_numpy_ndarray(tensors[k]) for k in sorted(tensors)}
        )

    @staticmethod
    def _metrics(
        round_id: int,
        reports: tuple[NodeReport, ...],
        included: int,
        excluded: int,
        version_id: int | None,
    ) -> MetricRecord:
        return MetricRecord(
            {
                "round-id": round_id,
                "recorded": sum(r.on_chain for r in reports),
                "refused": sum(r.status != records.RECORDED for r in reports),
                "included": included,
                "excluded": excluded,
                "aggregate-version-id": version_id if version_id is not None else 0,
            }
        )


class _RoundClock:
    """Where one round's time goes on the coordinator's side (:attr:`GovernedRound.seconds`)."""

    def __init__(self, coordinator: Signer) -> None:
        self.started = time.perf_counter()
        self.configured = self.started
        self.watch = Stopwatch()
        self.signer = TimedSigner(coordinator)

    def seconds(self) -> dict[str, float]:
        return {
            **self.watch.seconds,
            "sign": self.signer.seconds,
            "round": time.perf_counter() - self.started,
        }


def _claim(message: Message) -> dict[str, Any]:
    """A reply as a claim: strings only, nothing trusted."""
    node_id = int(message.metadata.src_node_id)
    if message.has_error():
        return _claim_of(node_id, "error", reason=str(message.error.reason))
    record = message.content.config_records.get(records.REPLY)
    if record is None:
        return _claim_of(node_id, "error", reason="the reply carries no govledger record")
    claim = _claim_of(
        node_id,
        str(record.get(records.STATUS, "")),
        participant=str(record.get(records.PARTICIPANT, "")),
        update_cid=str(record.get(records.UPDATE_CID, "")),
        transaction=str(record.get(records.TRANSACTION, "")),
        reason=str(record.get(records.REASON, "")),
        contract_error=str(record.get(records.CONTRACT_ERROR, "")),
    )
    metrics = message.content.metric_records.get(records.METRICS)
    claim["seconds"] = {
        key.removeprefix(records.SECONDS): float(value)
        for key, value in (metrics or {}).items()
        if key.startswith(records.SECONDS) and isinstance(value, int | float)
    }
    return claim


def _claim_of(node_id: int, status: str, **fields: str) -> dict[str, Any]:
    claim: dict[str, Any] = {
        "node_id": node_id,
        "status": status,
        "participant": "",
        "update_cid": "",
        "transaction": "",
        "reason": "",
        "contract_error": "",
    }
    claim.update(fields)
    return claim


def governed_server_app(
    strategy: Callable[[], GovernedStrategy], *, num_rounds: int, timeout: float = 600.0
) -> ServerApp:
    """A ServerApp that runs ``num_rounds`` governed rounds; ``timeout`` bounds the wait for the
    nodes' replies in each round (a node that has not answered by then is left out; the chain
    records only what its gate accepted)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy().start(grid=grid, initial_arrays=ArrayRecord(), num_rounds=num_rounds,
                         timeout=timeout)  # fmt: skip

    return app
