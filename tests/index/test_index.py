"""The event index against the real chain: it holds what the chain says after a scripted
history, resumes after being killed mid-way without duplicates or gaps, detects a rollback and
indexes again from before the fork, is rebuilt by ``govledger index rebuild`` to the same rows,
and the lists and timelines the service answers from it are those the chain alone gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from service.api.schemas import ModelPublic
from service.api.timeline_schemas import TimelinePagePublic
from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.cli.main import app as cli_app
from service.config import PROJECT_ROOT
from service.domain import catalog
from service.domain.artifacts import ArtifactIndex
from service.domain.indexed import LedgerIndex
from service.domain.timeline import Position, Timeline
from service.index import follower
from service.index.store import IndexFile
from tests.api.conftest import MEMBER2, MEMBER3, OWNER, READER, Api, api_on, unique_name
from tests.api.test_timeline import Story, story  # noqa: F401 - the fixture
from tests.index.conftest import assert_index_is_the_chain, make_indexer, seed_models
from tests.stack import Stack


def _history(api: Api) -> list[int]:
    """Models with metadata, a pending transfer, a read policy change, rights granted and
    revoked, versions approved and rejected, an alias; returns their ids."""
    first = int(api.register(OWNER)["model_id"])
    second = int(api.register(MEMBER2, restricted=True)["model_id"])
    approved = api.approved_version(first)
    rejected = int(api.propose(first)["version_id"])
    for voter in (MEMBER2, MEMBER3):
        assert api.vote(voter, rejected, "against").status_code == 201
    assert api.move_alias(first, "production", approved).status_code == 200
    assert api.change_rights("grant", first, READER.address, ["read_artifacts"]).status_code == 200
    assert api.change_rights("revoke", first, READER.address, ["read_artifacts"]).status_code == 200
    digest = "0x" + "ab" * 32
    sig = api.signed("SetModelMetadata", OWNER, {"modelId": first, "metadataDigest": digest})
    r = api.put(f"/v1/models/{first}/metadata", json={"metadata_digest": digest, **sig})
    assert r.status_code == 200, r.text
    sig = api.signed(
        "TransferModelOwnership", MEMBER2, {"modelId": second, "newOwner": OWNER.address}
    )
    r = api.put(f"/v1/models/{second}/owner", json={"new_owner": OWNER.address, **sig})
    assert r.status_code == 200, r.text
    sig = api.signed("SetReadPolicy", MEMBER2, {"modelId": second, "restricted": False})
    r = api.put(f"/v1/models/{second}/read-policy", json={"restricted": False, **sig})
    assert r.status_code == 200, r.text
    api.propose(second, actor=MEMBER2)
    return [first, second]


def _service_caught_up(api: Api, timeout: float = 30.0) -> dict[str, Any]:
    """GET /v1/models once the service's own index reaches the latest block."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = api.ok("/v1/models", params={"limit": 500})
        if body["indexed_to_block"] == api.block_number() or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def _public_models(ledger: Ledger, **query: Any) -> dict[str, Any]:
    """What GET /v1/models answers without the index (one chain call per model)."""
    page = catalog.list_models(
        ledger,
        name=query.get("name"),
        owner=query.get("owner"),
        offset=query.get("offset", 0),
        limit=query.get("limit", 100),
        index=None,
    )
    return {
        "items": [ModelPublic.of(m).model_dump(mode="json") for m in page.items],
        "total": page.total,
    }


def _chain_timeline(ledger: Ledger, model_id: int, **query: Any) -> list[dict[str, Any]]:
    """Every entry of the model's timeline read from the chain alone, following the cursors."""
    timeline = Timeline(ledger, index=None)
    entries: list[dict[str, Any]] = []
    cursor: Position | None = None
    while True:
        page = timeline.page(model_id, cursor=cursor, **query)
        entries += TimelinePagePublic.of(page).model_dump(mode="json")["entries"]
        if page.next_cursor is None:
            return entries
        cursor = page.next_cursor


