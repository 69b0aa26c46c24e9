"""Which metadata document holds the reason of which vote (a table of the bookkeeping database).

The chain records a vote (version, voter, choice) but no reason: its ``CastVote`` carries no
more. The reason is a metadata document in the content store, signed by the voter (a
StoreMetadata signature over its digest), and this table links a vote to it, keeping the
signature so anyone can check it without trusting the service. Losing the table loses the
links (the votes themselves are on chain); garbage collection keeps every document it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.bookkeeping.db import Bookkeeping

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vote_reasons (
    version_id INTEGER NOT NULL,
    voter TEXT NOT NULL,
    cid TEXT NOT NULL,
    deadline INTEGER NOT NULL,
    signature TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (version_id, voter)
)
"""


@dataclass(frozen=True, kw_only=True)
class ReasonLink:
    version_id: int
    voter: str
    cid: str
    deadline: int
    signature: str
    at: float


class VoteReasons:
    """The links from votes to their reasons' documents; one per (version, voter), the latest."""

    def __init__(self, book: Bookkeeping) -> None:
        self.book = book

    def record(self, link: ReasonLink) -> None:
        with self.book.transaction() as db:
            db.execute(_SCHEMA)
            db.execute(
                "INSERT INTO vote_reasons (version_id, voter, cid, deadline, signature, at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (version_id, voter) DO UPDATE SET "
                "cid = excluded.cid, deadline = excluded.deadline, "
                "signature = excluded.signature, at = excluded.at",
                (link.version_id, link.voter, link.cid, link.deadline, link.signature, link.at),
            )

    def of_version(self, version_id: int) -> dict[str, ReasonLink]:
        """The links of one version's votes, by voter."""
        with self.book.transaction() as db:
            db.execute(_SCHEMA)
            rows = db.execute(
                "SELECT version_id, voter, cid, deadline, signature, at FROM vote_reasons "
                "WHERE version_id = ?",
                (version_id,),
            ).fetchall()
        return {row[1]: _link(row) for row in rows}

    def cids(self) -> list[str]:
        """Every document a link names (garbage collection keeps them)."""
        with self.book.transaction() as db:
            db.execute(_SCHEMA)
            return [row[0] for row in db.execute("SELECT DISTINCT cid FROM vote_reasons")]


def _link(row: tuple[int, str, str, int, str, float]) -> ReasonLink:
    version_id, voter, cid, deadline, signature, at = row
    return ReasonLink(
        version_id=version_id, voter=voter, cid=cid, deadline=deadline, signature=signature, at=at
    )
