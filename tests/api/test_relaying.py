"""The relayer and its journal, against a real stack: what it refuses before sending, what it
never pays for, and what it does when the chain loses or delays what it sent.

The hostile wallets are the mocks in contracts/mocks (ERC-1271 contracts that answer differently
in a simulation than on chain); anvil's own controls (automine off, snapshots) play a chain that
is slow or that rolls back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from service.chain.accounts import dev_account
from service.chain.compile import load_build
from tests.api.conftest import (
    MEMBER2,
    OWNER,
    ZERO32,
    Api,
    alias_hex,
    api_on,
    assert_contract_error,
    assert_problem,
    sign_typed_data,
    unique_name,
)
from tests.stack import Stack

KEY_HOLDER = dev_account(7)  # signs for the wallet contracts


# ---------------------------------------------------------------- helpers


def deploy_wallet(api: Api, mock: str) -> str:
    """Deploy an ERC-1271 mock owned by KEY_HOLDER (from anvil's unlocked dev account 8)."""
    build = load_build()[mock]
    w3 = Web3(Web3.HTTPProvider(api.stack.settings.rpc_url))
    factory = w3.eth.contract(abi=build.abi, bytecode=build.bytecode)
    tx = factory.constructor(KEY_HOLDER.address).transact({"from": dev_account(8).address})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return str(address)


def wallet_signed(api: Api, action: str, wallet: str, args: dict[str, Any]) -> dict[str, Any]:
    """The signed fields of ``action`` for ``wallet``, signed by the wallet's key holder."""
    prepared = api.prepare(action, wallet, args)
    return {
        "actor": wallet,
        "nonce": prepared["nonce"],
        "deadline": prepared["deadline"],
        "signature": sign_typed_data(prepared["typed_data"], KEY_HOLDER),
    }


def maintained_by(api: Api, wallet: str) -> int:
    """A model of OWNER's on which ``wallet`` holds the Maintain right."""
    model_id = int(api.register(OWNER)["model_id"])
    r = api.change_rights("grant", model_id, wallet, ["maintain"])
    assert r.status_code == 200, r.text
    return model_id


def clear_alias(api: Api, model_id: int, wallet: str) -> httpx.Response:
    """The wallet clears the model's ``staging`` alias (a MoveAlias to version 0)."""
    sig = wallet_signed(
        api,
        "MoveAlias",
        wallet,
        {"modelId": model_id, "aliasName": alias_hex("staging"), "versionId": 0},
    )
    return api.put(f"/v1/models/{model_id}/aliases/staging", json={"version_id": 0, **sig})


def register_request(api: Api, owner: LocalAccount = OWNER, **kw: Any) -> dict[str, Any]:
    """The JSON body of a signed RegisterModel (not sent)."""
    name = unique_name("relay")
    sig = api.signed(
        "RegisterModel",
        owner,
        {"name": name, "metadataDigest": ZERO32, "restricted": False},
        **kw,
    )
    return {"name": name, "restricted": False, "metadata_digest": ZERO32, **sig}


def model_count_named(api: Api, name: str) -> int:
    r = api.get(f"/v1/models/by-name/{name}")
    return 1 if r.status_code == 200 else 0


@pytest.fixture
def slow_stack(tmp_path) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """A private stack whose requests wait 2 s for a receipt and whose keeper looks every
    0.5 s, for the tests that stop anvil's mining."""
    s = Stack(
        data_dir=tmp_path / "stack",
        extra_env={
            "GOVLEDGER_RECEIPT_TIMEOUT_S": "2",
            "GOVLEDGER_JOURNAL_CHECK_INTERVAL_S": "0.5",
        },
    ).start()
    yield s
    s.stop()


# ---------------------------------------------------------------- before sending


def test_one_action_per_nonce_is_in_flight_and_the_relayer_pays_once(api: Api) -> None:
    """Six different actions signed with one nonce, sent at once: one is relayed, the others
    are refused before anything is sent (409 while it is in flight, 401 once it is mined)."""
    nonce = api.nonce("CastVote", OWNER)
    bodies = [register_request(api) for _ in range(6)]
    assert {b["nonce"] for b in bodies} == {nonce}
    relayed = api.relayer_tx_count()
    barrier = threading.Barrier(len(bodies))
    answers: list[httpx.Response] = []

    def send(body: dict[str, Any]) -> None:
        with httpx.Client(base_url=api.stack.url, timeout=60) as http:
            barrier.wait()
            answers.append(http.post("/v1/models", json=body))

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(201) == 1, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert_problem(r, 409, "/problems/action-in-flight", OWNER.address, str(nonce))
        elif r.status_code == 401:
            assert_contract_error(r, 401, "InvalidAccountNonce", currentNonce=nonce + 1)
        else:
            assert r.status_code == 201
    assert statuses.count(409) >= 1  # sent at once: some met the first one in flight
    assert api.relayer_tx_count() == relayed + 1
    assert sum(model_count_named(api, b["name"]) for b in bodies) == 1


def test_a_used_nonce_with_other_content_is_refused_by_the_chain(api: Api) -> None:
    first = register_request(api)
    assert api.post("/v1/models", json=first).status_code == 201
    relayed = api.relayer_tx_count()
    other = {**register_request(api), "nonce": first["nonce"]}
    other["signature"] = api.signed(
        "RegisterModel",
        OWNER,
        {"name": other["name"], "metadataDigest": ZERO32, "restricted": False},
    )["signature"]  # signed with the next nonce, sent with the used one: not OWNER's signature
    r = api.post("/v1/models", json=other)
    assert r.status_code == 401, r.text
    assert api.relayer_tx_count() == relayed
    assert model_count_named(api, other["name"]) == 0


def test_a_deadline_beyond_the_maximum_is_refused(api: Api) -> None:
    chain_now = api.block_timestamp(api.block_number())
    far = chain_now + 8 * 24 * 3600  # the default maximum is 7 days
    body = register_request(api, deadline=far)
    relayed = api.relayer_tx_count()
    r = api.post("/v1/models", json=body)
    assert_problem(r, 422, "/problems/invalid-input", str(far), "GOVLEDGER_MAX_DEADLINE_S")
    assert api.relayer_tx_count() == relayed
    assert model_count_named(api, body["name"]) == 0
    # within the bound it is relayed
    body = register_request(api, deadline=chain_now + 6 * 24 * 3600)
    assert api.post("/v1/models", json=body).status_code == 201


def test_a_wallet_that_accepts_only_at_gas_price_zero_costs_the_relayer_nothing(
    api: Api,
) -> None:
    """The simulation runs with the fee fields the transaction carries, so a wallet that says
    yes only to a free call is refused before sending, every time."""
    hostile = deploy_wallet(api, "GasPriceWalletMock")
    model_id = maintained_by(api, hostile)
    relayed = api.relayer_tx_count()
    for _ in range(10):
        r = clear_alias(api, model_id, hostile)
        assert_contract_error(r, 401, "SignedActionInvalidSignature", actor=hostile)
    assert api.relayer_tx_count() == relayed

    honest = deploy_wallet(api, "ERC1271WalletMock")
    model_id = maintained_by(api, honest)
    r = clear_alias(api, model_id, honest)
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- after sending


def test_a_transaction_that_reverts_on_chain_suspends_relaying_for_its_actor(
    slow_stack: Stack,
) -> None:
    """The wallet's owner flips it to "no" after the relayer's simulation and before the
    block: the relayed transaction reverts at the relayer's cost, once; the service then
    refuses to relay for that wallet, saying why and until when, and serves others."""
    with api_on(slow_stack) as api:
        wallet = deploy_wallet(api, "SwitchableWalletMock")
        model_id = maintained_by(api, wallet)
        relayed = api.relayer_tx_count()
        w3 = Web3(Web3.HTTPProvider(slow_stack.settings.rpc_url))
        switch = w3.eth.contract(
            address=Web3.to_checksum_address(wallet), abi=load_build()["SwitchableWalletMock"].abi
        )
        api.rpc("evm_setAutomine", False)
        answer: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answer.append(clear_alias(api, model_id, wallet)))
        sender.start()
        try:
            deadline = time.monotonic() + 20
            while int(api.rpc("txpool_status")["pending"], 16) == 0:
                assert time.monotonic() < deadline, "the relayed transaction never arrived"
                time.sleep(0.05)
            flip = switch.functions.setAccepting(False).transact(
                {"from": KEY_HOLDER.address, "maxPriorityFeePerGas": 10**11, "maxFeePerGas": 10**12}
            )
            api.rpc("evm_mine")
            assert w3.eth.get_transaction_receipt(flip)["status"] == 1
        finally:
            api.rpc("evm_setAutomine", True)
            sender.join()
        r = answer[0]
        body = assert_problem(r, 409, "/problems/transaction-reverted", wallet, "suspended")
        assert body["contract_error"]["name"] == "SignedActionInvalidSignature"
        receipt = w3.eth.get_transaction_receipt(body["transaction_hash"])
        assert receipt["status"] == 0  # the relayer paid for it: once
        assert api.relayer_tx_count() == relayed + 1

        switch.functions.setAccepting(True).transact({"from": KEY_HOLDER.address})
        r = clear_alias(api, model_id, wallet)
        assert_problem(r, 403, "/problems/relaying-suspended", wallet, body["transaction_hash"])
        assert int(r.headers["retry-after"]) > 500  # the default suspension is 600 s
        assert api.relayer_tx_count() == relayed + 1
        # everyone else is served
        assert api.post("/v1/models", json=register_request(api)).status_code == 201


