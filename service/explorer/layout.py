"""Where each node and edge of a lineage graph is drawn (pure: no I/O).

A layered drawing, left to right: a version, update or build sits one column right of the
furthest node it comes from (base, then the round's updates, then the aggregate, then its
builds); within a column, nodes are ordered by the mean row of what they come from (fewer
crossings), ties in the order the chain recorded them. Voters sit in a row below, their votes
drawn as curves up to the versions. Coordinates are SVG user units (pixels at 100 %).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from service.domain.lineage import Edge, LineageGraph, Node

NODE_W = 196
NODE_H = 42
COLUMN = 290  # from one column's left edge to the next one's (room for an exclusion's reason)
ROW = 58  # from one row's top to the next one's
MARGIN = 20
MEMBER_GAP = 70  # between the last row of the graph and the voters' row
MEMBER_SPACING = 212
LABEL_CHARS = 26

VOTES = ("vote_for", "vote_against", "vote_abstain")


@dataclass(frozen=True, kw_only=True)
class PlacedNode:
    node: Node
    x: int
    y: int
    w: int
    h: int
    label: str  # clipped to fit the box; the node's title holds all of it
    detail: str


@dataclass(frozen=True, kw_only=True)
class PlacedEdge:
    edge: Edge
    path: str  # an SVG path's d attribute
    label_x: int
    label_y: int


@dataclass(frozen=True, kw_only=True)
class Drawing:
    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]


def clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layout(graph: LineageGraph) -> Drawing:
    ids = [n.id for n in graph.nodes]
    known = set(ids)
    flow = [
        e for e in graph.edges if e.kind not in VOTES and e.source in known and e.target in known
    ]
    columns = _columns([n.id for n in graph.nodes if n.type != "member"], flow)
    rows = _rows(columns, flow, ids)
    tallest = max((len(c) for c in rows), default=0)
    placed: dict[str, PlacedNode] = {}
    by_id = {n.id: n for n in graph.nodes}
    for col, members in enumerate(rows):
        top = MARGIN + (tallest - len(members)) * ROW // 2
        for i, node_id in enumerate(members):
            placed[node_id] = _place(by_id[node_id], MARGIN + col * COLUMN, top + i * ROW)
    voters = [n for n in graph.nodes if n.type == "member"]
    voters_y = MARGIN + tallest * ROW + MEMBER_GAP
    for i, n in enumerate(voters):
        placed[n.id] = _place(n, MARGIN + i * MEMBER_SPACING, voters_y)
    width = max(
        MARGIN * 2 + max(len(rows) - 1, 0) * COLUMN + NODE_W,
        MARGIN * 2 + max(len(voters) - 1, 0) * MEMBER_SPACING + NODE_W,
    )
    height = (voters_y + NODE_H if voters else MARGIN + tallest * ROW) + MARGIN
    edges = [
        _route(e, placed[e.source], placed[e.target])
        for e in graph.edges
        if e.source in placed and e.target in placed
    ]
    return Drawing(
        width=width,
        height=height,
        nodes=[placed[i] for i in ids if i in placed],
        edges=edges,
    )


def _columns(ids: list[str], flow: list[Edge]) -> dict[str, int]:
    """Each node's column: the longest path to it (Kahn's order; a cycle, which the chain
    cannot record, would leave its nodes in column 0)."""
    incoming: dict[str, int] = {i: 0 for i in ids}
    out: dict[str, list[str]] = defaultdict(list)
    for e in flow:
        if e.source in incoming and e.target in incoming:
            incoming[e.target] += 1
            out[e.source].append(e.target)
    column = dict.fromkeys(ids, 0)
    ready = deque(i for i in ids if incoming[i] == 0)
    while ready:
        current = ready.popleft()
        for nxt in out[current]:
            column[nxt] = max(column[nxt], column[current] + 1)
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                ready.append(nxt)
    return column


def _rows(column: dict[str, int], flow: list[Edge], order: list[str]) -> list[list[str]]:
    """The nodes of each column, top to bottom."""
    count = max(column.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(count)]
    for node_id in order:
        if node_id in column:
            rows[column[node_id]].append(node_id)
    sources: dict[str, list[str]] = defaultdict(list)
    for e in flow:
        sources[e.target].append(e.source)
    position: dict[str, float] = {}
    rank = {node_id: i for i, node_id in enumerate(order)}
    for members in rows:

        def key(node_id: str) -> tuple[float, int]:
            known = [position[s] for s in sources[node_id] if s in position]
            return (sum(known) / len(known) if known else -1.0, rank[node_id])

        members.sort(key=key)
        for i, node_id in enumerate(members):
            position[node_id] = i - len(members) / 2
    return rows


def _place(node: Node, x: int, y: int) -> PlacedNode:
    return PlacedNode(
        node=node,
        x=x,
        y=y,
        w=NODE_W,
        h=NODE_H,
        label=clip(node.label),
        detail=clip(node.detail, LABEL_CHARS + 6),
    )


def _route(edge: Edge, a: PlacedNode, b: PlacedNode) -> PlacedEdge:
    if edge.kind in VOTES:  # from the voter's top up to the version's bottom
        x1, y1 = a.x + a.w // 2, a.y
        x2, y2 = b.x + b.w // 2, b.y + b.h
        bend = max(40, (y1 - y2) // 2)
        path = f"M{x1},{y1} C{x1},{y1 - bend} {x2},{y2 + bend} {x2},{y2}"
    else:  # from the source's right side to the target's left side
        x1, y1 = a.x + a.w, a.y + a.h // 2
        x2, y2 = b.x, b.y + b.h // 2
        bend = max(30, (x2 - x1) // 2)
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
    # a label (an exclusion's reason) starts where the edge leaves its source: one edge leaves
    # each update, so labels never overlap
    return PlacedEdge(edge=edge, path=path, label_x=x1 + 6, label_y=y1 - 5)
