"""The FastAPI application: ``create_app()`` builds it; the lifespan builds the adapters once.

Run it with ``uvicorn --factory service.main:create_app`` (``govledger up`` does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from service.api.metrics import Metrics, install_metrics
from service.api.problems import install_problem_handlers
from service.api.query import refuse_repeated_query_params
from service.api.routes import (
    actions,
    aliases,
    artifacts,
    auth,
    ballots,
    builds,
    evaluation,
    health,
    members,
    metadata,
    models,
    predictions,
    rights,
    rounds,
    timeline,
    version_documents,
    version_refs,
    versions,
)
from service.bookkeeping import Bookkeeping
from service.bookkeeping.reasons import VoteReasons
from service.chain.ledger import Ledger
from service.config import Settings, get_settings
from service.domain.artifacts import ArtifactService
from service.domain.auth import SessionStore
from service.domain.build_jobs import JobStore
from service.domain.builds import BuildService
from service.domain.context import Backends
from service.domain.evaluation import EvaluationSets
from service.domain.gc import StoreCollector
from service.domain.links import LinkedContent
from service.domain.metadata import MetadataDocuments
from service.domain.predictions import PredictionService
from service.domain.reasons import VoteReasonService
from service.domain.rounds import RoundService
from service.errors import LedgerError
from service.explorer.routes import router as explorer_router
from service.index.follower import Indexer, follower
from service.index.opening import indexer
from service.index.store import IndexFile
from service.journal.recovery import Recovery, keeper

log = logging.getLogger("govledger.service")

DESCRIPTION = """
A governance ledger for federated, accelerated ML models. The chain is the record: models,
versions, votes, aliases and access rights live in Solidity contracts; this service relays
actions that their actors signed (EIP-712), stores artifacts by content (IPFS CIDs), and serves
both. It holds no authority of its own: every change needs the acting account's signature,
which the contracts check.

**Writing**: get the typed data to sign from `POST /v1/actions/prepare` (or build it yourself
from `GET /v1/info`), sign it with `eth_signTypedData_v4`, and send the signature with the
request. **Reading restricted artifacts**: sign in with Ethereum (`GET /v1/auth/nonce`,
`POST /v1/auth/login`) and send the token as `Authorization: Bearer <token>`.
Errors are `application/problem+json` (RFC 9457).
"""


def create_app(settings: Settings | None = None, *, backends: Backends | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backends = backends or Backends(
            settings, ledger_factory=lambda s: _connect(s, metrics)
        )
        app.state.index = IndexFile(settings.index_file) if settings.index_enabled else None
        app.state.backends.attach_index(app.state.index)
        app.state.artifacts = ArtifactService(
            app.state.backends,
            settings,
            on_bytes=lambda direction, n: metrics.store_bytes.labels(direction).inc(n),
        )
        app.state.rounds = RoundService(app.state.artifacts)
        book = Bookkeeping(settings.bookkeeping_file)
        app.state.metadata = MetadataDocuments(
            app.state.backends,
            settings,
            book,
            on_bytes=lambda direction, n: metrics.store_bytes.labels(direction).inc(n),
        )
        artifacts_service: ArtifactService = app.state.artifacts
        backends_: Backends = app.state.backends
        app.state.evaluation = EvaluationSets(artifacts_service, app.state.metadata)
        build_service = BuildService(
            artifacts_service, app.state.evaluation, JobStore(settings.builds_file), book
        )
        build_service.recover()  # jobs a previous process left unfinished: reported failed
        app.state.builds = build_service
        app.state.predictions = PredictionService(artifacts_service)
        linked = LinkedContent(
            lambda: backends_.store, lambda: artifacts_service.index.referenced_digests()
        )
        reasons = VoteReasonService(app.state.metadata, VoteReasons(book))
        app.state.vote_reasons = reasons
        app.state.collector = StoreCollector(
            backends_,
            book,
            referenced=lambda: artifacts_service.index.referenced_digests(),
            keep=lambda: [
                *backends_.journal.cids_needed(),  # uploads the journal may yet record
                *build_service.retained(),  # builds not yet proposed
                *linked(),  # what referenced documents link: recipes, reports, evaluation sets
                *reasons.cids(),  # the documents votes' reasons are in
            ],
        )
        metrics.watch_journal(lambda: app.state.backends)
        threading.Thread(
            target=_start_up, args=(app.state.backends, app.state.artifacts), daemon=True
        ).start()
        journal_keeper = keeper(
            lambda: _recovery(app.state.backends), settings.journal_check_interval_s
        ).start()
        index_follower = (
            follower(lambda: _indexer(app.state.backends), settings.index_interval_s).start()
            if settings.index_enabled
            else None
        )
        stop = threading.Event()
        if settings.gc_interval_s > 0:
            threading.Thread(
                target=_collect_periodically,
                args=(app.state.collector, settings, stop),
                name="store-gc",
                daemon=True,
            ).start()
        yield
        stop.set()
        journal_keeper.stop()
        if index_follower is not None:
            index_follower.stop()
        build_service.close()
        app.state.backends.close()

    app = FastAPI(
        title="govledger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(refuse_repeated_query_params)],
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.sessions = SessionStore(
        domain=settings.siwe_domain, uri=settings.service_url, ttl_s=settings.session_ttl_s
    )
    install_problem_handlers(app)
    install_metrics(app, metrics)
    for module in (
        health, actions, models, metadata, versions, aliases, rights, members, artifacts, auth,
        builds, evaluation, predictions, rounds, version_refs, version_documents, ballots, timeline,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(explorer_router)  # the read-only pages for people, outside the OpenAPI
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Put the Problem schema (RFC 9457) into the OpenAPI components the responses refer to."""
    from fastapi.openapi.utils import get_openapi

    from service.api.schemas import Problem

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                Problem.model_json_schema()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _connect(settings: Settings, metrics: Metrics) -> Ledger:
    from service.chain.setup import connect_ledger

    return connect_ledger(settings, observer=metrics.observe_chain)


