"""The lineage graph's drawing (pure): columns by derivation, rows by the sources' rows, voters
below, labels clipped, and every value escaped when rendered."""

from __future__ import annotations

from service.domain.lineage import Edge, LineageGraph, Node
from service.explorer.layout import COLUMN, MARGIN, NODE_H, NODE_W, ROW, clip, layout
from service.explorer.render import render


def node(node_id: str, type_: str = "version", label: str = "m@1") -> Node:
    return Node(
        id=node_id,
        type=type_,
        label=label,
        kind=type_,
        state="approved",
        href=f"/explorer/{node_id}",
        transaction_hash=None,
    )


def edge(source: str, target: str, kind: str) -> Edge:
    return Edge(source=source, target=target, kind=kind, transaction_hash=None)


GRAPH = LineageGraph(
    model_id=1,
    model_name="m",
    nodes=[
        node("version:1"),
        node("update:1:b", "update"),
        node("update:1:a", "update"),
        node("version:2"),
        node("version:3"),
        node("member:x", "member"),
    ],
    edges=[
        edge("version:1", "update:1:b", "base"),
        edge("version:1", "update:1:a", "base"),
        edge("update:1:b", "version:2", "included"),
        edge("update:1:a", "version:2", "excluded"),
        edge("version:1", "version:2", "parent"),
        edge("version:2", "version:3", "build"),
        edge("member:x", "version:2", "vote_for"),
    ],
)


def test_columns_follow_derivation_and_voters_sit_below() -> None:
    drawing = layout(GRAPH)
    at = {p.node.id: (p.x, p.y) for p in drawing.nodes}
    # base in column 0, the updates in 1, the aggregate in 2 (after its updates), the build in 3
    assert at["version:1"][0] == MARGIN
    assert at["update:1:b"][0] == at["update:1:a"][0] == MARGIN + COLUMN
    assert at["version:2"][0] == MARGIN + 2 * COLUMN
    assert at["version:3"][0] == MARGIN + 3 * COLUMN
    # two rows in the tallest column: single nodes centred on them, updates in recorded order
    assert at["update:1:b"][1] == MARGIN and at["update:1:a"][1] == MARGIN + ROW
    assert at["version:1"][1] == at["version:2"][1] == MARGIN + ROW // 2
    assert at["member:x"] == (MARGIN, MARGIN + 2 * ROW + 70)
    assert drawing.width == 2 * MARGIN + 3 * COLUMN + NODE_W
    assert drawing.height == MARGIN + 2 * ROW + 70 + NODE_H + MARGIN


def test_edges_run_from_right_side_to_left_side_and_votes_upwards() -> None:
    drawing = layout(GRAPH)
    paths = {(p.edge.source, p.edge.target): p.path for p in drawing.edges}
    y = MARGIN + ROW // 2 + NODE_H // 2
    assert paths[("version:2", "version:3")] == (
        f"M{MARGIN + 2 * COLUMN + NODE_W},{y} C{MARGIN + 2 * COLUMN + NODE_W + 47},{y} "
        f"{MARGIN + 3 * COLUMN - 47},{y} {MARGIN + 3 * COLUMN},{y}"
    )
    vote = paths[("member:x", "version:2")]
    assert vote.startswith(f"M{MARGIN + NODE_W // 2},{MARGIN + 2 * ROW + 70} ")
    assert vote.endswith(f" {MARGIN + 2 * COLUMN + NODE_W // 2},{MARGIN + ROW // 2 + NODE_H}")


def test_long_labels_are_clipped() -> None:
    assert clip("a" * 26) == "a" * 26
    assert clip("a" * 27) == "a" * 25 + "…"


def test_rendered_graph_escapes_every_value() -> None:
    hostile = '<script>alert(1)</script>"&'
    graph = LineageGraph(model_id=1, model_name=hostile, nodes=[node("version:1", label=hostile)])
    html = render("graph.html", drawing=layout(graph), graph=graph)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&amp;" in html
