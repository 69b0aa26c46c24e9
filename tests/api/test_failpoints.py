"""The service SIGKILLed at each named step of an upload (``GOVLEDGER_FAILPOINT``,
service/failpoints.py): a real process on a throwaway stack, killed where the step says, not
at a random moment. After a restart without the failpoint the upload is recorded on chain
exactly once or cleanly abandoned, as the step implies; the journal says which; its bytes are
pinned iff the chain references them; nothing is left for gc; and the client's retry of the
same signed request gets an answer consistent with the chain (the one transaction)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from service.journal.store import Journal, Status
from service.store.embedded import EmbeddedStore
from tests.api.conftest import OWNER, ZERO32, Api, api_on, cid_of, digest_of, fresh_artifact
from tests.api.test_faults import recovered
from tests.api.test_rounds import PARTICIPANTS, file_of, open_round, scene, tensors
from tests.stack import Stack

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Expected:
    """What recovery makes of the entry a step leaves."""

    on_chain: bool  # whether the first request's action is on chain before the retry
    journal: dict[str, int]  # the journal entries recovery leaves, by status
    recovery: dict[str, float]  # what recovery counted (/metrics)


STEPS = {
    "upload-stored": Expected(False, {"abandoned": 1}, {}),
    "upload-journaled": Expected(True, {"mined": 1}, {"reapplied": 1}),
    "transaction-journaled": Expected(True, {"mined": 1}, {"reapplied": 1}),
    "transaction-sent": Expected(True, {"mined": 1}, {"confirmed": 1}),
    "upload-mined": Expected(True, {"mined": 1}, {}),
}


@pytest.fixture(scope="module")
def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(
        data_dir=tmp_path_factory.mktemp("failpoints") / "stack",
        extra_env={"GOVLEDGER_JOURNAL_CHECK_INTERVAL_S": "0.5"},
    ).start()
    yield s
    s.stop()


@dataclass(frozen=True)
class Upload:
    """One signed upload, sent the same each time, and how to read what the chain made of it."""

    send: Callable[[], httpx.Response]
    cid: str
    contract: str
    actor: str
    nonce: int
    recorded: Callable[[], int]  # how many times the chain records it


def update_upload(api: Api) -> Upload:
    s = scene(api)
    round_ = open_round(api, s)
    participant = PARTICIPANTS[0]
    data = file_of(tensors())
    sig = api.signed(
        "SubmitUpdate",
        participant,
        {"roundId": round_["round_id"], "baseDigest": round_["base_digest"],
         "updateDigest": digest_of(data), "sampleCount": 10},
    )  # fmt: skip
    params = {"update_cid": str(cid_of(data)), "sample_count": 10, **sig}
    path = f"/v1/rounds/{round_['round_id']}"

    def send() -> httpx.Response:
        return api.post_bytes(f"{path}/updates", params, data)

    def recorded() -> int:
        updates = api.ok(path)["updates"]
        return [u["participant"] for u in updates].count(participant.address)

    return Upload(send, str(cid_of(data)), "FederatedRounds", participant.address,
                  int(sig["nonce"]), recorded)  # fmt: skip


def version_upload(api: Api) -> Upload:
    model_id = int(api.register(OWNER)["model_id"])
    data = fresh_artifact((300, 300))  # 360 kB: more than one block
    cid = str(cid_of(data))
    sig = api.signed(
        "ProposeVersion",
        OWNER,
        {"modelId": model_id, "parentId": 0, "kind": 0, "artifactDigest": digest_of(data),
         "metadataDigest": ZERO32},
    )  # fmt: skip
    params = {"artifact_format": "safetensors", "artifact_cid": cid, **sig}

    def send() -> httpx.Response:
        return api.post_bytes(f"/v1/models/{model_id}/versions", params, data)

    def recorded() -> int:
        versions = api.ok(f"/v1/models/{model_id}/versions")["items"]
        return [v["artifact_cid"] for v in versions].count(cid)

    return Upload(send, cid, "ModelRegistry", OWNER.address, int(sig["nonce"]), recorded)


def crash_at(stack: Stack, step: str, send: Callable[[], httpx.Response]) -> None:
    """Restart the service with the failpoint at ``step``, send, see the process SIGKILLed
    with no answer given, and start it again without the failpoint."""
    stack.stop_service()
    stack.extra_env["GOVLEDGER_FAILPOINT"] = step
    try:
        stack.start_service()
        with pytest.raises(httpx.HTTPError):  # the connection closes without an answer
            answer = send()
            print(f"answered {answer.status_code}: {answer.text[:300]}")
        assert stack._service is not None
        assert stack._service.wait(timeout=30) == -signal.SIGKILL
        stack._service = None
    finally:
        del stack.extra_env["GOVLEDGER_FAILPOINT"]
        if stack._service is not None:  # it did not die: stop it before starting again
            stack.stop_service()
    stack.start_service()


def journal_counts(stack: Stack) -> dict[str, int]:
    journal = Journal(stack.settings.journal_file)
    try:
        return journal.counts()
    finally:
        journal.close()


def holder(stack: Stack, upload: Upload) -> tuple[Status, str | None] | None:
    journal = Journal(stack.settings.journal_file)
    try:
        entry = journal.holder_of(upload.contract, upload.actor, upload.nonce)
    finally:
        journal.close()
    return None if entry is None else (entry.status, entry.tx_hash)


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)
    }


@pytest.mark.parametrize("what", ["update", "version"])
@pytest.mark.parametrize("step", list(STEPS))
def test_a_crash_at_each_step_of_an_upload_is_recovered(
    crash_stack: Stack, step: str, what: str
) -> None:
    stack, expected = crash_stack, STEPS[step]
    store = EmbeddedStore(stack.settings.store_dir)
    with api_on(stack) as api:
        api.wait_ready()
        upload = (update_upload if what == "update" else version_upload)(api)
        pins_before = api.pins()
        journal_before = journal_counts(stack)

        crash_at(stack, step, upload.send)

        api.wait_ready(timeout=90)  # the start-up recovery has run
        assert grown(journal_before, journal_counts(stack)) == expected.journal
        assert {k: v for k, v in recovered(api).items() if v} == expected.recovery
        assert upload.recorded() == int(expected.on_chain)
        held = holder(stack, upload)
        if expected.on_chain:
            assert held is not None and held[0] == Status.MINED
        else:
            assert held is None  # abandoned: the nonce is free for the retry
            deadline = time.monotonic() + 30
            while store.has(upload.cid) and time.monotonic() < deadline:
                time.sleep(0.2)  # the start-up pass releases the pin, then collects the blocks
            assert not store.has(upload.cid)
        expected_pins = pins_before | ({upload.cid} if expected.on_chain else set())
        assert api.pins() == expected_pins  # pinned iff on chain; no orphan
        assert list((stack.settings.store_dir / "tmp").iterdir()) == []
        assert store.gc() == 0  # every block is reachable from a pin

        retry = upload.send()
        assert retry.status_code == 201, retry.text
        assert upload.recorded() == 1
        held = holder(stack, upload)
        assert held is not None and held[0] == Status.MINED
        assert retry.json()["transaction"]["transaction_hash"] == held[1]
        journal_final = grown(journal_before, journal_counts(stack))
        assert journal_final == {**expected.journal, "mined": 1}
        assert api.pins() == pins_before | {upload.cid}
        assert store.gc() == 0