def test_an_action_not_mined_in_time_is_applied_exactly_once_later(slow_stack: Stack) -> None:
    """A chain that accepts a transaction and does not mine it: the request answers 503
    action-pending (journaled); once the chain mines, the journal confirms it, /ready comes
    back, and the same request again returns its result without a second transaction."""
    with api_on(slow_stack) as api:
        body = register_request(api)
        relayed = api.relayer_tx_count()
        api.rpc("evm_setAutomine", False)
        try:
            r = api.post("/v1/models", json=body)
            problem = assert_problem(r, 503, "/problems/action-pending", "journaled")
            assert "retry-after" in r.headers
            assert problem["detail"].count("#") == 1
            assert api.get("/ready").json()["journal"] != "ok"
            again = api.post("/v1/models", json=body)
            assert again.status_code in (409, 503), again.text
        finally:
            api.rpc("evm_setAutomine", True)
        api.rpc("evm_mine")
        api.wait_ready()
        r = api.post("/v1/models", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["model"]["name"] == body["name"]
        assert api.relayer_tx_count() == relayed + 1
        assert model_count_named(api, body["name"]) == 1


@pytest.mark.parametrize("detection", ["keeper", "next-send"])
def test_a_chain_rollback_is_repaired_without_restarting_the_service(
    tmp_path, detection: str
) -> None:  # type: ignore[no-untyped-def]
    """The chain loses blocks holding acknowledged writes (anvil reverted to a snapshot): the
    journal sees it (by the keeper's block-hash check, or when the next send finds the
    relayer's nonce behind), re-applies every lost write in order, exactly once, and writes
    work again; /ready is 503 until then."""
    interval = "0.5" if detection == "keeper" else "3600"
    stack = Stack(
        data_dir=tmp_path / "stack", extra_env={"GOVLEDGER_JOURNAL_CHECK_INTERVAL_S": interval}
    ).start()
    try:
        with api_on(stack) as api:
            snapshot = api.rpc("evm_snapshot")
            written = []
            for _ in range(4):
                body = register_request(api)
                r = api.post("/v1/models", json=body)
                assert r.status_code == 201, r.text
                written.append(body["name"])
            model_id = api.ok(f"/v1/models/by-name/{written[0]}")["model_id"]
            granted = api.change_rights("grant", model_id, MEMBER2.address, ["maintain"])
            assert granted.status_code == 200  # OWNER's next nonce, after the four
            before = api.relayer_tx_count()

            assert api.rpc("evm_revert", snapshot) is True

            if detection == "next-send":  # (the keeper would race these checks)
                assert all(model_count_named(api, n) == 0 for n in written)
                assert api.relayer_tx_count() < before
                ready = api.get("/ready")
                assert ready.status_code == 503
                assert "rollback" in ready.json()["journal"]
                late = register_request(api, owner=MEMBER2)
                r = api.post("/v1/models", json=late)
                assert r.status_code == 201, r.text
                written.append(late["name"])
            api.wait_ready()
            assert all(model_count_named(api, n) == 1 for n in written), written
            rights = api.ok(f"/v1/models/{model_id}/rights/{MEMBER2.address}")
            assert "maintain" in rights["rights"]
            # nothing twice: every model name once, the owner's nonce where it was
            assert api.nonce("CastVote", OWNER) == 5
            assert api.post("/v1/models", json=register_request(api)).status_code == 201
    finally:
        stack.stop()
