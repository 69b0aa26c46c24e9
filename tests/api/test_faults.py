"""Faults on a real stack: the chain killed with SIGKILL during a burst of signed writes, the
service killed with SIGKILL during uploads, the chain frozen with SIGSTOP. What the service
acknowledged is never lost or doubled, writes come back without restarting the service, and
nothing is left behind in the store.

anvil writes its state file once a second, so a SIGKILL loses the blocks of the last fraction
of a second: acknowledged writes among them come back only through the journal. Each test
prints what it measured (``pytest -s``); docs/ARCHITECTURE.md quotes a longer run.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from service.chain.accounts import dev_account
from service.chain.setup import connect_ledger, local_chain
from service.chain.types import ChangeKind
from service.store.embedded import EmbeddedStore
from tests.api.conftest import (
    FOUNDERS,
    OWNER,
    ZERO32,
    Api,
    api_on,
    cid_of,
    digest_of,
    fresh_artifact,
    unique_name,
)
from tests.chain.helpers import pass_change
from tests.stack import Stack

pytestmark = pytest.mark.slow

WRITERS = [*FOUNDERS, *(dev_account(i) for i in range(4, 9))]  # 8 members once set up
KILLS = 3


@pytest.fixture
def fault_stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(
        data_dir=tmp_path / "stack",
        extra_env={
            "GOVLEDGER_JOURNAL_CHECK_INTERVAL_S": "0.5",
            "GOVLEDGER_RECEIPT_TIMEOUT_S": "5",
        },
    ).start()
    yield s
    s.stop()


def recovered(api: Api) -> dict[str, float]:
    """The journal's recovery counters from /metrics."""
    text = api.get("/metrics").text
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'govledger_journal_recovered_total\{outcome="(\w+)"\} (\S+)', text)
    }


@dataclass
class Tally:
    acknowledged: dict[str, float] = field(default_factory=dict)  # what -> when (monotonic)
    pending: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, answer: httpx.Response | None) -> None:
        """Acknowledged (2xx), pending (never answered for good) or refused."""
        with self.lock:
            if answer is None:
                self.pending.add(what)
            elif answer.status_code < 300:
                self.acknowledged[what] = time.monotonic()
            else:
                self.refused.append(f"{answer.status_code} {answer.text[:200]}")


def settle(send: Any, stop: threading.Event, grace_s: float = 60.0) -> httpx.Response | None:
    """Send the same request until it is answered for good (2xx or a 4xx other than 409);
    None if the stop came and the grace period passed first."""
    give_up = None
    while True:
        if stop.is_set() and give_up is None:
            give_up = time.monotonic() + grace_s
        if give_up is not None and time.monotonic() > give_up:
            return None
        try:
            r: httpx.Response = send()
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if r.status_code < 300 or (400 <= r.status_code < 500 and r.status_code != 409):
            return r
        time.sleep(0.1)


def test_killing_the_chain_during_a_burst_loses_no_acknowledged_write(
    fault_stack: Stack,
) -> None:
    stack = fault_stack
    ledger = connect_ledger(stack.settings)
    for i, account in enumerate(WRITERS[3:]):  # five more members: eight writers, eight actors
        voters = WRITERS[: 3 + i]
        pass_change(ledger, voters, ChangeKind.ADD_MEMBER, account=account.address)
    tally, stop = Tally(), threading.Event()

    def writer(account: LocalAccount) -> None:
        with api_on(stack) as api:
            while not stop.is_set():
                name = unique_name("burst")
                try:
                    sig = api.signed(
                        "RegisterModel",
                        account,
                        {"name": name, "metadataDigest": ZERO32, "restricted": False},
                    )
                except (AssertionError, httpx.HTTPError):  # prepare answered 503: the outage
                    time.sleep(0.2)
                    continue
                body = {"name": name, "restricted": False, "metadata_digest": ZERO32, **sig}
                tally.record(name, settle(lambda b=body: api.http.post("/v1/models", json=b), stop))

    threads = [threading.Thread(target=writer, args=(a,)) for a in WRITERS]
    for t in threads:
        t.start()
    restarts = []
    try:
        for _ in range(KILLS):
            time.sleep(2.5)
            info = local_chain(stack.settings).info()
            assert info is not None
            os.kill(info.pid, signal.SIGKILL)
            time.sleep(0.5)
            stack.start_chain()
            restarts.append(time.monotonic())
        time.sleep(2.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)

    with api_on(stack) as api:
        api.wait_ready(timeout=90)
        missing = [
            n for n in tally.acknowledged if api.get(f"/v1/models/by-name/{n}").status_code != 200
        ]
        counts = recovered(api)
        total = api.ok("/v1/models", params={"limit": 1})["total"]
        after_last = sum(1 for t in tally.acknowledged.values() if t > restarts[-1])
        print(
            f"\n{len(tally.acknowledged)} writes acknowledged by 8 writers across {KILLS} SIGKILLs "
            f"of anvil; {len(missing)} missing afterwards; journal: {counts}; "
            f"{after_last} acknowledged after the last restart; {total} models on chain; "
            f"refused: {tally.refused[:3]}"
        )
        assert missing == []
        assert tally.refused == []
        assert after_last > 0  # writes work again without restarting the service
        assert counts.get("rolled_back", 0) > 0  # the kills did take acknowledged writes away
        # nothing doubled: each name is registered once (names are unique on chain), and every
        # model on chain is one this test asked for
        assert total == len(tally.acknowledged) + len(
            [n for n in tally.pending if api.get(f"/v1/models/by-name/{n}").status_code == 200]
        )


