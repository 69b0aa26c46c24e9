"""Following the chain into the event index: pages of blocks, a confirmation depth, crash-safe
resumption and rollback detection.

Each page (``EventReader.page_blocks`` blocks, at most up to ``latest - confirmations``) is
read with one ``eth_getLogs`` over the three contracts and written in one SQLite transaction
together with the new head (the page's last block and its hash). A crash therefore loses at most
the page being written, and the next sync starts after the last committed head: no duplicate,
no gap. Before each sync the head's hash is compared with the chain's block at that number; a
block hash commits to every block below it, so a match proves everything indexed is still the
chain's. A mismatch (a reorganisation, or a local anvil restarted from an older state file)
walks the blocks the index holds from the newest down to the newest one the chain still has,
deletes everything above it and indexes again from there.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web3.exceptions import BlockNotFound, Web3Exception
from web3.types import LogReceipt, RPCEndpoint

from service.chain.history import EventReader
from service.chain.types import Event
from service.errors import LedgerError
from service.index.store import (
    SCHEMA_VERSION,
    Head,
    IndexFile,
    as_log,
    raw_log,
    read_head,
    stored_log,
)
from service.periodic import Periodic

log = logging.getLogger("govledger.index")

ZERO_ADDRESS = "0x" + "00" * 20
MODEL_STATE_EVENTS = frozenset(
    {
        "ModelRegistered",
        "ModelMetadataChanged",
        "ModelOwnershipTransferStarted",
        "ModelOwnershipTransferred",
        "ReadPolicyChanged",
    }
)
"""The events that change what ``GET /v1/models`` shows of a model."""
MAX_PAGE_LOGS = 10_000
"""A page that brings more logs halves the next page's blocks (one answer, one transaction of
moderate size); a failed eth_getLogs halves it too and is tried again; pages of few logs grow
back to ``EventReader.page_blocks``."""


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    head: int  # the last block indexed
    target: int  # the block the sync aimed at (latest - confirmations)
    pages: int
    events: int
    rolled_back_to: int | None  # the newest block kept after a rollback, if there was one


class Indexer:
    """Writes the index from the chain; one per index file and process (a lock serialises
    syncs in the process, the head's compare-and-set in each transaction across processes)."""

    def __init__(
        self,
        *,
        file: IndexFile,
        reader: EventReader,
        chain_id: int,
        registry: str,
        deploy_block: int,
        confirmations: int = 0,
    ) -> None:
        self.file = file
        self.reader = reader
        self.w3 = reader.w3
        self.chain_id = chain_id
        self.registry = registry
        self.deploy_block = deploy_block
        self.confirmations = confirmations
        self._addresses = [c.address for c in reader.contracts.values()]
        self._lock = threading.Lock()
        self._span: int | None = None  # blocks per page, while fewer than the reader's

    # ------------------------------------------------------------ public

    def sync(
        self, *, max_pages: int | None = None, stop: Callable[[], bool] | None = None
    ) -> SyncResult:
        """Index every block up to ``latest - confirmations`` (or ``max_pages`` pages of it)."""
        with self._lock:
            head = self._own_head()
            rolled_back = None
            if head.block_hash is not None and self._hash_of(head.block) != head.block_hash:
                head = self._roll_back(head)
                rolled_back = head.block
            target = int(self.w3.eth.block_number) - self.confirmations
            pages = events = 0
            while head.block < target and (max_pages is None or pages < max_pages):
                if stop is not None and stop():
                    break
                span = min(self._span or self.reader.page_blocks, self.reader.page_blocks)
                start = head.block + 1
                end = min(start + span - 1, target)
                end_hash = self._hash_of(end)
                try:
                    logs = self._get_logs(start, end)
                except (LedgerError, ValueError, Web3Exception) as exc:
                    if span == 1:
                        raise
                    # too many logs for one answer (a node's limit, or our timeout): halve
                    self._span = span // 2
                    log.info("eth_getLogs of %d blocks failed (%s): halving", span, exc)
                    continue
                if len(logs) > MAX_PAGE_LOGS:
                    self._span = max(1, span // 2)
                elif len(logs) < MAX_PAGE_LOGS // 4:
                    self._span = span * 2
                if end_hash is None or self._hash_of(end) != end_hash:
                    break  # the chain changed under the page; the next sync starts over
                written = self._write_page(head, logs, end, end_hash)
                if written is None:  # another writer moved the head: continue from its
                    head = self._own_head()
                    continue
                head = written
                pages += 1
                events += len(logs)
            return SyncResult(
                head=head.block,
                target=target,
                pages=pages,
                events=events,
                rolled_back_to=rolled_back,
            )

    def reset(self) -> None:
        """Forget everything: the next sync indexes from the deploy block (a rebuild)."""
        with self._lock, self.file.transaction() as conn:
            _clear(conn)
            self._set_head(conn, self.deploy_block - 1, None)

    # ------------------------------------------------------------ head

    def _own_head(self) -> Head:
        """The head, after making sure the file indexes this deployment (else it is reset)."""
        with self.file.transaction() as conn:
            head = read_head(conn)
            if (
                head is None
                or head.chain_id != self.chain_id
                or head.registry.lower() != self.registry.lower()
                or head.deploy_block != self.deploy_block
            ):
                if head is not None:
                    log.warning("the event index was of another deployment: indexing again")
                _clear(conn)
                self._set_head(conn, self.deploy_block - 1, None)
                head = read_head(conn)
            assert head is not None
            return head

    def _set_head(self, conn: sqlite3.Connection, block: int, block_hash: str | None) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO head (id, schema, chain_id, registry, deploy_block, block, "
            "block_hash) VALUES (1, ?, ?, ?, ?, ?, ?)",
            (SCHEMA_VERSION, self.chain_id, self.registry, self.deploy_block, block, block_hash),
        )

    def _hash_of(self, block: int) -> str | None:
        try:
            return self.w3.eth.get_block(block)["hash"].to_0x_hex()
        except BlockNotFound:
            return None

    def _get_logs(self, start: int, end: int) -> list[LogReceipt]:
        """The three contracts' logs in blocks ``start`` .. ``end``: one ``eth_getLogs`` as raw
        JSON-RPC, without web3's formatting of the answer, which took most of the catch-up's
        time (docs/performance.md, "Event index")."""
        response = self.w3.provider.make_request(
            RPCEndpoint("eth_getLogs"),
            [{"address": self._addresses, "fromBlock": hex(start), "toBlock": hex(end)}],
        )
        if response.get("error"):
            raise ValueError(f"eth_getLogs of blocks {start}..{end}: {response['error']}")
        return [raw_log(entry) for entry in response["result"]]

    # ------------------------------------------------------------ writing

    def _write_page(
        self, head: Head, logs: list[LogReceipt], end: int, end_hash: str
    ) -> Head | None:
        decoded = [(entry, self._decode(entry)) for entry in logs]
        with self.file.transaction() as conn:
            if read_head(conn) != head:
                return None
            for entry, event in decoded:
                assert event.block_timestamp is not None
                conn.execute(
                    "INSERT OR REPLACE INTO blocks (number, hash, timestamp) VALUES (?, ?, ?)",
                    (event.block_number, entry["blockHash"].to_0x_hex(), event.block_timestamp),
                )
                model_id, version_id, round_id = _subjects(conn, event)
                conn.execute(
                    "INSERT INTO events (block, log_index, name, model_id, version_id, round_id, "
                    "transaction_hash, transaction_index, address, topics, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        event.block_number,
                        event.log_index,
                        event.name,
                        model_id,
                        version_id,
                        round_id,
                        event.transaction_hash,
                        int(entry["transactionIndex"]),
                        str(entry["address"]),
                        ",".join(t.to_0x_hex() for t in entry["topics"]),
                        entry["data"].to_0x_hex(),
                    ),
                )
                _apply(conn, event)
            conn.execute(
                "INSERT OR IGNORE INTO blocks (number, hash, timestamp) VALUES (?, ?, NULL)",
                (end, end_hash),
            )
            self._set_head(conn, end, end_hash)
            new = read_head(conn)
        assert new is not None
        return new

    def _decode(self, entry: LogReceipt) -> Event:
        raw: Any = dict(entry).get("blockTimestamp")  # newer nodes put the time in each log
        if raw is None:
            timestamp = self.reader.block_timestamp(bytes(entry["blockHash"]))
        else:
            timestamp = int(raw, 16) if isinstance(raw, str) else int(raw)
        return self.reader.decode(entry, timestamp=timestamp)

    # ------------------------------------------------------------ rollback

    def _roll_back(self, head: Head) -> Head:
        """Delete what the chain no longer has; the head becomes the newest block it still
        has (or the block before the deployment)."""
        keep = self.deploy_block - 1
        keep_hash = None
        with self.file.snapshot() as conn:
            rows = conn.execute(
                "SELECT number, hash FROM blocks WHERE number <= ? ORDER BY number DESC",
                (head.block,),
            ).fetchall()
        for number, block_hash in rows:
            if self._hash_of(int(number)) == block_hash:
                keep, keep_hash = int(number), str(block_hash)
                break
        log.warning(
            "the chain no longer has indexed block %d (%s): indexing again from block %d",
            head.block,
            head.block_hash,
            keep + 1,
        )
        with self.file.transaction() as conn:
            affected = [
                int(r[0])
                for r in conn.execute(
                    "SELECT DISTINCT model_id FROM events WHERE block > ? AND model_id IS NOT NULL",
                    (keep,),
                )
            ]
            conn.execute("DELETE FROM events WHERE block > ?", (keep,))
            conn.execute("DELETE FROM blocks WHERE number > ?", (keep,))
            conn.execute("DELETE FROM versions WHERE proposed_block > ?", (keep,))
            conn.execute("DELETE FROM rounds WHERE opened_block > ?", (keep,))
            for model_id in affected:
                self._replay_model(conn, model_id)
            self._set_head(conn, keep, keep_hash)
            new = read_head(conn)
        assert new is not None
        return new

    def _replay_model(self, conn: sqlite3.Connection, model_id: int) -> None:
        """The model's row again from the events the index still holds."""
        conn.execute("DELETE FROM models WHERE model_id = ?", (model_id,))
        marks = ",".join("?" * len(MODEL_STATE_EVENTS))
        rows = conn.execute(
            "SELECT e.block, e.log_index, b.hash, e.transaction_hash, e.transaction_index, "
            "e.address, e.topics, e.data, b.timestamp FROM events e "
            f"JOIN blocks b ON b.number = e.block WHERE e.model_id = ? AND e.name IN ({marks}) "
            "ORDER BY e.block, e.log_index",
            (model_id, *sorted(MODEL_STATE_EVENTS)),
        ).fetchall()
        for row in rows:
            stored = stored_log(row)
            _apply(conn, self.reader.decode(as_log(stored), timestamp=stored.timestamp))


def _subjects(conn: sqlite3.Connection, event: Event) -> tuple[int | None, int | None, int | None]:
    """(model, version, round) an event concerns; a vote names only its version and a round's
    later events only the round, whose model the index already knows."""
    args = event.args
    version_id = int(args["versionId"]) if "versionId" in args else None
    round_id = int(args["roundId"]) if "roundId" in args else None
    if "modelId" in args:
        return int(args["modelId"]), version_id, round_id
    row = None
    if version_id is not None:
        row = conn.execute(
            "SELECT model_id FROM versions WHERE version_id = ?", (version_id,)
        ).fetchone()
    elif round_id is not None:
        row = conn.execute("SELECT model_id FROM rounds WHERE round_id = ?", (round_id,)).fetchone()
    return (None if row is None else int(row[0])), version_id, round_id


def _apply(conn: sqlite3.Connection, event: Event) -> None:
    """What the event changes in the derived tables."""
    a = event.args
    name = event.name
    if name == "ModelRegistered":
        conn.execute(
            "INSERT OR REPLACE INTO models (model_id, name, owner, restricted, metadata_digest, "
            "pending_owner, registered_block) VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (
                int(a["modelId"]),
                str(a["name"]),
                str(a["owner"]),
                int(bool(a["restricted"])),
                bytes(a["metadataDigest"]),
                event.block_number,
            ),
        )
    elif name == "ModelMetadataChanged":
        conn.execute(
            "UPDATE models SET metadata_digest = ? WHERE model_id = ?",
            (bytes(a["metadataDigest"]), int(a["modelId"])),
        )
    elif name == "ModelOwnershipTransferStarted":
        pending = str(a["newOwner"])
        conn.execute(
            "UPDATE models SET pending_owner = ? WHERE model_id = ?",
            (None if pending == ZERO_ADDRESS else pending, int(a["modelId"])),
        )
    elif name == "ModelOwnershipTransferred":
        conn.execute(
            "UPDATE models SET owner = ?, pending_owner = NULL WHERE model_id = ?",
            (str(a["newOwner"]), int(a["modelId"])),
        )
    elif name == "ReadPolicyChanged":
        conn.execute(
            "UPDATE models SET restricted = ? WHERE model_id = ?",
            (int(bool(a["restricted"])), int(a["modelId"])),
        )
    elif name == "VersionProposed":
        model_id = int(a["modelId"])
        number = conn.execute(
            "SELECT count(*) FROM versions WHERE model_id = ?", (model_id,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO versions (version_id, model_id, number, proposed_block, deadline, "
            "artifact_digest) VALUES (?, ?, ?, ?, ?, ?)",
            (
                int(a["versionId"]),
                model_id,
                int(number) + 1,
                event.block_number,
                int(a["deadline"]),
                bytes(a["artifactDigest"]),
            ),
        )
    elif name == "RoundOpened":
        conn.execute(
            "INSERT INTO rounds (round_id, model_id, opened_block) VALUES (?, ?, ?)",
            (int(a["roundId"]), int(a["modelId"]), event.block_number),
        )


def _clear(conn: sqlite3.Connection) -> None:
    for table in ("events", "blocks", "models", "versions", "rounds", "head"):
        conn.execute(f"DELETE FROM {table}")


def follower(indexer: Callable[[], Indexer | None], interval_s: float) -> Periodic:
    """A daemon thread that keeps the index current: a sync every ``interval_s`` seconds, the
    first at once (it catches up from the deploy block, page by page)."""

    def sync(stop: threading.Event) -> None:
        if (current := indexer()) is not None:
            current.sync(stop=stop.is_set)

    return Periodic("index sync", sync, interval_s, log=log, at_start=True)
