"""The signature and state checks on real transactions of the session's stack: a batch of
signed updates (``submitUpdatesBySig``) is checked entry by entry; and where the events said
something else than the calldata or the views (the events read back, then one edited, as a node
that lies about its logs would serve them), the check fails naming the record."""

from __future__ import annotations

import dataclasses
import os

from eth_account.signers.local import LocalAccount

from service.audit import open_context, run_audit
from service.audit.context import AuditContext
from service.audit.signatures import SignatureCheck
from service.audit.state import StateCheck
from service.chain.actions import sign_action
from service.chain.compile import load_build
from service.chain.ledger import Ledger
from service.chain.transactor import Transactor
from service.chain.types import Event, Rights
from service.store.embedded import EmbeddedStore
from tests.audit.conftest import PARTICIPANTS, Ledgered, block_number, chain_time
from tests.stack import Stack


def context(stack: Stack, from_block: int) -> AuditContext:
    settings = stack.settings
    return open_context(
        rpc_url=settings.rpc_url,
        deployment_file=settings.deployment_file,
        store=EmbeddedStore(settings.store_dir),
        from_block=from_block,
    )


def edited(ctx: AuditContext, event: Event, **args: object) -> AuditContext:
    """``ctx`` with ``event``'s arguments replaced."""
    changed = dataclasses.replace(event, args={**event.args, **args})
    return dataclasses.replace(ctx, events=[changed if e is event else e for e in ctx.events])


def test_a_batch_of_signed_updates_is_checked_entry_by_entry(
    stack: Stack, ledgered: Ledgered, ledger: Ledger, accounts: list[LocalAccount]
) -> None:
    start = block_number(stack) + 1
    base = ledger.version(ledgered.approved)
    round_id = ledger.open_round(
        accounts[1],
        ledgered.model_id,
        ledgered.approved,
        rule="fedavg",
        min_updates=1,
        max_updates=5,
        submission_deadline=chain_time(stack) + 3600,
        max_norm=10**9,
    )
    signed = [
        sign_action(
            ledger.prepare(
                "SubmitUpdate",
                accounts[i].address,
                {
                    "roundId": round_id,
                    "baseDigest": base.artifact_digest,
                    "updateDigest": os.urandom(32),
                    "sampleCount": 7,
                },
            ),
            accounts[i].key,
        )
        for i in PARTICIPANTS
    ]
    batch = ledger.relay_updates(signed)
    ctx = context(stack, start)
    findings = [f for f in SignatureCheck().run(ctx) if batch.transaction_hash in f.record]
    assert [f.record for f in findings] == [
        f"submitUpdatesBySig in {batch.transaction_hash} (entry {n})" for n in range(3)
    ]
    assert all(f.ok for f in findings), findings
    for f, i in zip(findings, PARTICIPANTS, strict=True):
        assert f"signed by {accounts[i].address}" in f.detail

    # an UpdateSubmitted naming someone else than the entry's signer
    update = [
        e for e in ctx.named("UpdateSubmitted") if e.transaction_hash == batch.transaction_hash
    ][1]
    lying = edited(ctx, update, participant=accounts[4].address)
    wrong = [f for f in SignatureCheck().run(lying) if f.record.endswith("(entry 1)")]
    assert len(wrong) == 1 and not wrong[0].ok
    assert f"its UpdateSubmitted event names participant {accounts[4].address}" in wrong[0].detail


