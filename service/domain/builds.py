"""Accelerated builds: the job that builds and measures, and the proposal of what it built.

The service holds no authority, so a build cannot propose itself. The flow is:

1. **start** (``POST /v1/models/{id}/builds``, a sign-in session): the signed-in account must
   hold the model's Maintain right (owner or maintainer: those who may propose its versions)
   and be allowed to read the parent's artifact; the parent must be an Approved version of the
   model, and the model must register an evaluation set. A job is written (``queued``) and the
   request answers 202 at once; at most ``build_queue_limit`` jobs wait or run (429 beyond).
2. **run** (a worker thread; ``build_concurrency`` at a time): the parent's bytes and the
   evaluation set are read from the store, verified against their CIDs (the parent's against
   its on-chain digest); :func:`service.ml.accelerate.pipeline.run_build` builds and measures;
   every accepted build is stored (pinned) with its recipe document, and the run's report and
   one version metadata document per build are stored too. The result names all of them by
   CID and carries the documents' exact bytes, so a client can check them before signing.
3. **propose** (``POST /v1/builds/{job}/candidates/{name}/proposal``): the requester (or any
   maintainer) signs ``ProposeVersion(model, parent, Accelerated, artifactDigest,
   metadataDigest)`` with the values the job recorded; the service relays it through the same
   journaled upload-and-propose path as an upload (:func:`service.domain.uploads.
   propose_with_upload`), streaming the stored bytes through the ONNX validator again. Members
   then vote on the version like any other.

Candidates nobody proposes stay pinned for the garbage collector's grace period (their pin
times are noted when stored), then go. What a proposed build's metadata document links (its
recipe, the report, the evaluation set) is kept for as long as the chain references the
document (:class:`LinkedContent`).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from service.bookkeeping import Bookkeeping
from service.chain.types import Rights, State, VersionKind
from service.domain import uploads
from service.domain.actions import SignedFieldsLike
from service.domain.artifacts import ArtifactService, ReadGrant
from service.domain.build_documents import (
    canonical,
    decision_json,
    recipe_document,
    ref,
    report_document,
    version_document,
)
from service.domain.build_jobs import Job, JobStore
from service.domain.evaluation import EvaluationSets
from service.errors import (
    Conflict,
    Forbidden,
    InvalidArtifact,
    InvalidInput,
    LedgerError,
    NotFound,
    QuotaExceeded,
    ServiceUnavailable,
    Unauthenticated,
)
from service.ml.accelerate.measure import MeasureSettings
from service.ml.accelerate.recipes import RECIPES
from service.ml.formats import ONNX, SAFETENSORS, TORCH_EXPORT, format_of
from service.store.cid import CID, cid_from_digest, parse_cid

log = logging.getLogger("govledger.builds")

MAX_PARENT_BYTES = 512 * 2**20


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    budget_points: float = 1.0
    builds: tuple[str, ...] = tuple(RECIPES)
    compare_torch: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "budget_points": self.budget_points,
            "builds": list(self.builds),
            "compare_torch": self.compare_torch,
        }


class BuildService:
    def __init__(
        self,
        artifacts: ArtifactService,
        evaluation: EvaluationSets,
        jobs: JobStore,
        book: Bookkeeping,
    ) -> None:
        self.artifacts = artifacts
        self.evaluation = evaluation
        self.jobs = jobs
        self.book = book
        self.settings = artifacts.settings
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.build_concurrency, thread_name_prefix="build"
        )
        self._start_lock = threading.Lock()
        self._stopping = threading.Event()

    def recover(self) -> list[int]:
        """Report the jobs a previous process left unfinished as failed (at start)."""
        interrupted = self.jobs.fail_interrupted()
        if interrupted:
            log.warning("build jobs %s were interrupted by a restart: marked failed", interrupted)
        return interrupted

    def close(self) -> None:
        """Stop taking jobs; a running one stops at its next step and is marked failed."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ start

    def start(
        self, *, model_id: int, version_id: int, account: str | None, options: BuildOptions
    ) -> Job:
        """Check who asks and what, write the job, hand it to a worker (see the module)."""
        if account is None:
            raise Unauthenticated(
                "starting a build needs a sign-in session (GET /v1/auth/nonce, POST "
                "/v1/auth/login) of the model's owner or a maintainer"
            )
        account = to_checksum_address(account)
        unknown = [b for b in options.builds if b not in RECIPES]
        if unknown or not options.builds:
            raise InvalidInput(
                f"builds must be some of {', '.join(RECIPES)}, not {unknown or 'none'}"
            )
        if not 0 <= options.budget_points <= 100:
            raise InvalidInput("the budget is in points of accuracy, from 0 to 100")
        ledger = self.artifacts.backends.ledger
        model = ledger.model(model_id)
        if not ledger.rights_of(model_id, account) & Rights.MAINTAIN:
            raise Forbidden(
                f"{account} may not build versions of model {model_id}: only its owner and "
                "maintainers, who may propose its versions, may start builds"
            )
        version = ledger.version(version_id)
        if version.model_id != model_id:
            raise NotFound(f"version {version_id} is not a version of model {model_id}")
        if version.state != State.APPROVED:
            raise Conflict(
                f"version {version_id} is {version.state.name.lower()}; only Approved versions "
                "are built (a build's parent must be Approved on chain)"
            )
        _close(self.artifacts.open_version(version_id, account).stream)  # read right, stored
        self.evaluation.for_model(model, account)  # registered and usable: fail now, not later
        with self._start_lock:
            if self.jobs.live_count() >= self.settings.build_queue_limit:
                raise QuotaExceeded(
                    f"{self.settings.build_queue_limit} builds are queued or running; the "
                    "service runs a few at a time: retry later",
                    retry_after=60,
                )
            job = self.jobs.create(
                model_id=model_id,
                version_id=version_id,
                requester=account,
                options=options.as_json(),
            )
        self._pool.submit(self._run, job.id)
        return job

    # ------------------------------------------------------------ run

    def _run(self, job_id: int) -> None:
        if not self.jobs.start(job_id):
            return
        try:
            result = self._build(self.jobs.get(job_id))
        except LedgerError as exc:
            self.jobs.fail(job_id, str(exc))
        except Exception as exc:  # a bug or a library failure: the job says so, nothing hangs
            log.exception("build job %d failed", job_id)
            self.jobs.fail(job_id, f"the build failed: {type(exc).__name__}: {exc}")
        else:
            self.jobs.succeed(job_id, result)

    def _build(self, job: Job) -> dict[str, Any]:
        from service.ml.accelerate.pipeline import BuildRequest, run_build

        ledger = self.artifacts.backends.ledger
        store = self.artifacts.backends.store
        version = ledger.version(job.version_id)
        model = ledger.model(job.model_id)
        parent_cid = self.artifacts.version_cid(version)
        if store.file_size(parent_cid) > MAX_PARENT_BYTES:
            raise InvalidArtifact(f"the parent is larger than {MAX_PARENT_BYTES} bytes")
        parent_bytes = store.get_bytes(parent_cid)  # verified against the CID, so the chain
        parent_format = _format_of(parent_bytes)
        evaluation = self.evaluation.for_model(model, job.requester)
        options = job.options
        settings = MeasureSettings(
            seconds=self.settings.build_measure_seconds, rounds=self.settings.build_measure_rounds
        )
        threads = self.settings.build_threads
        last = [0.0]

        def progress(message: str, fraction: float) -> None:
            if self._stopping.is_set():
                raise ServiceUnavailable(
                    f"the service stopped while build job {job.id} was running ({message}); "
                    "nothing of it was stored or proposed: start the build again"
                )
            now = time.monotonic()
            if now - last[0] > 0.25 or fraction >= 1:
                last[0] = now
                self.jobs.progress(job.id, fraction * 0.97, message)

        scratch_root = self.settings.data_dir / "builds"
        scratch_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"job-{job.id}-", dir=scratch_root) as scratch:
            outcome = run_build(
                BuildRequest(
                    parent_format=parent_format,
                    parent=parent_bytes,
                    inputs=evaluation.inputs,
                    labels=evaluation.labels,
                    recipes=tuple(options["builds"]),
                    budget_points=float(options["budget_points"]),
                    compare_torch=bool(options["compare_torch"]),
                    threads=threads,
                    measure=settings,
                ),
                scratch=Path(scratch),
                memory=ProcMemoryProbe(),
                progress=progress,
            )
        self.jobs.progress(job.id, 0.98, "storing the builds and their documents")
        parent = {
            "model_id": job.model_id,
            "version_id": job.version_id,
            "artifact_cid": str(parent_cid),
            "artifact_digest": "0x" + version.artifact_digest.hex(),
            "format": parent_format,
            "architecture": outcome.architecture,
        }
        source_graph = {
            **{k: v for k, v in ref(outcome.graph).items()},
            "how": "torch.onnx.export(dynamo=True), opset 20, dynamic batch"
            if parent_format == SAFETENSORS
            else "the parent's ONNX graph",
        }
        report = canonical(
            report_document(
                outcome=outcome,
                parent=parent,
                evaluation=evaluation.describe(),
                budget_points=float(options["budget_points"]),
                threads=threads,
                settings=settings,
            )
        )
        report_ref = self._put(report)
        candidates, refused = [], []
        rows = {r.build: r for r in outcome.rows if r.build}
        for decision in outcome.decisions:
            row = rows.get(decision.name)
            if not decision.accepted:
                refused.append({**decision_json(decision), "row": row.as_json() if row else None})
                continue
            built = outcome.built[decision.name]
            artifact_ref = self._put(built.data)
            recipe = canonical(
                recipe_document(
                    built=built,
                    parent=parent,
                    source_graph=source_graph,
                    evaluation=evaluation.describe(),
                    threads=threads,
                )
            )
            recipe_ref = self._put(recipe)
            assert row is not None
            metadata = canonical(
                version_document(
                    model_id=job.model_id,
                    built=built,
                    artifact=artifact_ref,
                    parent=parent,
                    recipe=recipe_ref,
                    report=report_ref,
                    row=row,
                )
            )
            metadata_ref = self._put(metadata)
            candidates.append(
                {
                    **decision_json(decision),
                    "artifact": {**artifact_ref, "format": ONNX},
                    "recipe": {**recipe_ref, "document": recipe.decode()},
                    "metadata": {**metadata_ref, "document": metadata.decode()},
                    "row": row.as_json(),
                }
            )
        return {
            "parent": parent,
            "evaluation": evaluation.describe(),
            "reference": outcome.reference,
            "baseline": outcome.baseline,
            "report": {**report_ref, "document": report.decode()},
            "rows": [r.as_json() for r in outcome.rows],
            "candidates": candidates,
            "refused": refused,
        }

    def _put(self, data: bytes) -> dict[str, Any]:
        """Store and pin ``data`` (its pin time noted, so an unproposed build goes after the
        garbage collector's grace period); its CID, digest and size."""
        reference = ref(data)
        self.book.note_pinned(reference["cid"], time.time())
        put = self.artifacts.backends.store.put(data, pin=True)
        self.artifacts.count_bytes("in", put.size)
        if str(put.cid) != reference["cid"]:
            raise LedgerError(f"the store gave {put.cid} for content whose CID is {reference}")
        return reference

    # ------------------------------------------------------------ propose

    def propose(
        self, *, job_id: int, name: str, fields: SignedFieldsLike
    ) -> uploads.ProposedVersion:
        """Relay the signed proposal of one accepted build of a finished job (see the module)."""
        job = self.jobs.get(job_id)
        if job.state != "succeeded" or job.result is None:
            raise Conflict(f"build job {job_id} is {job.state}; only a finished job's builds "
                           "can be proposed")  # fmt: skip
        candidate = next((c for c in job.result["candidates"] if c["build"] == name), None)
        if candidate is None:
            refused = [r["build"] for r in job.result["refused"]]
            raise NotFound(
                f"build job {job_id} has no accepted build {name!r}"
                + (f" ({name} was refused: see the job's result)" if name in refused else "")
            )
        cid = parse_cid(candidate["artifact"]["cid"])
        store = self.artifacts.backends.store
        with self.artifacts.pin_lock(str(cid)):
            if not store.has(cid):
                raise NotFound(
                    f"build {name!r} of job {job_id} is no longer stored (unproposed builds go "
                    "after the garbage collector's grace period): start the build again"
                )
            store.pin(cid)
        metadata = parse_cid(candidate["metadata"]["cid"])
        return uploads.propose_with_upload(
            self.artifacts,
            model_id=job.model_id,
            parent_id=job.version_id,
            kind=VersionKind.ACCELERATED,
            metadata_digest=metadata.digest,
            artifact_cid=cid,
            artifact_format=ONNX,
            fields=fields,
            chunks=_lazy(lambda: store.get(cid)),
            content_length=int(candidate["artifact"]["size"]),
        )

    # ------------------------------------------------------------ reads

    def job(self, job_id: int, account: str | None) -> tuple[Job, ReadGrant]:
        """A build job, if ``account`` may download its parent: its result names the parent's
        CID and carries the measured table, recipe and documents made from the parent's bytes,
        so it is read under the parent's download rule (a restricted model: a session of an
        account with the read right)."""
        job = self.jobs.get(job_id)
        version = self.artifacts.backends.ledger.version(job.version_id)
        return job, self.artifacts.authorize_version(version, account)

    def model_jobs(
        self, model_id: int, account: str | None, *, limit: int = 50
    ) -> tuple[list[Job], ReadGrant]:
        """A model's build jobs, newest first, if ``account`` may read the model and every
        listed job's parent (each under the rule of :meth:`job`)."""
        grant = self.artifacts.authorize_model(model_id, account, f"model {model_id}'s build jobs")
        jobs = self.jobs.recent(model_id=model_id, limit=limit)
        restricted = set(grant.restricted_by)
        ledger = self.artifacts.backends.ledger
        for version_id in sorted({j.version_id for j in jobs}):
            parent = self.artifacts.authorize_version(ledger.version(version_id), account)
            restricted |= parent.restricted_by
        return jobs, ReadGrant(restricted_by=frozenset(restricted))

    def version_build(self, version_id: int, account: str | None) -> dict[str, Any]:
        """A build version's metadata document, recipe and report, each read from the store
        verified against its CID; the metadata document's digest is the one on chain."""
        ledger = self.artifacts.backends.ledger
        version = ledger.version(version_id)
        if not any(version.metadata_digest):
            raise NotFound(f"version {version_id} records no metadata document")
        meta_cid = cid_from_digest(version.metadata_digest, file_size=0)
        grant = self.artifacts.authorize_read(meta_cid, account, model_id=version.model_id)
        store = self.artifacts.backends.store
        if not store.has(meta_cid):
            raise NotFound(f"the store does not hold version {version_id}'s metadata {meta_cid}")
        text = store.get_bytes(meta_cid)
        try:
            import json

            doc = json.loads(text)
            recipe_cid = parse_cid(doc["recipe"]["cid"])
            report_cid = parse_cid(doc["metrics"]["cid"])
        except (ValueError, KeyError, TypeError, LedgerError):
            raise NotFound(
                f"version {version_id}'s metadata document is not a build's (it names no "
                "recipe and metrics documents)"
            ) from None
        parts = {"metadata": (meta_cid, text)}
        for key, cid in (("recipe", recipe_cid), ("metrics", report_cid)):
            if not store.has(cid):
                raise NotFound(f"the store does not hold version {version_id}'s {key} {cid}")
            parts[key] = (cid, store.get_bytes(cid))  # verified: the link is committed by digest
        return {
            key: {"cid": str(cid), "digest": "0x" + cid.digest.hex(), "document": data.decode()}
            for key, (cid, data) in parts.items()
        } | {"version_id": version_id, "public": grant.public}

    def retained(self) -> list[CID]:
        """What the garbage collector keeps for builds (see :func:`retained_roots`)."""
        return retained_roots(self.jobs, self.settings.gc_grace_s)


