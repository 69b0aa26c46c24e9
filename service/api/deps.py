"""Dependencies of the routes, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.metrics import Metrics
from service.chain.ledger import Ledger
from service.config import Settings
from service.domain.artifacts import ArtifactService
from service.domain.auth import SessionStore
from service.domain.builds import BuildService
from service.domain.context import Backends
from service.domain.evaluation import EvaluationSets
from service.domain.metadata import MetadataDocuments
from service.domain.predictions import PredictionService
from service.domain.reasons import VoteReasonService
from service.domain.rounds import RoundService
from service.index.store import IndexFile
from service.journal.relayer import Relayer
from service.store.base import ContentStore

_bearer = HTTPBearer(
    auto_error=False,
    description="A Sign-In with Ethereum session token from POST /v1/auth/login",
)


def _backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _ledger(backends: Annotated[Backends, Depends(_backends)]) -> Ledger:
    return backends.ledger


def _relayer(backends: Annotated[Backends, Depends(_backends)]) -> Relayer:
    return backends.relayer


def _store(backends: Annotated[Backends, Depends(_backends)]) -> ContentStore:
    return backends.store


def _artifacts(request: Request) -> ArtifactService:
    artifacts: ArtifactService = request.app.state.artifacts
    return artifacts


def _metadata(request: Request) -> MetadataDocuments:
    metadata: MetadataDocuments = request.app.state.metadata
    return metadata


def _builds(request: Request) -> BuildService:
    builds: BuildService = request.app.state.builds
    return builds


def _evaluation(request: Request) -> EvaluationSets:
    evaluation: EvaluationSets = request.app.state.evaluation
    return evaluation


def _predictions(request: Request) -> PredictionService:
    predictions: PredictionService = request.app.state.predictions
    return predictions


def _rounds(request: Request) -> RoundService:
    rounds: RoundService = request.app.state.rounds
    return rounds


def _vote_reasons(request: Request) -> VoteReasonService:
    reasons: VoteReasonService = request.app.state.vote_reasons
    return reasons


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def _index(request: Request) -> IndexFile | None:
    """The event index; None when it is turned off (GOVLEDGER_INDEX_ENABLED=false)."""
    index: IndexFile | None = getattr(request.app.state, "index", None)
    return index


def _session_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return credentials.credentials if credentials else None


def _account(
    token: Annotated[str | None, Depends(_session_token)],
    sessions: Annotated[SessionStore, Depends(_sessions)],
) -> str | None:
    """The signed-in account, None without a token; an unknown or expired token is a 401."""
    return None if token is None else sessions.address_for(token)


SettingsDep = Annotated[Settings, Depends(_settings)]
BackendsDep = Annotated[Backends, Depends(_backends)]
LedgerDep = Annotated[Ledger, Depends(_ledger)]
RelayerDep = Annotated[Relayer, Depends(_relayer)]
StoreDep = Annotated[ContentStore, Depends(_store)]
ArtifactsDep = Annotated[ArtifactService, Depends(_artifacts)]
MetadataDep = Annotated[MetadataDocuments, Depends(_metadata)]
BuildsDep = Annotated[BuildService, Depends(_builds)]
EvaluationDep = Annotated[EvaluationSets, Depends(_evaluation)]
PredictionsDep = Annotated[PredictionService, Depends(_predictions)]
VoteReasonsDep = Annotated[VoteReasonService, Depends(_vote_reasons)]
SessionsDep = Annotated[SessionStore, Depends(_sessions)]
RoundsDep = Annotated[RoundService, Depends(_rounds)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
IndexDep = Annotated[IndexFile | None, Depends(_index)]
SessionTokenDep = Annotated[str | None, Depends(_session_token)]
AccountDep = Annotated[str | None, Depends(_account)]