def test_a_vote_the_events_do_not_show_fails_the_state_check(
    stack: Stack, ledgered: Ledgered
) -> None:
    ctx = context(stack, ledgered.start_block)
    vote = next(e for e in ctx.named("VoteCast") if e.args["versionId"] == ledgered.approved)
    missing = dataclasses.replace(ctx, events=[e for e in ctx.events if e is not vote])
    record = f"version {ledgered.approved} ({ledgered.model_name}@1)"
    found = [f for f in StateCheck().run(missing) if f.record == record]
    assert len(found) == 1 and not found[0].ok
    assert "for: events say 1, the contract says 2" in found[0].detail
    assert "recorded APPROVED with only 1 for, 0 against" in found[0].detail

    # a relayed vote whose event names another voter fails the signature check
    relayed = edited(ctx, vote, voter="0x000000000000000000000000000000000000dEaD")
    report = run_audit(relayed, checks=[SignatureCheck()])
    assert [f.record for f in report.failures] == [f"castVoteBySig in {vote.transaction_hash}"]


def test_from_block_limits_the_state_compared_to_records_changed_since(
    stack: Stack, ledgered: Ledgered
) -> None:
    everything = {f.record for f in StateCheck().run(context(stack, ledgered.start_block))}
    name = ledgered.model_name
    assert f"version {ledgered.expired} ({name}@2)" in everything  # expired within the range
    later = block_number(stack) + 1  # nothing has happened since
    assert [f.record for f in StateCheck().run(context(stack, later))] == ["membership"]


def test_an_action_signed_for_a_contract_wallet_is_checked_by_asking_the_wallet(
    stack: Stack, ledgered: Ledgered, ledger: Ledger, accounts: list[LocalAccount]
) -> None:
    """A participant that is an ERC-1271 wallet (contracts/mocks/ERC1271WalletMock.sol, one
    owner key) submits an update; the audit asks the wallet, as the contract did."""
    key_holder = accounts[8]
    mock = load_build()["ERC1271WalletMock"]
    deployer = Transactor(w3=ledger.w3, account=key_holder, decoder=ledger.decoder)
    factory = ledger.w3.eth.contract(abi=mock.abi, bytecode=mock.bytecode)
    wallet = str(deployer.transact(factory.constructor(key_holder.address))["contractAddress"])
    start = block_number(stack) + 1
    ledger.grant_rights(accounts[1], ledgered.model_id, wallet, Rights.SUBMIT_UPDATES)
    round_id = ledger.open_round(
        accounts[1],
        ledgered.model_id,
        ledgered.approved,
        rule="fedavg",
        min_updates=1,
        max_updates=2,
        submission_deadline=chain_time(stack) + 3600,
        max_norm=10**9,
    )
    action = ledger.prepare(
        "SubmitUpdate",
        wallet,
        {
            "roundId": round_id,
            "baseDigest": ledger.version(ledgered.approved).artifact_digest,
            "updateDigest": os.urandom(32),
            "sampleCount": 3,
        },
    )
    receipt = ledger.relay(sign_action(action, key_holder.key))
    findings = [
        f
        for f in SignatureCheck().run(context(stack, start))
        if receipt.transaction_hash in f.record
    ]
    assert len(findings) == 1 and findings[0].ok, findings
    assert f"was accepted by the ERC-1271 wallet {wallet}" in findings[0].detail


def test_an_action_called_directly_must_be_sent_by_the_actor_its_event_names(
    stack: Stack, ledgered: Ledgered, ledger: Ledger, accounts: list[LocalAccount]
) -> None:
    start = block_number(stack) + 1
    owner = accounts[1]
    moved = ledger.move_alias(owner, ledgered.model_id, "staging", ledgered.approved, direct=True)
    ctx = context(stack, start)
    record = f"moveAlias in {moved.transaction_hash}"
    found = [f for f in SignatureCheck().run(ctx) if f.record == record]
    assert len(found) == 1 and found[0].ok, found
    assert f"MoveAlias sent directly by {owner.address}" in found[0].detail

    event = next(e for e in ctx.named("AliasMoved") if e.transaction_hash == moved.transaction_hash)
    lying = edited(ctx, event, by=accounts[2].address)
    wrong = [f for f in SignatureCheck().run(lying) if f.record == record]
    assert len(wrong) == 1 and not wrong[0].ok
    assert f"sent by {owner.address}, but its AliasMoved event names by" in wrong[0].detail