def retained_roots(jobs: JobStore, grace_s: float) -> list[CID]:
    """Everything build jobs stored within the grace period: a candidate whose proposal was
    refused was unpinned by the refusal, and may still be proposed."""
    kept: list[CID] = []
    for result in jobs.results_since(time.time() - grace_s):
        for candidate in result.get("candidates", []):
            for key in ("artifact", "recipe", "metadata"):
                kept.append(parse_cid(candidate[key]["cid"]))
        kept.append(parse_cid(result["report"]["cid"]))
    return kept


def _format_of(data: bytes) -> str:
    """The parent's format, told from its bytes (the chain records only their digest)."""
    found = format_of(data)
    if found == TORCH_EXPORT:
        raise InvalidArtifact(
            "the parent is a torch.export archive (.pt2), which is never loaded (loading one "
            "unpickles); propose the model as safetensors of a known architecture or as ONNX"
        )
    if found is None:
        raise InvalidArtifact("the parent's artifact is neither safetensors nor ONNX")
    return found


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


def _lazy(open_: Any) -> Iterable[bytes]:
    """The stream ``open_()`` gives, opened only when the first chunk is asked for (after the
    proposal's signature is checked)."""
    yield from open_()


class ProcMemoryProbe:
    """Peak memory from ``/proc/self``: writing 5 to ``clear_refs`` resets the peak RSS
    (VmHWM) to the current RSS; the growth is the peak minus the RSS at reset. The process is
    the service, so other requests running meanwhile count too; a build runs alone by default
    (``build_concurrency`` 1)."""

    def __init__(self) -> None:
        self._base: int | None = None

    def reset(self) -> None:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._base = _status_kib("VmRSS")
        except OSError:
            self._base = None

    def peak_growth(self) -> int | None:
        if self._base is None:
            return None
        peak = _status_kib("VmHWM")
        return None if peak is None else max(0, peak - self._base) * 1024


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
