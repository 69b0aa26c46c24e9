"""One SQLite file of the service's own records, safe across threads and processes.

Every change is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock, held across
processes), committed on success, in WAL mode with ``synchronous=FULL``, so a committed change
survives a crash. The schema is created on first use. SQLite failures are reported as
``ServiceUnavailable`` with the subclass's own wording (``unavailable``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from service.errors import ServiceUnavailable


class SqliteFile:
    """Subclasses set ``SCHEMA`` (idempotent DDL) and may override ``unavailable``."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._ready = False
        self._init_lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success, rolled back on
        any exception."""
        try:
            self._ensure_schema()
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self.unavailable(exc) from exc
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self.unavailable(exc) from exc
        finally:
            conn.close()

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # switching a new file to WAL needs it to itself: another process doing the same
            # at that moment makes SQLite answer "locked" at once (no busy wait), so retry
            for attempt in range(100):
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(self.SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 99:
                        raise
                finally:
                    conn.close()
                time.sleep(0.05)
            self._ready = True

    def unavailable(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(f"the database {self.path} cannot be used: {exc}")
