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
from service.chain.ledger import Ledger
from service.chain.types import Event
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
