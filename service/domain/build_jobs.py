"""Build jobs, kept in their own SQLite file (``<data_dir>/builds.sqlite``).

A job is ``queued`` when accepted, ``running`` once a worker takes it, then ``succeeded`` (its
result: the builds, their documents and the measured table) or ``failed`` (its error). A job is
never lost: every change is one committed transaction (WAL, ``synchronous=FULL``), and when the
service starts, a job a previous process left queued or running is marked failed, saying it was
interrupted by a restart and how to start it again (a build is cheap to repeat and its inputs
are all on chain and in the store, so it is not resumed half-way).

The file is the service's own record, like the journal and the bookkeeping database; losing it
loses the job history, nothing on chain or in the store.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from service.bookkeeping.sqlite import SqliteFile
from service.errors import NotFound, ServiceUnavailable

JobState = Literal["queued", "running", "succeeded", "failed"]
LIVE_STATES: Final = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id INTEGER NOT NULL,
    version_id INTEGER NOT NULL,
    requester TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_model ON jobs (model_id, id);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
"""


@dataclass(frozen=True, kw_only=True)
class Job:
    id: int
    model_id: int
    version_id: int
    requester: str
    options: dict[str, Any]
    state: JobState
    progress: float
    message: str
    result: dict[str, Any] | None
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


class JobStore(SqliteFile):
    """The jobs table; thread- and process-safe (one transaction per change)."""

    SCHEMA = _SCHEMA

    def unavailable(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(f"the build jobs database {self.path} cannot be used: {exc}")

    # ------------------------------------------------------------ changes

    def create(
        self, *, model_id: int, version_id: int, requester: str, options: dict[str, Any]
    ) -> Job:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO jobs (model_id, version_id, requester, options, state, message, "
                "created_at) VALUES (?, ?, ?, ?, 'queued', 'waiting for a worker', ?)",
                (model_id, version_id, requester, json.dumps(options), time.time()),
            )
            job_id = int(cursor.lastrowid or 0)
        return self.get(job_id)

    def start(self, job_id: int) -> bool:
        """Mark a queued job running; False if it is no longer queued."""
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, message = 'started' "
                "WHERE id = ? AND state = 'queued'",
                (time.time(), job_id),
            )
            return cursor.rowcount == 1

    def progress(self, job_id: int, fraction: float, message: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET progress = ?, message = ? WHERE id = ? AND state = 'running'",
                (max(0.0, min(1.0, fraction)), message[:500], job_id),
            )

    def succeed(self, job_id: int, result: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'succeeded', progress = 1, message = 'done', "
                "result = ?, finished_at = ? WHERE id = ?",
                (json.dumps(result), time.time(), job_id),
            )

    def fail(self, job_id: int, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = 'failed', message = 'failed', error = ?, "
                "finished_at = ? WHERE id = ? AND state IN ('queued', 'running')",
                (error[:4000], time.time(), job_id),
            )

    def fail_interrupted(self) -> list[int]:
        """Mark every job a previous process left queued or running failed; their ids."""
        with self.transaction() as db:
            rows = db.execute("SELECT id, state FROM jobs WHERE state IN ('queued', 'running')")
            interrupted = [(int(i), str(s)) for i, s in rows.fetchall()]
            for job_id, state in interrupted:
                db.execute(
                    "UPDATE jobs SET state = 'failed', message = 'failed', error = ?, "
                    "finished_at = ? WHERE id = ?",
                    (
                        f"interrupted by a restart of the service while {state}; nothing of it "
                        "was proposed: start the build again (POST /v1/models/{id}/builds, or "
                        "govledger accelerate)",
                        time.time(),
                        job_id,
                    ),
                )
        return [job_id for job_id, _ in interrupted]

    # ------------------------------------------------------------ reads

    def get(self, job_id: int) -> Job:
        with self.transaction() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no build job {job_id}")
        return _job(row)

    def recent(self, *, model_id: int | None = None, limit: int = 50) -> list[Job]:
        with self.transaction() as db:
            if model_id is None:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE model_id = ? ORDER BY id DESC LIMIT ?",
                    (model_id, limit),
                ).fetchall()
        return [_job(r) for r in rows]

    def live_count(self) -> int:
        with self.transaction() as db:
            row = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
            return int(row.fetchone()[0])

    def results_since(self, since: float) -> list[dict[str, Any]]:
        """The results of jobs that finished since ``since`` (for what the store must keep)."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT result FROM jobs WHERE state = 'succeeded' AND finished_at >= ?", (since,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows if r[0]]


_COLUMNS = (
    "id, model_id, version_id, requester, options, state, progress, message, result, error, "
    "created_at, started_at, finished_at"
)


def _job(row: tuple[Any, ...]) -> Job:
    return Job(
        id=int(row[0]),
        model_id=int(row[1]),
        version_id=int(row[2]),
        requester=str(row[3]),
        options=json.loads(row[4]),
        state=row[5],
        progress=float(row[6]),
        message=str(row[7]),
        result=json.loads(row[8]) if row[8] else None,
        error=row[9],
        created_at=float(row[10]),
        started_at=row[11],
        finished_at=row[12],
    )
