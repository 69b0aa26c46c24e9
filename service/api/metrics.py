"""Prometheus metrics: requests, latencies, chain calls, store bytes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "govledger_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "govledger_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.chain_calls = Counter(
            "govledger_chain_calls_total",
            "Calls to the chain by kind (read, transaction) and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.chain_latency = Histogram(
            "govledger_chain_call_duration_seconds",
            "Chain call latency by kind",
            ["kind"],
            registry=self.registry,
        )
        self.store_bytes = Counter(
            "govledger_store_bytes_total",
            "Bytes written to (in) and read from (out) the content store",
            ["direction"],
            registry=self.registry,
        )

    def watch_journal(self, backends: Callable[[], Any]) -> None:
        """Export the journal's entries by status and its recovery counts at each scrape."""
        self.registry.register(_JournalCollector(backends))

    def observe_chain(self, kind: str, outcome: str, seconds: float) -> None:
        self.chain_calls.labels(kind, outcome).inc()
        self.chain_latency.labels(kind).observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI, metrics: Metrics) -> None:
    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # the router records the matched route in the scope: label by its template, so that
            # ids in paths do not make a label per resource
            route = str(getattr(request.scope.get("route"), "path", "unmatched"))
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - start)


class _JournalCollector(Collector):
    """Journal entries by status (gauge) and recovery outcomes since start (counters), read
    when scraped; nothing if the journal cannot be opened."""

    def __init__(self, backends: Callable[[], Any]) -> None:
        self._backends = backends

    def collect(self) -> Iterator[Any]:
        try:
            backends = self._backends()
            counts = backends.journal.counts()
            recovery = backends.recovery
        except Exception:
            return
        entries = GaugeMetricFamily(
            "govledger_journal_entries",
            "Entries of the journal of signed actions by status",
            labels=["status"],
        )
        for status, n in sorted(counts.items()):
            entries.add_metric([status], n)
        yield entries
        outcomes = CounterMetricFamily(
            "govledger_journal_recovered",
            "Journal entries recovery handled since start: lost to a rollback, re-applied, "
            "confirmed after an interruption, lost for good (could not be re-applied)",
            labels=["outcome"],
        )
        for outcome, n in recovery.totals.items():
            outcomes.add_metric([outcome], n)
        yield outcomes
        updates = backends.relayer.updates
        yield CounterMetricFamily(
            "govledger_update_batches",
            "Transactions the relayer's group commit sent for federated updates since start "
            "(a batch of one included)",
            value=updates.batches,
        )
        yield GaugeMetricFamily(
            "govledger_update_batch_largest",
            "Most updates one of those transactions carried since start",
            value=updates.largest,
        )
