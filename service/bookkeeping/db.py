"""The service's bookkeeping database (SQLite, ``<data_dir>/bookkeeping.sqlite``).

It holds what the chain does not, and what the service needs to survive a restart:

- ``pinned``: when each pinned root was first known pinned (a metadata document is recorded
  when it is stored; any other pin when garbage collection first sees it). Garbage collection
  unpins an unreferenced root only once its grace period has passed since then. The record is
  here, not in the store, so both store backends (embedded and kubo) work alike.
- ``stored``: what each account stored (digest, size, time), for the per-account quota of
  metadata documents over a rolling window.

Several processes may use the file at once (the service, ``govledger store gc``): every change
is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock, held across processes), in WAL
mode with ``synchronous=FULL``, so a committed change survives a crash. Losing the file loses
nothing the ledger depends on: quotas start afresh and grace periods restart, which only delays
collection. SQLite failures are reported as ``ServiceUnavailable`` naming the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from service.bookkeeping.sqlite import SqliteFile
from service.errors import ServiceUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pinned (
    cid TEXT PRIMARY KEY,
    pinned_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stored (
    account TEXT NOT NULL,
    digest BLOB NOT NULL,
    size INTEGER NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stored_by_account ON stored (account, at);
"""


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What one account stored within a window: documents, bytes, and when the oldest of them
    was stored (None if nothing)."""

    documents: int
    bytes: int
    oldest_at: float | None


@dataclass(frozen=True, kw_only=True)
class ChargeOutcome:
    """``charged``: recorded; ``repeat``: the account stored this digest within the window
    already, so it costs nothing again (a replayed request); ``over``: it does not fit, nothing
    was recorded. ``usage`` is the account's use before this charge."""

    status: Literal["charged", "repeat", "over"]
    usage: Usage
    at: float


class Bookkeeping(SqliteFile):
    """The bookkeeping database; see the module docstring. Thread- and process-safe."""

    SCHEMA = _SCHEMA

    def unavailable(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the service's bookkeeping database at {self.path} failed ({exc}); check the "
            "data directory (GOVLEDGER_DATA_DIR), its free space and permissions"
        )

    # ------------------------------------------------------------ pins

    def note_pinned(self, cid: str, now: float) -> None:
        """Record that ``cid`` is (again) pinned at ``now``: its grace period starts afresh."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO pinned (cid, pinned_at) VALUES (?, ?) "
                "ON CONFLICT (cid) DO UPDATE SET pinned_at = excluded.pinned_at",
                (cid, now),
            )

    def pinned_since(
        self, cids: Iterable[str], now: float, *, record: bool = True
    ) -> dict[str, float]:
        """When each of ``cids`` (the roots pinned now) was last known pinned; one never seen
        counts as pinned ``now``. With ``record``, that is written down, and the records of
        roots not in ``cids`` (no longer pinned) are dropped; without, nothing changes."""
        wanted = set(cids)
        with self.transaction() as db:
            known = dict(db.execute("SELECT cid, pinned_at FROM pinned").fetchall())
            if record:
                gone = [(c,) for c in known if c not in wanted]
                db.executemany("DELETE FROM pinned WHERE cid = ?", gone)
                new = [(c, now) for c in wanted if c not in known]
                db.executemany("INSERT INTO pinned (cid, pinned_at) VALUES (?, ?)", new)
        return {c: known.get(c, now) for c in wanted}

    def unpin_if_pinned_before(self, cid: str, before: float, unpin: Callable[[], None]) -> bool:
        """Run ``unpin`` and forget ``cid`` if it was last pinned before ``before``, in one
        transaction: a concurrent ``note_pinned`` (a new store of the same bytes) waits for it
        and pins again after, or commits first and the root is kept."""
        with self.transaction() as db:
            row = db.execute("SELECT pinned_at FROM pinned WHERE cid = ?", (cid,)).fetchone()
            if row is None or row[0] >= before:
                return False
            unpin()
            db.execute("DELETE FROM pinned WHERE cid = ?", (cid,))
        return True

    # ------------------------------------------------------------ storage use

    def usage(self, account: str, *, since: float) -> Usage:
        with self.transaction() as db:
            return _usage(db, account, since)

    def has_stored(self, account: str, digest: bytes, *, since: float) -> bool:
        """Whether ``account`` stored ``digest`` at or after ``since``."""
        with self.transaction() as db:
            return _has_stored(db, account, digest, since)

    def charge(
        self,
        *,
        account: str,
        digest: bytes,
        size: int,
        now: float,
        since: float,
        max_documents: int,
        max_bytes: int,
    ) -> ChargeOutcome:
        """Record that ``account`` stored ``size`` bytes under ``digest`` at ``now``, if that
        keeps its use since ``since`` within the bounds; atomically (see ChargeOutcome)."""
        with self.transaction() as db:
            db.execute("DELETE FROM stored WHERE at < ?", (since,))
            usage = _usage(db, account, since)
            if _has_stored(db, account, digest, since):
                return ChargeOutcome(status="repeat", usage=usage, at=now)
            if usage.documents + 1 > max_documents or usage.bytes + size > max_bytes:
                return ChargeOutcome(status="over", usage=usage, at=now)
            db.execute(
                "INSERT INTO stored (account, digest, size, at) VALUES (?, ?, ?, ?)",
                (account, digest, size, now),
            )
            return ChargeOutcome(status="charged", usage=usage, at=now)

    def refund(self, *, account: str, digest: bytes, at: float) -> None:
        """Undo a charge (the document could not be stored after all)."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM stored WHERE account = ? AND digest = ? AND at = ?",
                (account, digest, at),
            )


def _usage(db: sqlite3.Connection, account: str, since: float) -> Usage:
    documents, size, oldest = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(at) FROM stored "
        "WHERE account = ? AND at >= ?",
        (account, since),
    ).fetchone()
    return Usage(documents=int(documents), bytes=int(size), oldest_at=oldest)


def _has_stored(db: sqlite3.Connection, account: str, digest: bytes, since: float) -> bool:
    row = db.execute(
        "SELECT 1 FROM stored WHERE account = ? AND digest = ? AND at >= ? LIMIT 1",
        (account, digest, since),
    ).fetchone()
    return row is not None
