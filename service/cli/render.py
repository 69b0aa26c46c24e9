"""Tables of the service's resources (models, versions, votes, aliases, rights, members)."""

from __future__ import annotations

from collections.abc import Sequence

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
    VersionDecisionPublic,
    VersionPublic,
    VotePublic,
)
from service.cli.output import fields, table
from service.timefmt import human_time, utc

ZERO_DIGEST = "0x" + "00" * 32
_STATE_STYLE = {"approved": "green", "rejected": "red", "proposed": "yellow"}


def when(timestamp: int | None) -> str:
    """A block's time, with its zone: ``2026-12-01 20:29:41 UTC``."""
    return "-" if timestamp is None else utc(timestamp)


def until(timestamp: int) -> str:
    """A deadline with how far it is: ``2026-12-04 20:30 UTC (in 2 days)``."""
    return human_time(timestamp)


def label(v: VersionPublic) -> str:
    """``digits-mlp@3``: how a version is named (its id where the service gave no number)."""
    if v.model_name and v.number:
        return f"{v.model_name}@{v.number}"
    return f"version {v.version_id}"


def numbered(number: int | None, version_id: int | None, model: str | None = None) -> str:
    """``digits-mlp@3 (id 7)``, ``@3 (id 7)`` without the model's name, ``-`` for none."""
    if version_id is None:
        return "-"
    if number is None:
        return f"id {version_id}"
    return f"{model or ''}@{number} (id {version_id})"


def period(seconds: int) -> str:
    """``259200 s (3 days)``."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{seconds} s ({count} {unit}{'s' if count != 1 else ''})"
    return f"{seconds} s"


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
        "version", "id", "kind", "state", "parent", "votes (for/against/abstain)", "needs",
        "proposer", "cid",
        rows=[
            (label(v), v.version_id, v.kind, state(v.state),
             numbered(v.parent_number, v.parent_id),
             f"{v.ballot.for_votes}/{v.ballot.against_votes}/{v.ballot.abstain_votes}",
             v.ballot.required, v.proposer, v.artifact_cid)
            for v in items
        ],
        title=title,
    )  # fmt: skip


def voting(v: VersionPublic) -> str:
    """When the vote ends (or ended) and how far that is."""
    if v.state != "proposed":
        return f"closed ({v.state}); the window was until {when(v.ballot.deadline)}"
    return f"open until {until(v.ballot.deadline)}"


def decided(d: VersionDecisionPublic) -> str:
    """``approved at block 812, 2026-12-01 20:31:05 UTC (quorum reached)``; an expired ballot
    nobody recorded: ``rejected: expired at 2026-12-04 20:30:00 UTC (no event yet; the contract's
    rule)``."""
    how = d.how.replace("_", " ")
    if d.block_number is None:
        return f"{d.state}: expired at {when(d.deadline)} (no event yet; the contract's rule)"
    return f"{d.state} at block {d.block_number}, {when(d.timestamp)} ({how})"


def version(
    v: VersionPublic,
    *,
    size: int | None = None,
    tx: TransactionPublic | None = None,
    extra: Sequence[tuple[str, object]] = (),
) -> Table:
    rows: list[tuple[str, object]] = [
        ("version", label(v)),
        ("id", v.version_id),
        ("model", f"{v.model_name} (id {v.model_id})" if v.model_name else v.model_id),
        ("kind", v.kind),
        ("state", state(v.state)),
        ("parent", numbered(v.parent_number, v.parent_id, v.model_name)),
        ("artifact cid", v.artifact_cid),
        ("artifact digest", v.artifact_digest),
        ("metadata digest", digest(v.metadata_digest)),
        ("proposer", v.proposer),
        ("proposed at block", v.proposed_block),
        ("votes", tally(v.ballot)),
        ("required for votes", f"{v.ballot.required} of {v.ballot.eligible} members"),
        ("voting", voting(v)),
        *([("decided", decided(v.decision))] if v.decision else []),
        *extra,
    ]
    if size is not None:
        rows.insert(8, ("artifact size", f"{size} bytes"))
    return fields(rows + transaction_rows(tx))


def votes(items: Sequence[VotePublic], *, title: str | None = None) -> Table:
    return table(
        "voter", "choice", "reason", "block", "time", "transaction",
        rows=[
            (v.voter, v.support, v.reason.reason if v.reason else None, v.block_number,
             when(v.timestamp), v.transaction_hash)
            for v in items
        ],
        title=title,
    )  # fmt: skip


def aliases(
    items: Sequence[AliasPublic], *, title: str | None = None, model: str | None = None
) -> Table:
    return table(
        "alias", "version",
        rows=[
            (a.alias, numbered(a.version_number, a.version_id, model)
             if a.version_id is not None else "- (cleared)")
            for a in items
        ],
        title=title,
    )  # fmt: skip


def alias_moves(
    items: Sequence[AliasMovePublic], *, title: str | None = None, model: str | None = None
) -> Table:
    return table(
        "block", "time", "version", "previous", "moved by", "transaction",
        rows=[
            (m.block_number, when(m.timestamp),
             numbered(m.version_number, m.version_id, model),
             numbered(m.previous_version_number, m.previous_version_id, model), m.by,
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
            ("voting period", period(c.voting_period_s)),
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
        (
            "voting",
            f"open until {until(p.ballot.deadline)}"
            if p.state == "proposed"
            else f"closed ({p.state}); the window was until {when(p.ballot.deadline)}",
        ),
    ]
    return fields(rows + transaction_rows(tx))