def _recovery(backends: Backends) -> Recovery | None:
    """The journal's recovery, once the journal can be opened (None until then)."""
    try:
        return backends.recovery
    except LedgerError as exc:
        log.warning("the journal cannot be opened: %s", exc)
        return None


_indexers: dict[int, Indexer] = {}


def _indexer(backends: Backends) -> Indexer | None:
    """The index's writer, on the service's ledger once it is connected (None until then)."""
    try:
        ledger = backends.ledger
    except LedgerError as exc:
        log.debug("the index waits for the chain: %s", exc)
        return None
    key = id(ledger)
    if key not in _indexers:
        _indexers.clear()
        _indexers[key] = indexer(backends.settings, ledger.history, ledger.deployment)
    return _indexers[key]


def _start_up(backends: Backends, artifacts: ArtifactService) -> None:
    """What a crash may have left, put right at start (best effort; the keeper retries the
    journal's part): journaled actions finished or re-applied, artifacts the chain records
    pinned, and blocks no pin reaches (interrupted uploads, temp files) collected."""
    try:
        backends.recovery.run(reason="start-up")
    except LedgerError as exc:
        log.warning("journal recovery at start deferred: %s", exc)
    except Exception:
        log.exception("journal recovery at start failed")
    try:
        pinned = artifacts.reconcile_pins()
        if pinned:
            log.warning("re-pinned %d artifacts recorded on chain", pinned)
        removed = backends.store.gc()
        if removed:
            log.warning("collected %d blocks no pin reaches (left by interrupted uploads)", removed)
    except LedgerError as exc:
        log.warning("pin reconciliation skipped: %s", exc)
    except Exception:
        log.exception("pin reconciliation failed")


def _collect_periodically(
    collector: StoreCollector, settings: Settings, stop: threading.Event
) -> None:
    """Collect the content store's garbage every ``gc_interval_s`` until ``stop`` is set; a
    collection that cannot run (chain or store down) is skipped until the next one."""
    while not stop.wait(settings.gc_interval_s):
        try:
            collector.collect(grace_s=settings.gc_grace_s)
        except LedgerError as exc:
            log.warning("garbage collection skipped: %s", exc)
        except Exception:
            log.exception("garbage collection failed")
