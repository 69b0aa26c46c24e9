"""The journal of signed actions: a SQLite file in the data directory, in WAL mode with
synchronous (fsynced) commits, so an entry written is an entry kept through a crash of the
process or of the machine.

Every action the service relays is written here before its transaction is sent, with the
actor's signature, so that the service can send it again if the chain loses it: the signature,
nonce and deadline are the actor's, and stay valid until the deadline. An upload is written
before its body is read (``received``), so whatever a crash leaves of it is found again.

One entry's lifecycle (``_transition`` is the only writer of a status and checks each step)::

    received ──► stored ──► sent ──► mined ──► reapply ──► sent ...   (the chain lost it)
       │            │         │         └──────────────────► lost     (could not be re-applied)
       │            │         ├──► reverted   (mined and reverted: the relayer paid)
       │            │         └──► reapply    (never mined: sent again)
       └────────────┴──────────► refused | abandoned   (nothing on chain; final)

``mined``, ``refused``, ``reverted``, ``lost`` and ``abandoned`` are where an entry rests;
``received``, ``stored``, ``sent`` and ``reapply`` are *live*: the journal still owes the chain
something, and recovery (service/journal/recovery.py) finishes it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from service.errors import LedgerError, StoreUnavailable

SCHEMA_VERSION = 1


class Status(StrEnum):
    RECEIVED = "received"
    STORED = "stored"
    SENT = "sent"
    MINED = "mined"
    REAPPLY = "reapply"
    REFUSED = "refused"
    REVERTED = "reverted"
    LOST = "lost"
    ABANDONED = "abandoned"


LIVE = frozenset({Status.RECEIVED, Status.STORED, Status.SENT, Status.REAPPLY})

_NEXT: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.STORED, Status.REFUSED, Status.ABANDONED}),
    Status.STORED: frozenset({Status.SENT, Status.REFUSED, Status.ABANDONED}),
    Status.SENT: frozenset(
        {Status.MINED, Status.REVERTED, Status.REAPPLY, Status.ABANDONED, Status.REFUSED}
    ),
    Status.MINED: frozenset({Status.REAPPLY}),
    Status.REAPPLY: frozenset({Status.SENT, Status.LOST, Status.ABANDONED, Status.REFUSED}),
}


class JournalError(LedgerError):
    """The journal was asked for a step its entry's state does not allow (a bug), or its file
    cannot be used."""


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One journaled action. ``kind`` is ``signed`` (an actor's EIP-712 action, relayed through
    its ``...BySig`` function) or ``call`` (a permissionless call such as ``finalizeVersion``).
    ``args`` are JSON values (bytes as 0x-hex); ``acknowledged`` is true once it was ever mined.
    """

    id: int
    kind: str
    contract: str
    name: str
    actor: str | None
    nonce: int | None
    deadline: int | None
    args: dict[str, Any]
    signature: str | None
    cid: str | None
    status: Status
    acknowledged: bool
    tx_hash: str | None
    relayer_nonce: int | None
    block_number: int | None
    block_hash: str | None
    receipt: dict[str, Any] | None
    reason: str | None
    suspends: bool
    created_at: float
    updated_at: float

    @property
    def live(self) -> bool:
        return self.status in LIVE


_COLUMNS = (
    "id, kind, contract, name, actor, nonce, deadline, args, signature, cid, status, "
    "acknowledged, tx_hash, relayer_nonce, block_number, block_hash, receipt, reason, suspends, "
    "created_at, updated_at"
)


