"""Tables of the service's resources (models, versions, votes, aliases, rights, members)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from service.api.schemas import (
    AliasMovePublic,
    AliasPublic,
    BallotPublic,
    ConsortiumPublic,
    MemberPublic,
    ModelPublic,
    ProposalPublic,
    RightsPublic,
    TransactionPublic,
    VersionPublic,
    VotePublic,
)
from service.cli.output import fields, table

ZERO_DIGEST = "0x" + "00" * 32
_STATE_STYLE = {"approved": "green", "rejected": "red", "proposed": "yellow"}


def when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def state(name: str) -> Text:
    return Text(name, style=_STATE_STYLE.get(name, ""))


def digest(value: str) -> str:
    return "-" if value == ZERO_DIGEST else value


def tally(b: BallotPublic) -> str:
    return f"{b.for_votes} for / {b.against_votes} against / {b.abstain_votes} abstain"


def models(items: Sequence[ModelPublic], *, title: str | None = None) -> Table:
    return table(
        "id", "name", "owner", "read", "metadata digest",
        rows=[
            (m.model_id, m.name, m.owner, "restricted" if m.restricted else "open",
             digest(m.metadata_digest))
            for m in items
        ],
        title=title,
    )  # fmt: skip


def model(m: ModelPublic, tx: TransactionPublic | None = None) -> Table:
    rows: list[tuple[str, object]] = [
        ("model", m.model_id),
        ("name", m.name),
        ("owner", m.owner),
        *([("pending owner", m.pending_owner)] if m.pending_owner else []),
        ("read policy", "restricted" if m.restricted else "open"),
        ("metadata digest", digest(m.metadata_digest)),
    ]
    return fields(rows + transaction_rows(tx))


def transaction_rows(tx: TransactionPublic | None) -> list[tuple[str, object]]:
    if tx is None:
        return []
    return [("transaction", tx.transaction_hash), ("block", tx.block_number), ("gas", tx.gas_used)]


def versions(items: Sequence[VersionPublic], *, title: str | None = None) -> Table:
    return table(
        "id", "model", "kind", "state", "parent", "votes (for/against/abstain)", "needs",
        "proposer", "cid",
        rows=[
            (v.version_id, v.model_id, v.kind, state(v.state), v.parent_id,
             f"{v.ballot.for_votes}/{v.ballot.against_votes}/{v.ballot.abstain_votes}",
             v.ballot.required, v.proposer, v.artifact_cid)
            for v in items
        ],
        title=title,
    )  # fmt: skip


def version(
    v: VersionPublic, *, size: int | None = None, tx: TransactionPublic | None = None
) -> Table:
    rows: list[tuple[str, object]] = [
        ("version", v.version_id),
        ("model", v.model_id),
        ("kind", v.kind),
        ("state", state(v.state)),
        ("parent", v.parent_id),
        ("artifact cid", v.artifact_cid),
        ("artifact digest", v.artifact_digest),
        ("metadata digest", digest(v.metadata_digest)),
        ("proposer", v.proposer),
        ("proposed at block", v.proposed_block),
        ("votes", tally(v.ballot)),
        ("required for votes", f"{v.ballot.required} of {v.ballot.eligible} members"),
        ("voting ends", when(v.ballot.deadline)),
    ]
    if size is not None:
        rows.insert(7, ("artifact size", f"{size} bytes"))
    return fields(rows + transaction_rows(tx))


def votes(items: Sequence[VotePublic], *, title: str | None = None) -> Table:
    return table(
        "voter", "choice", "block", "time", "transaction",
        rows=[
            (v.voter, v.support, v.block_number, when(v.timestamp), v.transaction_hash)
            for v in items
        ],
        title=title,
    )  # fmt: skip


def aliases(items: Sequence[AliasPublic], *, title: str | None = None) -> Table:
    return table("alias", "version", rows=[(a.alias, a.version_id) for a in items], title=title)


def alias_moves(items: Sequence[AliasMovePublic], *, title: str | None = None) -> Table:
    return table(
        "block", "time", "version", "previous", "moved by", "transaction",
        rows=[
            (m.block_number, when(m.timestamp), m.version_id, m.previous_version_id, m.by,
             m.transaction_hash)
            for m in items
        ],
        title=title,
    )  # fmt: skip


def rights(items: Sequence[RightsPublic], *, title: str | None = None) -> Table:
    return table(
        "model", "account", "rights", "owner", "can read", "can submit updates",
        rows=[
            (r.model_id, r.account, r.rights, r.is_owner, r.can_read, r.can_submit_updates)
            for r in items
        ],
        title=title,
    )  # fmt: skip


def members(items: Sequence[MemberPublic], *, title: str | None = None) -> Table:
    return table(
        "address", "member since block",
        rows=[(m.address, m.member_since_block) for m in items],
        title=title,
    )  # fmt: skip


def consortium(c: ConsortiumPublic) -> Table:
    return fields(
        [
            ("members", len(c.members)),
            ("quorum", f"{c.quorum_bps / 100:g}% ({c.quorum_bps} bps)"),
            ("for votes a new ballot needs", c.required_votes),
            ("voting period", f"{c.voting_period_s} s"),
            *((f"member {i + 1}", m.address) for i, m in enumerate(c.members)),
        ]
    )


def proposals(items: Sequence[ProposalPublic], *, title: str | None = None) -> Table:
    return table(
        "id", "kind", "account", "value", "state", "votes (for/against/abstain)", "needs",
        "proposer",
        rows=[
            (p.proposal_id, p.kind, p.account, p.value, state(p.state),
             f"{p.ballot.for_votes}/{p.ballot.against_votes}/{p.ballot.abstain_votes}",
             p.ballot.required, p.proposer)
            for p in items
        ],
        title=title,
    )  # fmt: skip


def proposal(p: ProposalPublic, tx: TransactionPublic | None = None) -> Table:
    rows: list[tuple[str, object]] = [
        ("proposal", p.proposal_id),
        ("kind", p.kind),
        ("account", p.account),
        ("value", p.value),
        ("state", state(p.state)),
        ("proposer", p.proposer),
        ("votes", tally(p.ballot)),
        ("required for votes", f"{p.ballot.required} of {p.ballot.eligible} members"),
        ("voting ends", when(p.ballot.deadline)),
    ]
    return fields(rows + transaction_rows(tx))