def signed_upload(api: Api, model_id: int, data: bytes, actor: LocalAccount) -> Any:
    """A function that sends one signed upload of ``data``, the same each time it is called."""
    sig = api.signed(
        "ProposeVersion",
        actor,
        {
            "modelId": model_id,
            "parentId": 0,
            "kind": 0,
            "artifactDigest": digest_of(data),
            "metadataDigest": ZERO32,
        },
    )
    params = {"artifact_format": "safetensors", "artifact_cid": str(cid_of(data)), **sig}

    def send() -> httpx.Response:
        return api.post_bytes(f"/v1/models/{model_id}/versions", params, data)

    return send


def test_killing_the_service_during_uploads_loses_nothing_and_leaves_no_orphan(
    fault_stack: Stack,
) -> None:
    stack = fault_stack
    uploaders = [dev_account(i) for i in range(4, 8)]
    with api_on(stack) as api:
        model_id = int(api.register(OWNER)["model_id"])
        for account in uploaders:
            r = api.change_rights("grant", model_id, account.address, ["maintain"])
            assert r.status_code == 200, r.text
    tally, stop = Tally(), threading.Event()

    def uploader(account: LocalAccount) -> None:
        with api_on(stack) as api:
            while not stop.is_set():
                data = fresh_artifact((500, 500))  # 1 MB: four chunks
                try:  # signed once, then the identical request until it is answered
                    request = signed_upload(api, model_id, data, account)
                except (AssertionError, httpx.HTTPError):  # no /v1/actions/prepare: it is down
                    time.sleep(0.2)
                    continue
                tally.record(digest_of(data), settle(request, stop))

    threads = [threading.Thread(target=uploader, args=(a,)) for a in uploaders]
    for t in threads:
        t.start()
    try:
        for _ in range(KILLS):
            time.sleep(2.0)
            assert stack._service is not None
            stack._service.send_signal(signal.SIGKILL)
            stack._service.wait()
            stack._service = None
            stack.start_service()
        time.sleep(2.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)

    with api_on(stack) as api:
        api.wait_ready(timeout=90)
        versions = api.ok(f"/v1/models/{model_id}/versions", params={"limit": 500})
        digests = [v["artifact_digest"] for v in versions["items"]]
        missing = [d for d in tally.acknowledged if d not in digests]
        doubled = {d for d in digests if digests.count(d) > 1}
        on_chain = {v["artifact_cid"] for v in versions["items"]}
        store = EmbeddedStore(stack.settings.store_dir)
        deadline = time.monotonic() + 30
        while {str(c) for c in store.pins()} != on_chain and time.monotonic() < deadline:
            time.sleep(0.5)  # the start-up pass may still be releasing
        pins = {str(c) for c in store.pins()}
        leftovers = list((stack.settings.store_dir / "tmp").iterdir())
        journal = re.findall(
            r'govledger_journal_entries\{status="(\w+)"\} (\S+)', api.get("/metrics").text
        )
        print(
            f"\n{len(tally.acknowledged)} uploads acknowledged across {KILLS} SIGKILLs of the "
            f"service; {len(versions['items'])} versions on chain, {len(missing)} acknowledged "
            f"missing, {len(doubled)} doubled; pins {len(pins)} vs {len(on_chain)} on chain; "
            f"{len(leftovers)} temp files; journal entries {dict(journal)}; "
            f"refused: {tally.refused[:3]}"
        )
        assert missing == []
        assert doubled == set()
        assert tally.refused == []
        assert pins == on_chain  # no orphan pin, nothing recorded left unpinned
        assert leftovers == []
        assert store.gc() == 0  # every block is reachable from a pin: the start-up gc ran
        for item in versions["items"][:3]:  # and what is recorded downloads, verified
            r = api.get(f"/v1/versions/{item['version_id']}/artifact")
            assert r.status_code == 200
            assert str(cid_of(r.content)) == item["artifact_cid"]


