"""The lineage explorer in a real headless Chromium against the session's real stack: the pages
render, the graph's nodes and edges are the ones the chain records (computed here from the
contracts' views, not from the explorer's code or the timeline it draws from), clicking a node
goes to its page, a transaction link shows that transaction's events, a restricted model's
artifact stays behind sign-in, and markup in a vote's reason stays text. The run writes a
screenshot of the graph to build/explorer/lineage.png."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from service.chain.ledger import Ledger
from service.chain.types import VersionKind
from service.config import PROJECT_ROOT
from tests.explorer.conftest import REASON, SECRET, Explored
from tests.stack import Stack

SCREENSHOT = PROJECT_ROOT / "build" / "explorer" / "lineage.png"

Nodes = set[tuple[str, str, str]]
Edges = set[tuple[str, str, str]]


def chain_graph(ledger: Ledger, model_id: int, accounts: list[LocalAccount]) -> tuple[Nodes, Edges]:
    """The lineage the chain records, from the contracts' views: each version's parent and kind
    (``version``), each account's vote (``voteOf``), each round's base, submitters and aggregate
    (``round``, ``submitters``) and the exclusions its finalization recorded."""
    nodes: Nodes = set()
    edges: Edges = set()
    for vid in range(1, ledger.version_count() + 1):
        v = ledger.version(vid)
        if v.model_id != model_id:
            continue
        nodes.add((f"version:{vid}", v.kind.name.lower(), v.state.name.lower()))
        if v.parent_id:
            kind = "build" if v.kind is VersionKind.ACCELERATED else "parent"
            edges.add((f"version:{v.parent_id}", f"version:{vid}", kind))
        for a in accounts:
            support = ledger.vote_of(vid, a.address)
            if support is not None:
                nodes.add((f"member:{a.address}", "member", "voter"))
                edges.add((f"member:{a.address}", f"version:{vid}", f"vote_{support.name.lower()}"))
    for rid in range(1, ledger.round_count() + 1):
        r = ledger.round(rid)
        if r.model_id != model_id:
            continue
        excluded = ledger.exclusions(rid)
        for participant in ledger.submitters(rid):
            node = f"update:{rid}:{participant}"
            if r.aggregate_version_id is None:
                state = "pending"
            else:
                state = "excluded" if participant in excluded else "included"
                edges.add((node, f"version:{r.aggregate_version_id}", state))
            nodes.add((node, "update", state))
            edges.add((f"version:{r.base_version_id}", node, "base"))
    return nodes, edges


def drawn_graph(page: Any) -> tuple[Nodes, Edges]:
    nodes = page.locator("svg.lineage [data-node]").evaluate_all(
        "els => els.map(e => [e.dataset.node, e.dataset.kind, e.dataset.state])"
    )
    edges = page.locator("svg.lineage [data-edge]").evaluate_all(
        "els => els.map(e => [e.dataset.source, e.dataset.target, e.dataset.edge])"
    )
    return {tuple(n) for n in nodes}, {tuple(e) for e in edges}  # type: ignore[misc]


def test_models_page_lists_both_models(page: Any, stack: Stack, explored: Explored) -> None:
    # models come in id order, 100 to a page: the page that starts with the first of the two
    first = min(explored.model_id, explored.restricted_id)
    total = httpx.get(f"{stack.url}/v1/models", params={"limit": 1}).json()["total"]
    response = page.goto(f"{stack.url}/explorer?offset={first - 1}")
    assert response.status == 200
    assert "script-src" not in response.headers["content-security-policy"]  # none at all
    assert "default-src 'none'" in response.headers["content-security-policy"]
    names = page.locator("table.models a.model").all_inner_texts()
    assert explored.model_name in names and explored.restricted_name in names
    assert names[0] == httpx.get(f"{stack.url}/v1/models/{first}").json()["name"]
    shown = min(total - (first - 1), 100)
    assert len(names) == shown
    paging = page.locator("p.paging").inner_text()
    assert paging.startswith(f"models {first} to {first - 1 + shown} of {total}"), paging
    if first > 1:
        previous = page.locator("a.previous").get_attribute("href")
        assert previous == f"/explorer?offset={max(first - 101, 0)}"
    assert (page.locator("a.next").count() == 1) == (first - 1 + shown < total)
    assert httpx.get(f"{stack.url}/explorer?offset=-1").status_code == 422
    page.click(f"text={explored.model_name}")
    assert page.url == f"{stack.url}/explorer/models/{explored.model_id}"
    assert page.locator("h1").inner_text() == f"Model {explored.model_name}"


def test_graph_is_what_the_chain_records(
    page: Any,
    stack: Stack,
    explored: Explored,
    ledger: Ledger,
    accounts: list[LocalAccount],
    capsys: pytest.CaptureFixture[str],
) -> None:
    page.goto(f"{stack.url}/explorer/models/{explored.model_id}")
    nodes, edges = drawn_graph(page)
    expected_nodes, expected_edges = chain_graph(ledger, explored.model_id, accounts)
    assert nodes == expected_nodes
    assert edges == expected_edges
    # all the scenario made is there: two updates excluded, one pending, a build, a vote against
    states = [state for _, kind, state in nodes if kind == "update"]
    assert sorted(states) == ["excluded", "excluded", "included", "pending"]
    assert (f"version:{explored.aggregate}", f"version:{explored.build}", "build") in edges
    assert any(kind == "vote_against" for *_, kind in edges)
    excluded_labels = page.locator("svg.lineage g.edge.excluded text").all_text_contents()
    assert excluded_labels == ["not_selected"] * 2

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("figure.lineage").screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nthe lineage graph's screenshot: {SCREENSHOT}")


def test_clicking_nodes_goes_to_their_pages(page: Any, stack: Stack, explored: Explored) -> None:
    page.goto(f"{stack.url}/explorer/models/{explored.model_id}")
    page.click(f'svg.lineage [data-node="version:{explored.aggregate}"]')
    page.wait_for_url(f"{stack.url}/explorer/versions/{explored.aggregate}")
    assert page.locator("h1").inner_text() == f"Version {explored.model_name}@2"
    assert page.locator("dd.kind").inner_text() == "aggregate"
    assert page.locator("dd.state").inner_text() == "approved"

    page.goto(f"{stack.url}/explorer/models/{explored.model_id}")
    update = page.locator(f'svg.lineage [data-node^="update:{explored.round_id}:"]').first
    update.click()
    page.wait_for_url(f"{stack.url}/explorer/rounds/{explored.round_id}")
    outcomes = page.locator("table.updates td.outcome").all_inner_texts()
    assert sorted(outcomes) == ["excluded: not_selected", "excluded: not_selected", "included"]

    page.goto(f"{stack.url}/explorer/models/{explored.model_id}")
    member = page.locator('svg.lineage [data-node^="member:"]').first
    address = member.get_attribute("data-node").removeprefix("member:")
    member.click()
    page.wait_for_url(f"{stack.url}/explorer/accounts/{address}")
    assert "A member of the consortium now." in page.content()


def test_every_node_names_its_transaction(page: Any, stack: Stack, explored: Explored) -> None:
    """A version's node names the transaction that proposed it, and that transaction's page
    shows the VersionProposed event of that version; the version page links the same one."""
    page.goto(f"{stack.url}/explorer/models/{explored.model_id}")
    node = page.locator(f'svg.lineage [data-node="version:{explored.build}"]')
    tx = node.get_attribute("data-transaction")
    assert tx and tx.startswith("0x") and len(tx) == 66
    for n in page.locator("svg.lineage [data-type=version], svg.lineage [data-type=update]").all():
        assert len(n.get_attribute("data-transaction") or "") == 66

    page.goto(f"{stack.url}/explorer/versions/{explored.build}")
    page.click(f'dd a.tx[href="/explorer/tx/{tx}"]')
    page.wait_for_url(f"{stack.url}/explorer/tx/{tx}")
    events = page.locator("section.event h3").all_inner_texts()
    assert any(e.endswith("VersionProposed") for e in events)
    proposed = page.locator("section.event", has_text="VersionProposed")
    rows = dict(
        zip(
            proposed.locator("th").all_inner_texts(),
            proposed.locator("td.value").all_inner_texts(),
            strict=True,
        )
    )
    assert rows["versionId"] == str(explored.build)
    assert rows["parentId"] == str(explored.aggregate)
    assert rows["kind"] == "accelerated (2)"
    proposed.locator(f'td.value a[href="/explorer/versions/{explored.aggregate}"]').click()
    page.wait_for_url(f"{stack.url}/explorer/versions/{explored.aggregate}")


def test_artifacts_open_and_restricted(page: Any, stack: Stack, explored: Explored) -> None:
    """The open model's artifact link gives its bytes; the restricted model's gives a 401
    without a session, and none of its restricted content is on any page."""
    page.goto(f"{stack.url}/explorer/versions/{explored.base}")
    href = page.locator("dd a.artifact").get_attribute("href")
    got = page.request.get(f"{stack.url}{href}")
    assert got.status == 200 and got.body() == explored.open_bytes

    for path in (
        f"/explorer/versions/{explored.restricted_version}",
        f"/explorer/models/{explored.restricted_id}",
    ):
        response = page.goto(f"{stack.url}{path}")
        assert response.status == 200
        assert SECRET not in page.content()
        # no link of the page gives the restricted bytes or document to a browser without a session
        for link in page.locator("a[href^='/v1/']").all():
            got = page.request.get(f"{stack.url}{link.get_attribute('href')}")
            assert got.status in (401, 404), (link.get_attribute("href"), got.status)
            assert explored.restricted_bytes not in got.body() and SECRET.encode() not in got.body()
    page.goto(f"{stack.url}/explorer/versions/{explored.restricted_version}")
    href = page.locator("dd a.artifact").get_attribute("href")
    assert href == f"/v1/versions/{explored.restricted_version}/artifact"
    refused = page.request.get(f"{stack.url}{href}")
    assert refused.status == 401
    assert explored.restricted_bytes not in refused.body()
    document = page.locator("dd a", has_text="document").get_attribute("href")
    refused = page.request.get(f"{stack.url}{document}")
    assert refused.status == 401 and SECRET.encode() not in refused.body()


def test_markup_in_a_reason_stays_text(page: Any, stack: Stack, explored: Explored) -> None:
    page.goto(f"{stack.url}/explorer/versions/{explored.base}")
    assert page.locator("table.votes q.reason").inner_text() == REASON
    assert page.locator("#injected").count() == 0


def test_pages_render_and_errors_say_what(stack: Stack, explored: Explored) -> None:
    """Every page answers HTML under the policy; an unknown id is a 404 page saying so."""
    for path in (
        "/explorer",
        f"/explorer/models/{explored.model_id}",
        f"/explorer/versions/{explored.pending}",
        f"/explorer/rounds/{explored.open_round}",
    ):
        response = httpx.get(f"{stack.url}{path}", timeout=30)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    missing = httpx.get(f"{stack.url}/explorer/versions/999999", timeout=30)
    assert missing.status_code == 404
    assert "999999" in missing.text
    unknown_tx = httpx.get(f"{stack.url}/explorer/tx/0x{'ab' * 32}", timeout=30)
    assert unknown_tx.status_code == 404
    css = httpx.get(f"{stack.url}/explorer/static/explorer.css", timeout=30)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert not any(
        p.startswith("/explorer") for p in httpx.get(f"{stack.url}/openapi.json").json()["paths"]
    )
