"""Garbage collection of the content store on a real stack: pinned roots nothing on chain
references go once older than the grace period; referenced and young ones stay, and what the
chain references is never removed. Through the use case, the CLI and the service's own task."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.bookkeeping import Bookkeeping
from service.chain.setup import connect_ledger
from service.domain.artifacts import ArtifactIndex
from service.domain.context import Backends
from service.domain.gc import KeepSource, StoreCollector
from service.store.cid import CID, parse_cid
from service.store.embedded import EmbeddedStore
from tests.api.conftest import OWNER, Api, api_on, fresh_artifact, unique_name
from tests.cli.conftest import Cli
from tests.stack import Stack

HOUR = 3600


@pytest.fixture
def collector(stack: Stack) -> Iterator[tuple[StoreCollector, list[Any]]]:
    """The GC use case on the session stack's own chain, store and bookkeeping file, with a
    keep-list the test fills."""
    keep: list[Any] = []
    source: KeepSource = lambda: list(keep)  # noqa: E731
    backends = Backends(stack.settings)
    index = ArtifactIndex(connect_ledger(stack.settings))
    yield (
        StoreCollector(
            backends,
            Bookkeeping(stack.settings.bookkeeping_file),
            referenced=index.referenced_digests,
            keep=source,
        ),
        keep,
    )
    backends.close()


def backdate(api: Api, cid: str | CID, seconds: int) -> None:
    """Record that ``cid`` was pinned ``seconds`` ago (what the service records when it pins)."""
    Bookkeeping(api.stack.settings.bookkeeping_file).note_pinned(str(cid), time.time() - seconds)


def held(api: Api, cid: str) -> bool:
    with EmbeddedStore(api.stack.settings.store_dir) as store:
        return store.has(parse_cid(cid))


def test_old_unreferenced_documents_go_referenced_young_and_kept_ones_stay(
    api: Api, collector: tuple[StoreCollector, list[Any]]
) -> None:
    gc, keep = collector
    old = api.store_metadata({"unreferenced": unique_name()})["cid"]
    young = api.store_metadata({"young": unique_name()})["cid"]
    kept = api.store_metadata({"kept by the caller": unique_name()})["cid"]
    referenced_doc = api.store_metadata({"referenced": unique_name()})
    model_id = api.register(OWNER, metadata_digest=referenced_doc["digest"])["model_id"]
    data = fresh_artifact()
    version = api.propose(model_id, data)
    restricted = api.register(OWNER, restricted=True)
    secret = api.propose(restricted["model_id"])
    for cid in (old, kept, referenced_doc["cid"], version["artifact_cid"], secret["artifact_cid"]):
        backdate(api, cid, 2 * HOUR)
    keep.append(kept)
    pins = api.pins()

    dry = gc.collect(grace_s=HOUR, dry_run=True)

    assert old in {str(r.cid) for r in dry.unpinned}
    assert young in {str(r.cid) for r in dry.young}
    never = {young, kept, referenced_doc["cid"], version["artifact_cid"], secret["artifact_cid"]}
    assert not never & {str(r.cid) for r in dry.unpinned}
    assert api.pins() == pins and held(api, old)  # a dry run changes nothing

    done = gc.collect(grace_s=HOUR)

    assert old in {str(r.cid) for r in done.unpinned}
    assert old not in api.pins() and not held(api, old)
    assert done.blocks_removed >= 1
    assert never <= api.pins()
    assert api.ok(f"/v1/models/{model_id}/metadata")["referenced"]
    r = api.get(f"/v1/versions/{version['version_id']}/artifact")
    assert r.status_code == 200 and r.content == data
    assert held(api, secret["artifact_cid"])


def test_referenced_content_found_unpinned_is_pinned_again_not_swept(
    api: Api, collector: tuple[StoreCollector, list[Any]]
) -> None:
    """A crash between a proposal and its pin leaves a recorded artifact unpinned: the sweep
    spares it and the collection pins it again."""
    gc, _ = collector
    model_id = api.register(OWNER)["model_id"]
    data = fresh_artifact()
    version = api.propose(model_id, data)
    cid = version["artifact_cid"]
    with EmbeddedStore(api.stack.settings.store_dir) as store:
        store.unpin(cid)
    assert cid not in api.pins()

    done = gc.collect(grace_s=HOUR)

    assert cid in {str(c) for c in done.repinned}
    assert cid in api.pins()
    assert api.get(f"/v1/artifacts/{cid}").content == data


def test_store_gc_command_lists_then_collects(api: Api, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    old = api.store_metadata({"cli": unique_name()})["cid"]
    young = api.store_metadata({"cli young": unique_name()})["cid"]
    backdate(api, old, 2 * HOUR)
    cli = Cli(url=api.stack.url, home=tmp_path / "home", runner=CliRunner())
    env = {
        "GOVLEDGER_DATA_DIR": str(api.stack.data_dir),
        "GOVLEDGER_CHAIN_PORT": str(api.stack.chain_port),
    }

    listed = cli("store", "gc", "--grace", "1h", "--dry-run", **env)
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if old in line)
    assert "would be unpinned" in row
    young_row = next(line for line in listed.stdout.splitlines() if young in line)
    assert "kept: within the grace period" in young_row
    assert old in api.pins()

    done = cli("--json", "store", "gc", "--grace", "1h", **env)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert old in report["unpinned"] and young not in report["unpinned"]
    assert report["grace_s"] == HOUR and report["dry_run"] is False
    assert old not in api.pins() and young in api.pins()

    bad = cli("store", "gc", "--grace", "soon", **env)
    assert bad.exit_code == 2 and "--grace takes seconds" in bad.stderr  # bad input


@pytest.fixture
def collecting_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack whose service collects every second, with a grace period of 5 s."""
    stack = Stack(
        data_dir=tmp_path / "stack",
        extra_env={"GOVLEDGER_GC_INTERVAL_S": "1", "GOVLEDGER_GC_GRACE_S": "5"},
    ).start()
    yield stack
    stack.stop()


def test_the_service_collects_periodically(collecting_stack: Stack) -> None:
    with api_on(collecting_stack) as api:
        unreferenced = api.store_metadata({"nobody": unique_name()})["cid"]
        referenced = api.store_metadata({"somebody": unique_name()})
        model_id = api.register(OWNER, metadata_digest=referenced["digest"])["model_id"]
        deadline = time.monotonic() + 60
        while held(api, unreferenced) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not held(api, unreferenced)
        assert unreferenced not in api.pins()
        assert referenced["cid"] in api.pins()
        assert api.ok(f"/v1/models/{model_id}/metadata")["somebody"]


def test_a_rollback_does_not_make_the_collection_forget_a_version(collecting_stack: Stack) -> None:
    """A version proposed after a rollback lands at heights the service had already read once:
    the periodic collection must still see that the chain references its artifact."""
    with api_on(collecting_stack) as api:
        api.wait_ready()
        api.rewind_past_a_read()
        model_id = api.register(OWNER)["model_id"]
        data = fresh_artifact()
        version = api.propose(model_id, data)
        # stored after the version was pinned: once a collection has removed it, one has run
        # with the version's pin past its grace period too
        witness = api.store_metadata({"nobody": unique_name()})["cid"]
        deadline = time.monotonic() + 60
        while held(api, witness) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not held(api, witness)
        assert version["artifact_cid"] in api.pins()
        r = api.get(f"/v1/versions/{version['version_id']}/artifact")
        assert r.status_code == 200, r.text
        assert r.content == data