def test_a_frozen_chain_is_reported_within_seconds_and_recovers(fault_stack: Stack) -> None:
    """anvil stopped with SIGSTOP answers nothing: /ready and reads answer 503 within the
    5-second bound of a chain call, and all is well after SIGCONT. The client's timeout of
    15 s bounds the hang (a service waiting on the node unbounded, as before: 152 s, fails the
    test); it leaves room for a busy machine, and is no figure of how fast the answer is."""
    stack = fault_stack
    with httpx.Client(base_url=stack.url, timeout=15) as http:
        model = http.get("/v1/models", params={"limit": 1})
        assert model.status_code == 200
        info = local_chain(stack.settings).info()
        assert info is not None
        os.kill(info.pid, signal.SIGSTOP)
        try:
            ready = http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["chain"] != "ok"
            assert "retry-after" in ready.headers
            r = http.get("/v1/models")
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        finally:
            os.kill(info.pid, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while http.get("/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert http.get("/v1/models", params={"limit": 1}).status_code == 200


def test_a_service_started_while_the_chain_is_down_becomes_ready_when_it_is_back(
    fault_stack: Stack,
) -> None:
    """The journal's check against the chain at start meets a chain that is down: the keeper
    repeats it once the chain is back (before, /ready said 'not checked since start' for ever
    unless a write came)."""
    stack = fault_stack
    stack.stop_service()
    stack.stop_chain()
    stack.start_service()
    with api_on(stack) as api:
        ready = api.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["chain"] != "ok"
        stack.start_chain()
        assert api.wait_ready(timeout=30)["journal"] == "ok"


def test_killing_the_service_during_update_submissions_records_each_once(
    fault_stack: Stack,
) -> None:
    """Federated updates go through the same journal: participants submit to a round while the
    service is SIGKILLed twice; every acknowledged update is recorded once, every retry of an
    interrupted one ends recorded or refused for a reason, and the store holds no orphan."""
    from eth_account import Account

    from tests.api.test_rounds import file_of, open_round, scene, tensors

    stack = fault_stack
    participants = [Account.create() for _ in range(40)]
    with api_on(stack) as api:
        s = scene(api, right=False)
        for p in participants:
            r = api.change_rights("grant", s.model_id, p.address, ["submit_updates"])
            assert r.status_code == 200, r.text
        round_ = open_round(api, s, min_updates=1, max_updates=len(participants), max_norm=10.0)
    tally, stop = Tally(), threading.Event()
    queue = list(participants)
    lock = threading.Lock()

    def submitter() -> None:
        with api_on(stack) as api:
            while True:
                with lock:
                    if not queue:
                        return
                    p = queue.pop()
                data = file_of(tensors())
                sig: dict[str, Any] | None = None
                while sig is None:
                    try:
                        sig = api.signed(
                            "SubmitUpdate",
                            p,
                            {"roundId": round_["round_id"], "baseDigest": round_["base_digest"],
                             "updateDigest": digest_of(data), "sampleCount": 10},
                        )  # fmt: skip
                    except (AssertionError, httpx.HTTPError):
                        time.sleep(0.2)
                params = {"update_cid": str(cid_of(data)), "sample_count": 10, **sig}

                def send(params: dict[str, Any] = params, data: bytes = data) -> httpx.Response:
                    return api.http.post(
                        f"/v1/rounds/{round_['round_id']}/updates",
                        params=params,
                        content=data,
                        headers={"content-type": "application/octet-stream"},
                    )

                tally.record(p.address, settle(send, stop))

    threads = [threading.Thread(target=submitter) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            time.sleep(1.0)
            assert stack._service is not None
            stack._service.send_signal(signal.SIGKILL)
            stack._service.wait()
            stack._service = None
            stack.start_service()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert queue == []  # every participant's update was under way before the stop

    with api_on(stack) as api:
        api.wait_ready(timeout=90)
        detail = api.ok(f"/v1/rounds/{round_['round_id']}")
        recorded = [u["participant"] for u in detail["updates"]]
        missing = [p for p in tally.acknowledged if p not in recorded]
        store = EmbeddedStore(stack.settings.store_dir)
        on_chain = {u["update_cid"] for u in detail["updates"]}
        deadline = time.monotonic() + 30
        orphans: set[str] = set()
        while time.monotonic() < deadline:
            referenced = on_chain | {
                v["artifact_cid"] for v in api.ok(f"/v1/models/{s.model_id}/versions")["items"]
            }
            orphans = {str(c) for c in store.pins()} - referenced
            # the round's parameter document is referenced on chain too (its digest)
            orphans = {c for c in orphans if api.get(f"/v1/artifacts/{c}").status_code != 200}
            if not orphans:
                break
            time.sleep(0.5)
        print(
            f"\n{len(tally.acknowledged)} updates acknowledged across 2 SIGKILLs of the service; "
            f"{len(recorded)} recorded, {len(missing)} acknowledged missing; "
            f"refused: {tally.refused[:3]}; orphan pins: {sorted(orphans)}"
        )
        assert missing == []
        assert tally.pending == set()  # every participant got a final answer within the grace
        assert len(recorded) == len(set(recorded)) == detail["round"]["update_count"]
        assert tally.refused == []
        assert orphans == set()
        assert len(recorded) >= len(tally.acknowledged) > 0