class Journal:
    """The journal file; thread-safe (one connection under a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"cannot open the journal of signed actions at {self.path}: {exc}; check the "
                "data directory (GOVLEDGER_DATA_DIR) and its permissions"
            ) from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise JournalError(
                f"{self.path} is a journal of schema {version}; this code reads schema "
                f"{SCHEMA_VERSION}: run the version of govledger that wrote it"
            )
        self._db.executescript(
            f"""
            BEGIN;
            CREATE TABLE actions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                contract TEXT NOT NULL,
                name TEXT NOT NULL,
                actor TEXT,
                nonce TEXT,
                deadline TEXT,
                args TEXT NOT NULL,
                signature TEXT,
                cid TEXT,
                status TEXT NOT NULL,
                acknowledged INTEGER NOT NULL DEFAULT 0,
                tx_hash TEXT,
                relayer_nonce INTEGER,
                block_number INTEGER,
                block_hash TEXT,
                receipt TEXT,
                reason TEXT,
                suspends INTEGER NOT NULL DEFAULT 0,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL
            );
            CREATE INDEX actions_by_key ON actions (contract, actor, nonce);
            CREATE INDEX actions_by_status ON actions (status);
            CREATE INDEX actions_by_block ON actions (block_number);
            CREATE INDEX actions_by_cid ON actions (cid);
            PRAGMA user_version = {SCHEMA_VERSION};
            COMMIT;
            """
        )

    # ---------------------------------------------------------------- writes

    def add(
        self,
        *,
        kind: str,
        contract: str,
        name: str,
        args: dict[str, Any],
        status: Status,
        actor: str | None = None,
        nonce: int | None = None,
        deadline: int | None = None,
        signature: str | None = None,
        cid: str | None = None,
        tx_hash: str | None = None,
        relayer_nonce: int | None = None,
    ) -> int:
        """A new entry, durable when this returns; its id."""
        if status not in (Status.RECEIVED, Status.SENT):
            raise JournalError(f"an entry starts received or sent, not {status}")
        now = time.time()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO actions (kind, contract, name, actor, nonce, deadline, args, "
                "signature, cid, status, tx_hash, relayer_nonce, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    contract,
                    name,
                    actor,
                    None if nonce is None else str(nonce),
                    None if deadline is None else str(deadline),
                    json.dumps(args, sort_keys=True),
                    signature,
                    cid,
                    str(status),
                    tx_hash,
                    relayer_nonce,
                    now,
                    now,
                ),
            )
            assert cursor.lastrowid is not None
            return int(cursor.lastrowid)

    def transition(self, entry_id: int, new: Status, **fields: Any) -> Entry:
        """Move an entry to ``new`` (checked against its current status), setting ``fields``
        (tx_hash, relayer_nonce, block_number, block_hash, receipt, reason, suspends); durable
        when this returns."""
        return self.transition_many([entry_id], new, **fields)[0]

    def transition_many(self, entry_ids: list[int], new: Status, **fields: Any) -> list[Entry]:
        """``transition`` for several entries in one durable transaction, all or none (the
        updates one batched transaction carries)."""
        allowed = {"tx_hash", "relayer_nonce", "block_number", "block_hash", "receipt", "reason"}
        allowed.add("suspends")
        unknown = set(fields) - allowed
        if unknown:
            raise JournalError(f"journal entries have no fields {sorted(unknown)}")
        values = dict(fields)
        if "receipt" in values and values["receipt"] is not None:
            values["receipt"] = json.dumps(values["receipt"], sort_keys=True)
        if "suspends" in values:
            values["suspends"] = int(bool(values["suspends"]))
        if new == Status.MINED:
            values["acknowledged"] = 1
        assignments = ", ".join(f"{k} = ?" for k in values)
        found = []
        with self._write() as db:
            for entry_id in entry_ids:
                row = db.execute("SELECT status FROM actions WHERE id = ?", (entry_id,)).fetchone()
                if row is None:
                    raise JournalError(f"the journal has no entry {entry_id}")
                current = Status(row[0])
                if new not in _NEXT.get(current, frozenset()):
                    raise JournalError(
                        f"journal entry {entry_id} is {current}; it cannot become {new}"
                    )
                db.execute(
                    f"UPDATE actions SET status = ?, updated_at = ?{', ' if values else ''}"
                    f"{assignments} WHERE id = ?",
                    (str(new), time.time(), *values.values(), entry_id),
                )
                found.append(
                    db.execute(
                        f"SELECT {_COLUMNS} FROM actions WHERE id = ?", (entry_id,)
                    ).fetchone()
                )
        return [_entry(row) for row in found]

    # ---------------------------------------------------------------- reads

    def get(self, entry_id: int) -> Entry:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM actions WHERE id = ?", (entry_id,)
            ).fetchone()
        if row is None:
            raise JournalError(f"the journal has no entry {entry_id}")
        return _entry(row)

    def holder_of(self, contract: str, actor: str, nonce: int) -> Entry | None:
        """The entry that holds ``actor``'s ``nonce`` on ``contract``: a live one, or a mined
        one (the chain used the nonce for it); None if no entry does."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM actions WHERE contract = ? AND actor = ? AND nonce = ? "
                "AND status IN ('received', 'stored', 'sent', 'reapply', 'mined') "
                "ORDER BY id DESC LIMIT 1",
                (contract, actor, str(nonce)),
            ).fetchone()
        return None if row is None else _entry(row)

    def highest_nonce(self, contract: str, actor: str) -> int | None:
        """The highest nonce of ``actor`` on ``contract`` held by a live or mined entry."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(CAST(nonce AS INTEGER)) FROM actions WHERE contract = ? AND actor = ? "
                "AND status IN ('received', 'stored', 'sent', 'reapply', 'mined')",
                (contract, actor),
            ).fetchone()
        return None if row[0] is None else int(row[0])

    def live(self) -> list[Entry]:
        """Entries the journal still owes the chain something for, oldest first."""
        return self._select("status IN ('received', 'stored', 'sent', 'reapply') ORDER BY id")

    def latest_mined(self) -> Entry | None:
        found = self._select(
            "status = 'mined' AND block_number IS NOT NULL ORDER BY block_number DESC, id DESC "
            "LIMIT 1"
        )
        return found[0] if found else None

    def mined_from_newest(self, batch: int = 256) -> Iterator[Entry]:
        """Mined entries, newest block first (for finding where the chain forked)."""
        last: tuple[int, int] | None = None
        while True:
            if last is None:
                rows = self._select(
                    "status = 'mined' AND block_number IS NOT NULL "
                    f"ORDER BY block_number DESC, id DESC LIMIT {batch}"
                )
            else:
                rows = self._select(
                    "status = 'mined' AND block_number IS NOT NULL AND "
                    "(block_number < ? OR (block_number = ? AND id < ?)) "
                    f"ORDER BY block_number DESC, id DESC LIMIT {batch}",
                    (last[0], last[0], last[1]),
                )
            if not rows:
                return
            yield from rows
            last = (rows[-1].block_number or 0, rows[-1].id)

    def suspension_of(self, actor: str, since: float) -> Entry | None:
        """The latest entry of ``actor`` that reverted on chain in a way that suspends relaying
        for it, if it reverted after ``since``."""
        found = self._select(
            "actor = ? AND status = 'reverted' AND suspends = 1 AND updated_at >= ? "
            "ORDER BY updated_at DESC LIMIT 1",
            (actor, since),
        )
        return found[0] if found else None

    def cids_needed(self) -> set[str]:
        """CIDs of uploads the journal may still record on chain (live entries)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT cid FROM actions WHERE cid IS NOT NULL AND "
                "status IN ('received', 'stored', 'sent', 'reapply')"
            ).fetchall()
        return {str(r[0]) for r in rows}

    def cid_needed(self, cid: str, *, besides: int | None = None) -> bool:
        """Whether an entry other than ``besides`` is live or mined with ``cid``."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM actions WHERE cid = ? AND id != ? AND status IN "
                "('received', 'stored', 'sent', 'reapply', 'mined') LIMIT 1",
                (cid, -1 if besides is None else besides),
            ).fetchone()
        return row is not None

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM actions GROUP BY status")
            return {str(s): int(n) for s, n in rows.fetchall()}

    # ---------------------------------------------------------------- internals

    def _select(self, where: str, params: tuple[Any, ...] = ()) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM actions WHERE {where}", params)
            return [_entry(r) for r in rows.fetchall()]

    def _write(self) -> _Transaction:
        return _Transaction(self)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the journal's lock; disk errors become
    StoreUnavailable (the service answers 503 and changes nothing)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def __enter__(self) -> sqlite3.Connection:
        self.journal._lock.acquire()
        try:
            self.journal._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self.journal._lock.release()
            raise StoreUnavailable(
                f"the journal at {self.journal.path} refused a write: {exc}"
            ) from exc
        return self.journal._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        db = self.journal._db
        try:
            if exc_type is None:
                try:
                    db.execute("COMMIT")
                except sqlite3.Error as error:
                    db.execute("ROLLBACK")
                    raise StoreUnavailable(
                        f"the journal at {self.journal.path} refused a write: {error}"
                    ) from error
            else:
                db.execute("ROLLBACK")
        finally:
            self.journal._lock.release()


def _entry(row: tuple[Any, ...]) -> Entry:
    (
        id_, kind, contract, name, actor, nonce, deadline, args, signature, cid, status,
        acknowledged, tx_hash, relayer_nonce, block_number, block_hash, receipt, reason,
        suspends, created_at, updated_at,
    ) = row  # fmt: skip
    return Entry(
        id=int(id_),
        kind=str(kind),
        contract=str(contract),
        name=str(name),
        actor=actor,
        nonce=None if nonce is None else int(nonce),
        deadline=None if deadline is None else int(deadline),
        args=json.loads(args),
        signature=signature,
        cid=cid,
        status=Status(status),
        acknowledged=bool(acknowledged),
        tx_hash=tx_hash,
        relayer_nonce=None if relayer_nonce is None else int(relayer_nonce),
        block_number=None if block_number is None else int(block_number),
        block_hash=block_hash,
        receipt=None if receipt is None else json.loads(receipt),
        reason=reason,
        suspends=bool(suspends),
        created_at=float(created_at),
        updated_at=float(updated_at),
    )
