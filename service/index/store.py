"""The event index's SQLite file: the contracts' raw logs, the models, versions and rounds they
describe, and how far the index reaches (its head: a block and that block's hash).

Written only by :class:`service.index.follower.Indexer` (one transaction per page of blocks, the
head in the same transaction as the rows it covers); read by the domain's lists and the
timeline. Reads run in a deferred transaction, so each sees one committed state (WAL readers do
not wait for the writer).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.types import LogReceipt

from service.bookkeeping.sqlite import SqliteFile
from service.chain.types import ModelRecord
from service.errors import ServiceUnavailable

SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Head:
    """How far the index reaches: every event up to ``block`` (inclusive), whose hash is
    ``block_hash``; ``block`` is ``deploy_block - 1`` before anything was indexed."""

    chain_id: int
    registry: str
    deploy_block: int
    block: int
    block_hash: str | None


@dataclass(frozen=True, kw_only=True)
class StoredLog:
    """A contract log as the index keeps it (enough to decode it again with the ABIs)."""

    block: int
    log_index: int
    block_hash: str
    transaction_hash: str
    transaction_index: int
    address: str
    topics: list[str]
    data: str
    timestamp: int


class IndexFile(SqliteFile):
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        schema INTEGER NOT NULL,
        chain_id INTEGER NOT NULL,
        registry TEXT NOT NULL,
        deploy_block INTEGER NOT NULL,
        block INTEGER NOT NULL,
        block_hash TEXT
    );
    CREATE TABLE IF NOT EXISTS blocks (
        number INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        timestamp INTEGER
    );
    CREATE TABLE IF NOT EXISTS events (
        block INTEGER NOT NULL,
        log_index INTEGER NOT NULL,
        name TEXT NOT NULL,
        model_id INTEGER,
        version_id INTEGER,
        round_id INTEGER,
        transaction_hash TEXT NOT NULL,
        transaction_index INTEGER NOT NULL,
        address TEXT NOT NULL,
        topics TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (block, log_index)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS events_by_model ON events (model_id, block, log_index);
    CREATE TABLE IF NOT EXISTS models (
        model_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        restricted INTEGER NOT NULL,
        metadata_digest BLOB NOT NULL,
        pending_owner TEXT,
        registered_block INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS models_by_owner ON models (lower(owner), model_id);
    CREATE TABLE IF NOT EXISTS versions (
        version_id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL,
        number INTEGER NOT NULL,
        proposed_block INTEGER NOT NULL,
        deadline INTEGER NOT NULL,
        artifact_digest BLOB NOT NULL
    );
    CREATE INDEX IF NOT EXISTS versions_by_model ON versions (model_id, number);
    CREATE INDEX IF NOT EXISTS versions_by_artifact ON versions (artifact_digest);
    CREATE TABLE IF NOT EXISTS rounds (
        round_id INTEGER PRIMARY KEY,
        model_id INTEGER NOT NULL,
        opened_block INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS rounds_by_model ON rounds (model_id);
    """

    def unavailable(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the event index {self.path} cannot be used: {exc}; `govledger index rebuild` "
            "makes it again from the chain"
        )

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only view of one committed state."""
        try:
            self._ensure_schema()
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self.unavailable(exc) from exc
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self.unavailable(exc) from exc
        finally:
            conn.close()

    # ------------------------------------------------------------ reads

    def head(self) -> Head | None:
        with self.snapshot() as conn:
            return read_head(conn)

    def counts(self) -> dict[str, int]:
        with self.snapshot() as conn:
            return {
                table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("events", "models", "versions", "rounds", "blocks")
            }

    def models(self, *, name: str | None, owner: str | None) -> list[ModelRecord]:
        """Models in id order whose name contains ``name`` and whose owner is ``owner``."""
        where, args = ["1"], []
        if name:
            where.append("instr(name, ?) > 0")
            args.append(name)
        if owner:
            where.append("lower(owner) = lower(?)")
            args.append(owner)
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT model_id, name, owner, restricted, metadata_digest, pending_owner "
                f"FROM models WHERE {' AND '.join(where)} ORDER BY model_id",
                args,
            ).fetchall()
        return [
            ModelRecord(
                model_id=int(r[0]),
                name=str(r[1]),
                owner=str(r[2]),
                restricted=bool(r[3]),
                metadata_digest=bytes(r[4]),
                pending_owner=r[5],
            )
            for r in rows
        ]

    def model_ids(self) -> set[int]:
        with self.snapshot() as conn:
            return {int(r[0]) for r in conn.execute("SELECT model_id FROM models")}

    def proposals(self, model_id: int, upto_block: int) -> dict[int, tuple[int, int]]:
        """The model's version ids in proposal order, each with its proposal block and its
        ballot's deadline, up to ``upto_block``."""
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT version_id, proposed_block, deadline FROM versions "
                "WHERE model_id = ? AND proposed_block <= ? ORDER BY number",
                (model_id, upto_block),
            ).fetchall()
        return {int(v): (int(b), int(d)) for v, b, d in rows}

    def version_ids(self, model_id: int) -> list[int]:
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT version_id FROM versions WHERE model_id = ? ORDER BY number", (model_id,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def rounds_opened(self, model_id: int, upto_block: int) -> dict[int, int]:
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT round_id, opened_block FROM rounds "
                "WHERE model_id = ? AND opened_block <= ? ORDER BY round_id",
                (model_id, upto_block),
            ).fetchall()
        return {int(r): int(b) for r, b in rows}

    def model_logs(
        self, model_id: int, names: frozenset[str], from_block: int, to_block: int
    ) -> list[StoredLog]:
        """The logs of the named events that concern the model, in blocks ``from_block`` ..
        ``to_block``, in chain order."""
        marks = ",".join("?" * len(names))
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT e.block, e.log_index, b.hash, e.transaction_hash, e.transaction_index, "
                "e.address, e.topics, e.data, b.timestamp FROM events e "
                "JOIN blocks b ON b.number = e.block "
                f"WHERE e.model_id = ? AND e.block BETWEEN ? AND ? AND e.name IN ({marks}) "
                "ORDER BY e.block, e.log_index",
                (model_id, from_block, to_block, *sorted(names)),
            ).fetchall()
        return [stored_log(r) for r in rows]

    def logs_named(self, names: frozenset[str], to_block: int) -> list[StoredLog]:
        """Every log of the named events up to ``to_block``, in chain order."""
        marks = ",".join("?" * len(names))
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT e.block, e.log_index, b.hash, e.transaction_hash, e.transaction_index, "
                "e.address, e.topics, e.data, b.timestamp FROM events e "
                "JOIN blocks b ON b.number = e.block "
                f"WHERE e.block <= ? AND e.name IN ({marks}) ORDER BY e.block, e.log_index",
                (to_block, *sorted(names)),
            ).fetchall()
        return [stored_log(r) for r in rows]

    def all_logs(self) -> list[tuple[int, int, str, str, str]]:
        """(block, log index, block hash, topics, data) of every indexed log, in chain order:
        what two indexes built from the same chain must agree on."""
        with self.snapshot() as conn:
            rows = conn.execute(
                "SELECT e.block, e.log_index, b.hash, e.topics, e.data FROM events e "
                "JOIN blocks b ON b.number = e.block ORDER BY e.block, e.log_index"
            ).fetchall()
        return [(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    def table(self, name: str) -> list[tuple[object, ...]]:
        """Every row of one derived table, in key order (for comparisons)."""
        if name not in ("models", "versions", "rounds"):
            raise ValueError(name)
        with self.snapshot() as conn:
            return [tuple(r) for r in conn.execute(f"SELECT * FROM {name} ORDER BY 1")]


def read_head(conn: sqlite3.Connection) -> Head | None:
    row = conn.execute(
        "SELECT chain_id, registry, deploy_block, block, block_hash, schema FROM head"
    ).fetchone()
    if row is None or int(row[5]) != SCHEMA_VERSION:
        return None
    return Head(
        chain_id=int(row[0]),
        registry=str(row[1]),
        deploy_block=int(row[2]),
        block=int(row[3]),
        block_hash=row[4],
    )


def stored_log(r: tuple[object, ...]) -> StoredLog:
    return StoredLog(
        block=int(r[0]),  # type: ignore[call-overload]
        log_index=int(r[1]),  # type: ignore[call-overload]
        block_hash=str(r[2]),
        transaction_hash=str(r[3]),
        transaction_index=int(r[4]),  # type: ignore[call-overload]
        address=str(r[5]),
        topics=str(r[6]).split(","),
        data=str(r[7]),
        timestamp=int(r[8]),  # type: ignore[call-overload]
    )


def as_log(stored: StoredLog) -> LogReceipt:
    """The stored log in the shape ``eth_getLogs`` answers (for the contracts' ABIs)."""
    return cast(
        LogReceipt,
        {
            "address": stored.address,
            "topics": [HexBytes(t) for t in stored.topics],
            "data": HexBytes(stored.data),
            "blockNumber": stored.block,
            "blockHash": HexBytes(stored.block_hash),
            "transactionHash": HexBytes(stored.transaction_hash),
            "transactionIndex": stored.transaction_index,
            "logIndex": stored.log_index,
            "removed": False,
        },
    )


_checksum = functools.lru_cache(maxsize=64)(to_checksum_address)


def raw_log(entry: dict[str, Any]) -> LogReceipt:
    """A log as ``eth_getLogs`` sends it over JSON-RPC (hex strings) in the shape web3 gives
    (what ``EventReader.decode`` and the index's writer take)."""
    log: dict[str, Any] = {
        "address": _checksum(entry["address"]),
        "topics": [HexBytes(t) for t in entry["topics"]],
        "data": HexBytes(entry["data"]),
        "blockNumber": int(entry["blockNumber"], 16),
        "blockHash": HexBytes(entry["blockHash"]),
        "transactionHash": HexBytes(entry["transactionHash"]),
        "transactionIndex": int(entry["transactionIndex"], 16),
        "logIndex": int(entry["logIndex"], 16),
        "removed": bool(entry.get("removed", False)),
    }
    if "blockTimestamp" in entry:  # newer nodes put the block's time in each log
        log["blockTimestamp"] = entry["blockTimestamp"]
    return cast(LogReceipt, log)