def _api_timeline(api: Api, model_id: int, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = api.ok(
            f"/v1/models/{model_id}/timeline",
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        entries += body["entries"]
        cursor = body["next_cursor"]
        if cursor is None:
            return entries


def test_the_index_holds_what_the_chain_says_and_the_api_answers_as_the_chain_does(
    api: Api, stack: Stack, ledger: Ledger, tmp_path: Path
) -> None:
    models = _history(api)
    seed_models(stack, [unique_name("seeded") for _ in range(5)], versions_each=2)
    indexer = make_indexer(stack, tmp_path / "index.sqlite", page_blocks=7)
    result = indexer.sync()
    assert result.head == api.block_number() and result.pages > 1 and result.events > 0
    assert_index_is_the_chain(indexer.file, ledger, indexer.reader)
    # the derived rows carry the later changes, not the registration's values
    rows = {m.model_id: m for m in indexer.file.models(name=None, owner=None)}
    assert rows[models[0]].metadata_digest == bytes.fromhex("ab" * 32)
    assert rows[models[1]].pending_owner == OWNER.address and not rows[models[1]].restricted

    body = _service_caught_up(api)
    assert body["indexed_to_block"] == api.block_number()
    ready = api.get("/ready").json()
    assert ready["index"].startswith("ok: at block "), ready
    assert {k: body[k] for k in ("items", "total")} == _public_models(ledger, limit=500)
    for query in (
        {"name": "seeded", "limit": 3, "offset": 2},
        {"owner": MEMBER2.address.lower()},
        {"owner": OWNER.address, "name": "model-"},
        {"name": "no-such-model"},
    ):
        answered = api.ok("/v1/models", params=query)
        assert answered["indexed_to_block"] is not None
        assert {k: answered[k] for k in ("items", "total")} == _public_models(ledger, **query)
    for model_id in [*models, int(body["items"][-1]["model_id"])]:
        chain = _chain_timeline(ledger, model_id)
        assert len(chain) > 1
        assert _api_timeline(api, model_id, limit=3) == chain
        kinds = ["vote_cast", "version_rejected"]
        assert _api_timeline(api, model_id, kind=kinds) == _chain_timeline(
            ledger, model_id, kinds=frozenset(kinds)
        )


def test_reads_take_the_blocks_past_the_index_head_from_the_chain(
    api: Api, stack: Stack, ledger: Ledger, tmp_path: Path
) -> None:
    known = int(api.register(OWNER)["model_id"])
    untouched = int(api.register(MEMBER2)["model_id"])  # nothing happens to it past the head
    api.propose(known)
    for _ in range(4):  # the proposal four blocks deep: within the index's head
        ledger.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    indexer = make_indexer(stack, tmp_path / "index.sqlite", confirmations=4)
    indexer.sync()
    # after the head: a new model, a version and a metadata change of an indexed model
    new = int(api.register(MEMBER3)["model_id"])
    version = int(api.propose(known)["version_id"])
    digest = "0x" + "cd" * 32
    sig = api.signed("SetModelMetadata", OWNER, {"modelId": known, "metadataDigest": digest})
    assert api.put(
        f"/v1/models/{known}/metadata", json={"metadata_digest": digest, **sig}
    ).is_success
    indexer.sync()  # four blocks behind: the changes above are still past the head
    head = indexer.file.head()
    assert head is not None and head.block < ledger.block_number()

    page = catalog.list_models(
        ledger, name=None, owner=None, offset=0, limit=500, index=indexer.file
    )
    assert page.indexed_to_block == head.block
    without = catalog.list_models(ledger, name=None, owner=None, offset=0, limit=500)
    assert page.items == without.items and page.total == without.total
    by_id = {m.model_id: m for m in page.items}
    assert new in by_id and by_id[known].metadata_digest == bytes.fromhex("cd" * 32)
    assert by_id[new] != {m.model_id: m for m in indexer.file.models(name=None, owner=None)}.get(
        new
    )

    indexed = Timeline(ledger, index=indexer.file).page(known, limit=500)
    chain = Timeline(ledger, index=None).page(known, limit=500)
    assert indexed.entries == chain.entries
    assert version in {e.version_id for e in indexed.entries}

    # version ids (numbers, version lists, name@N): the index's up to its head, the rest from
    # the chain; the version proposed past the head is there, in its place
    chain_ids = ledger.version_ids_of(known)
    assert chain_ids[-1] == version and len(chain_ids) == 2
    assert LedgerIndex(indexer.file, ledger).version_ids_of(known) == chain_ids
    assert indexer.file.version_ids(known) == chain_ids[:1]  # the file alone lacks the tail

    # the artifact rule's references: the index's logs up to its head, then the chain's from
    # the block after it (not from the deploy block), the same sets as the chain alone gives
    asked: list[int | None] = []
    reads = ledger.events

    def spied(**kwargs: Any) -> Any:
        asked.append(kwargs.get("from_block"))
        return reads(**kwargs)

    ledger.events = spied  # type: ignore[method-assign]
    seeded = ArtifactIndex(ledger, indexer.file)
    plain = ArtifactIndex(ledger, None)
    assert seeded.referenced_digests() == plain.referenced_digests()
    assert seeded.artifact_digests() == plain.artifact_digests()
    for digest in plain.referenced_digests():
        assert seeded.models_for(digest) == plain.models_for(digest)
    assert head.block + 1 in asked and ledger.deployment.deploy_block in asked

    # a model the index lacks though the contract has it (its registration missing from the
    # chain's history, as a local anvil restored from its state dump after a SIGKILL can leave
    # it): read from the contract, so the list stays the contract's
    assert untouched in indexer.file.model_ids()
    with indexer.file.transaction() as conn:
        conn.execute("DELETE FROM models WHERE model_id = ?", (untouched,))
    lacking = catalog.list_models(
        ledger, name=None, owner=None, offset=0, limit=500, index=indexer.file
    )
    assert lacking.indexed_to_block == head.block
    assert lacking.items == without.items and lacking.total == without.total

    # an index of nothing yet (or far behind) is not used: the chain answers
    empty = IndexFile(tmp_path / "empty.sqlite")
    fallback = catalog.list_models(ledger, name=None, owner=None, offset=0, limit=500, index=empty)
    assert fallback.indexed_to_block is None and fallback.items == without.items
    assert LedgerIndex(empty, ledger).version_ids_of(known) is None


_KILLABLE = """
import sys, time
from pathlib import Path
from service.config import Settings
from service.index.opening import standalone_indexer

indexer = standalone_indexer(Settings(), file=Path(sys.argv[1]))
indexer.reader.page_blocks = 1
while True:
    result = indexer.sync(max_pages=1)
    print(result.head, flush=True)
    time.sleep(0.3)
"""


def test_an_indexer_killed_mid_way_resumes_without_duplicates_or_gaps(
    api: Api, stack: Stack, ledger: Ledger, tmp_path: Path
) -> None:
    seed_models(stack, [unique_name("resume") for _ in range(6)], versions_each=6)
    path = tmp_path / "index.sqlite"
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, str(path)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **stack.env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        heads = [int(process.stdout.readline()) for _ in range(5)]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert heads == sorted(heads) and heads[-1] > heads[0]
    killed_at = IndexFile(path).head()
    assert killed_at is not None and heads[-1] <= killed_at.block < api.block_number()

    indexer = make_indexer(stack, path, page_blocks=1)
    result = indexer.sync(max_pages=2)  # stopped after two pages: resumes from there too
    assert result.pages == 2 and result.head < api.block_number()
    assert indexer.sync().head == api.block_number()
    assert_index_is_the_chain(indexer.file, ledger, indexer.reader)


def test_a_rollback_is_detected_by_block_hash_and_indexed_again(
    private_stack: Stack, tmp_path: Path
) -> None:
    with api_on(private_stack) as api:
        ledger = connect_ledger(private_stack.settings)
        seed_models(private_stack, ["kept"], versions_each=1)
        snapshot = api.rpc("evm_snapshot")
        fork = api.block_number()
        seed_models(private_stack, ["lost-a", "lost-b"], versions_each=2)
        indexer = make_indexer(private_stack, tmp_path / "index.sqlite", page_blocks=2)
        indexer.sync()
        assert {m.name for m in indexer.file.models(name=None, owner=None)} == {
            "kept",
            "lost-a",
            "lost-b",
        }
        before = _service_caught_up(api)
        assert {m["name"] for m in before["items"]} == {"kept", "lost-a", "lost-b"}

        assert api.rpc("evm_revert", snapshot) is True
        seed_models(private_stack, ["after-fork"], versions_each=3)
        for _ in range(8):  # the same heights as the lost blocks, other hashes
            api.rpc("evm_mine")

        result = indexer.sync()
        assert result.rolled_back_to is not None and result.rolled_back_to <= fork
        assert_index_is_the_chain(indexer.file, ledger, indexer.reader)
        assert [m.name for m in indexer.file.models(name=None, owner=None)] == [
            "kept",
            "after-fork",
        ]
        assert indexer.file.version_ids(2) == ledger.version_ids_of(2)
        after = _service_caught_up(api)
        assert after["indexed_to_block"] == api.block_number()
        assert [m["name"] for m in after["items"]] == ["kept", "after-fork"]
        assert _api_timeline(api, 2) == _chain_timeline(ledger, 2)


def test_the_rebuild_command_gives_the_rows_of_incremental_indexing(
    api: Api, stack: Stack, ledger: Ledger, tmp_path: Path
) -> None:
    seed_models(stack, [unique_name("rebuild") for _ in range(3)], versions_each=2)
    incremental = make_indexer(stack, tmp_path / "index.sqlite", page_blocks=4)
    while incremental.sync(max_pages=3).pages:
        pass
    runner = CliRunner()
    result = runner.invoke(cli_app, ["index", "rebuild", "--json"], env=stack.env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["indexed_to_block"] == report["latest_block"] == api.block_number()
    assert report["events"] == len(incremental.file.all_logs()) > 0

    rebuilt = IndexFile(stack.settings.index_file)
    assert rebuilt.all_logs() == incremental.file.all_logs()
    for table in ("models", "versions", "rounds"):
        assert rebuilt.table(table) == incremental.file.table(table), table
    assert_index_is_the_chain(rebuilt, ledger, incremental.reader)

    status = runner.invoke(cli_app, ["index", "status", "--json"], env=stack.env)
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    assert shown["events"] == report["events"] and shown["models"] == ledger.model_count()


def test_the_fast_decoding_gives_what_web3_gives_for_every_log(
    api: Api, stack: Stack, ledger: Ledger
) -> None:
    _history(api)
    reader = ledger.history
    logs = reader.w3.eth.get_logs(
        {
            "address": [c.address for c in reader.contracts.values()],
            "fromBlock": reader.start_block,
            "toBlock": "latest",
        }
    )
    names = set()
    for entry in logs:
        fast = reader.decode(entry, timestamp=7)
        slow = reader._decode(entry, with_timestamps=False)
        assert fast.args == slow.args and type(fast.args) is dict, (fast, slow)
        assert (fast.name, fast.block_number, fast.log_index, fast.transaction_hash) == (
            slow.name,
            slow.block_number,
            slow.log_index,
            slow.transaction_hash,
        )
        assert fast.block_timestamp == 7
        names.add(fast.name)
    assert {"ModelRegistered", "VersionProposed", "VoteCast", "RightsRevoked"} <= names


def test_the_timeline_of_a_model_with_rounds_a_build_and_expired_ballots_is_the_chains(
    api: Api,
    ledger: Ledger,
    story: Story,  # noqa: F811 - the fixture imported above
) -> None:
    """The timeline test's model (a finalized, a robust and a cancelled round, a build, expired
    ballots, votes with reasons) through the service's index and from the chain alone (the
    in-process reading has no bookkeeping, so votes' reasons are left out of the comparison)."""
    assert _service_caught_up(api)["indexed_to_block"] == api.block_number()
    from_index = _api_timeline(api, story.model_id, limit=7)
    kinds = {e["kind"] for e in from_index}
    assert {"round_finalized", "round_cancelled", "update_excluded", "ballot_expired"} <= kinds
    assert {"build_proposed", "vote_cast", "alias_moved"} <= kinds
    for entry in from_index:  # votes' reasons come from the service's bookkeeping
        if entry["kind"] == "vote_cast":
            entry["details"].pop("reason", None)
            entry["details"].pop("reason_cid", None)
    assert from_index == _chain_timeline(ledger, story.model_id, limit=500)


def test_pages_shrink_when_the_node_refuses_a_range_and_the_index_stays_exact(
    api: Api, stack: Stack, ledger: Ledger, tmp_path: Path, monkeypatch: Any
) -> None:
    """A node that limits eth_getLogs to two blocks per query (as public endpoints limit
    ranges), played by wrapping the real node's answer; and pages that bring more logs than
    ``MAX_PAGE_LOGS`` halve the next one."""
    seed_models(stack, [unique_name("dense") for _ in range(4)], versions_each=2)
    indexer = make_indexer(stack, tmp_path / "index.sqlite")
    provider = indexer.w3.provider
    real = provider.make_request
    asked: list[int] = []
    limit = [True]  # web3 keeps the request function it built: turned off, not taken back

    def limited(method: str, params: Any) -> Any:
        if method == "eth_getLogs" and limit[0]:
            asked.append(int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1)
            if asked[-1] > 2:  # a JSON-RPC error answer, as such nodes send it
                error = {"code": -32005, "message": "query exceeds max block range 2"}
                return {"jsonrpc": "2.0", "id": 1, "error": error}
        return real(method, params)  # type: ignore[arg-type]

    monkeypatch.setattr(provider, "make_request", limited)
    result = indexer.sync()
    assert result.head == api.block_number() and result.pages > 1
    assert max(asked) > 2 and asked[-1] <= 2
    limit[0] = False
    assert_index_is_the_chain(indexer.file, ledger, indexer.reader)

    monkeypatch.setattr(follower, "MAX_PAGE_LOGS", 1)
    seed_models(stack, [unique_name("dense") for _ in range(4)], versions_each=2)
    dense = make_indexer(stack, tmp_path / "dense.sqlite", page_blocks=4)
    first = dense.sync(max_pages=1)
    assert first.pages == 1 and dense._span == 2  # the next page has half the blocks
    dense.sync()
    assert_index_is_the_chain(dense.file, ledger, dense.reader)
