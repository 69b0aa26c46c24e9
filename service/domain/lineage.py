"""A model's lineage graph, from its timeline: which version came from which, which updates went
into which aggregate (and which were left out, and why), which builds derive from which version,
and who voted on each.

:func:`lineage_of` is pure: it turns a model's timeline entries (every contract event about the
model, :mod:`service.domain.timeline`) and its versions' current states into nodes and edges;
the explorer (:mod:`service.domain.explorer`) reads both from the chain. Every node and edge
names the transaction that recorded it.

Nodes (``id``: what it is):

- ``version:ID``: a version (``kind`` base / aggregate / accelerated, ``state`` proposed /
  approved / rejected);
- ``update:ROUND:PARTICIPANT``: a participant's update to a round (``state`` included /
  excluded / pending: the round not finalized);
- ``member:ADDRESS``: an account that voted on a version of the model.

Edges (``source -> target``, ``kind``):

- ``parent``: a version -> a base or aggregate version proposed with it as parent;
- ``build``: a version -> an accelerated build of it;
- ``base``: a round's base version -> each update submitted to the round (trained from it);
- ``included`` / ``excluded``: an update -> the aggregate its round was finalized into
  (``excluded`` with the reason the chain records);
- ``vote_for`` / ``vote_against`` / ``vote_abstain``: a voter -> the version it voted on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from service.chain.ledger import Ledger
from service.chain.types import State
from service.domain.reasons import VoteReasonService
from service.domain.timeline import Entry, Position, Timeline
from service.domain.timeline_entries import iso
from service.index.store import IndexFile


@dataclass(frozen=True, kw_only=True)
class Node:
    id: str
    type: str  # version | update | member
    label: str
    kind: str  # version: base | aggregate | accelerated; update: update; member: member
    state: str  # version: proposed | approved | rejected; update: included | excluded | pending
    href: str  # the explorer page that shows it
    transaction_hash: str | None  # the transaction that recorded it (a member: none)
    detail: str = ""  # one line under the label


@dataclass(frozen=True, kw_only=True)
class Edge:
    source: str
    target: str
    kind: str
    transaction_hash: str | None
    label: str = ""  # an exclusion's reason, a vote's time


@dataclass(frozen=True, kw_only=True)
class LineageGraph:
    model_id: int
    model_name: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def version_node_id(version_id: int) -> str:
    return f"version:{version_id}"


def update_node_id(round_id: int, participant: str) -> str:
    return f"update:{round_id}:{participant}"


def member_node_id(account: str) -> str:
    return f"member:{account}"


def short_address(account: str) -> str:
    return f"{account[:6]}…{account[-4:]}"


def model_entries(
    ledger: Ledger,
    model_id: int,
    reasons: VoteReasonService | None = None,
    index: IndexFile | None = None,
) -> list[Entry]:
    """Every entry of the model's timeline, following the pages' cursors (read from the event
    index where it can answer)."""
    timeline = Timeline(ledger, reasons, index=index)
    entries: list[Entry] = []
    cursor: Position | None = None
    while True:
        page = timeline.page(model_id, cursor=cursor, limit=500)
        entries += page.entries
        if page.next_cursor is None:
            return entries
        cursor = page.next_cursor


def lineage_of(
    model_id: int, model_name: str, entries: Iterable[Entry], states: dict[int, State]
) -> LineageGraph:
    """The graph of a model's timeline entries (in block order) and its versions' states now
    (effective: a ballot that ran out reads Rejected)."""
    graph = LineageGraph(model_id=model_id, model_name=model_name)
    nodes: dict[str, Node] = {}
    round_base: dict[int, int] = {}
    round_updates: dict[int, list[tuple[str, str]]] = {}  # round -> (participant, tx) in order
    finalized: dict[int, Entry] = {}
    excluded: dict[tuple[int, str], Entry] = {}
    for e in entries:
        match e.kind:
            case "version_proposed" | "build_proposed":
                assert e.version_id is not None
                vid = e.version_id
                kind = str(e.details["version_kind"])
                state = states.get(vid, State.PROPOSED).name.lower()
                nodes[version_node_id(vid)] = Node(
                    id=version_node_id(vid),
                    type="version",
                    label=f"{model_name}@{e.version_number}",
                    kind=kind,
                    state=state,
                    href=f"/explorer/versions/{vid}",
                    transaction_hash=e.transaction_hash,
                    detail=f"{kind} · {state}",
                )
                parent = e.details.get("parent_id")
                if parent:
                    graph.edges.append(
                        Edge(
                            source=version_node_id(int(parent)),
                            target=version_node_id(vid),
                            kind="build" if kind == "accelerated" else "parent",
                            transaction_hash=e.transaction_hash,
                        )
                    )
            case "vote_cast":
                assert e.version_id is not None and e.actor is not None
                member = member_node_id(e.actor)
                nodes.setdefault(
                    member,
                    Node(
                        id=member,
                        type="member",
                        label=short_address(e.actor),
                        kind="member",
                        state="voter",
                        href=f"/explorer/accounts/{e.actor}",
                        transaction_hash=None,
                        detail="voter",
                    ),
                )
                graph.edges.append(
                    Edge(
                        source=member,
                        target=version_node_id(e.version_id),
                        kind=f"vote_{e.details['support']}",
                        transaction_hash=e.transaction_hash,
                        label=f"{e.details['support']} at {iso(e.timestamp)}",
                    )
                )
            case "round_opened":
                assert e.round_id is not None
                round_base[e.round_id] = int(e.details["base_version_id"])
            case "update_submitted":
                assert e.round_id is not None
                participant = str(e.details["participant"])
                round_updates.setdefault(e.round_id, []).append(
                    (participant, str(e.transaction_hash))
                )
            case "update_excluded":
                assert e.round_id is not None
                excluded[(e.round_id, str(e.details["participant"]))] = e
            case "round_finalized":
                assert e.round_id is not None
                finalized[e.round_id] = e
    for round_id, updates in sorted(round_updates.items()):
        done = finalized.get(round_id)
        for participant, tx in updates:
            node = update_node_id(round_id, participant)
            exclusion = excluded.get((round_id, participant))
            if done is None:
                state, detail = "pending", f"round {round_id} · not finalized"
            elif exclusion is not None:
                reason = str(exclusion.details["reason"])
                state, detail = "excluded", f"round {round_id} · excluded: {reason}"
            else:
                state, detail = "included", f"round {round_id} · included"
            nodes[node] = Node(
                id=node,
                type="update",
                label=f"r{round_id} {short_address(participant)}",
                kind="update",
                state=state,
                href=f"/explorer/rounds/{round_id}",
                transaction_hash=tx,
                detail=detail,
            )
            if round_id in round_base:
                graph.edges.append(
                    Edge(
                        source=version_node_id(round_base[round_id]),
                        target=node,
                        kind="base",
                        transaction_hash=tx,
                    )
                )
            if done is not None and done.version_id is not None:
                graph.edges.append(
                    Edge(
                        source=node,
                        target=version_node_id(done.version_id),
                        kind=state,
                        transaction_hash=done.transaction_hash,
                        label="" if exclusion is None else str(exclusion.details["reason"]),
                    )
                )
    graph.nodes.extend(nodes.values())
    return graph
