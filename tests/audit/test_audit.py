"""``govledger audit`` and ``service.audit`` on the session's real stack (anvil, the service's
embedded store): a clean ledger passes every check, and each planted fault fails the audit
naming the record: a tampered stored block, a metadata document that no longer matches its
digest, an aggregate finalized by hand, and (on a throwaway chain of its own) contract code
that differs from the sources."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result

from service.audit import AuditReport, Finding, open_context
from service.audit.content import read_verified, references
from service.audit.naming import Names
from service.chain.deploy import Deployment
from service.chain.ledger import Ledger
from service.cli.main import app
from service.client import GovLedgerClient
from service.store.cid import CHUNK_SIZE
from service.store.embedded import EmbeddedStore
from service.store.flatfs import FlatFS
from tests.audit.conftest import (
    PARTICIPANTS,
    Ledgered,
    block_number,
    rpc,
    run_audit,
    submit_round,
)
from tests.stack import Stack, free_port
from tests.store.fake_kubo import FakeKubo


def cli(stack: Stack, *args: str, json_output: bool = True) -> Result:
    settings = stack.settings
    command = [*(["--json"] if json_output else []), "audit", "--rpc-url", settings.rpc_url]
    command += ["--deployment", str(settings.deployment_file)]
    command += ["--store-dir", str(settings.store_dir), *args]
    result = CliRunner().invoke(app, command, env={"GOVLEDGER_DATA_DIR": str(settings.data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def failures(report: AuditReport, check: str) -> list[Finding]:
    return [f for f in report.failures if f.check == check]


@contextmanager
def overwritten(path: Path, data: bytes) -> Iterator[None]:
    """``path`` holds ``data`` inside the block, its own bytes again after it."""
    original = path.read_bytes()
    path.write_bytes(data)
    try:
        yield
    finally:
        path.write_bytes(original)


# ---------------------------------------------------------------- a clean ledger


def test_a_clean_ledger_passes_every_check(ledgered: Ledgered) -> None:
    report = ledgered.clean
    assert report.failures == (), [f.as_json() for f in report.failures]
    counts = {c.name: c.passed for c in report.checks}
    assert counts["code"] == 4  # three contracts and the registry's rounds()
    # register x2, metadata docs are off chain; propose x3 through the service, votes x3,
    # alias, rights x5, read policy, transfer, open round, 3 updates, finalize, the build
    assert counts["signatures"] >= 20
    assert counts["content"] >= 8
    assert counts["rounds"] == 3 and counts["builds"] == 1
    by_record = {(f.check, f.record): f for f in report.findings}
    name = ledgered.model_name
    expired = by_record[("state", f"version {ledgered.expired} ({name}@2)")]
    assert "REJECTED (its window ended without a decision" in expired.detail
    assert "1 against" in expired.detail
    approved = by_record[("state", f"version {ledgered.approved} ({name}@1)")]
    assert approved.detail.startswith("APPROVED")
    aggregate = by_record[("rounds", f"round {ledgered.round_id} aggregate (version "
                                     f"{ledgered.aggregate})")]  # fmt: skip
    assert "krum over the stored updates gives the recorded bytes" in aggregate.detail
    commitment = by_record[("rounds", f"round {ledgered.round_id} inclusion commitment")]
    assert "over 1 included updates; 2 excluded" in commitment.detail  # Krum keeps one
    assert any(
        f.check == "signatures" and "SubmitUpdate was signed by" in f.detail
        for f in report.findings
    )
    alias = [f for f in report.findings if f.record.startswith("alias 'production'")]
    assert alias and all(f.ok for f in alias)


def test_the_command_reports_a_clean_ledger_as_json(stack: Stack, ledgered: Ledgered) -> None:
    result = cli(stack, "--from-block", str(ledgered.start_block))
    # faults planted by other tests of this module come later; this one may run after them
    report = json.loads(result.stdout)
    clean = [f for f in report["findings"] if f["check"] in ("code", "state", "builds")]
    assert clean and all(f["ok"] for f in clean), [f for f in clean if not f["ok"]]
    assert report["from_block"] == ledgered.start_block
    assert {c["name"] for c in report["checks"]} == {
        "code", "signatures", "content", "state", "rounds", "builds",
    }  # fmt: skip
    assert result.exit_code in (0, 7)
    assert report["ok"] is (result.exit_code == 0)


# ---------------------------------------------------------------- planted faults


def test_a_tampered_stored_block_is_reported_naming_the_version(
    stack: Stack, ledgered: Ledgered
) -> None:
    leaf = hashlib.sha256(ledgered.approved_bytes[:CHUNK_SIZE]).digest()
    path = FlatFS(stack.settings.store_dir).path(leaf)
    tampered = bytearray(path.read_bytes())
    tampered[100] ^= 0xFF
    with overwritten(path, bytes(tampered)):
        report = run_audit(stack, ledgered.start_block)
        result = cli(stack, "--from-block", str(ledgered.start_block))
    record = f"version {ledgered.approved} ({ledgered.model_name}@1)"
    found = [f for f in failures(report, "content") if f.record == record]
    assert len(found) == 1, report.failures
    assert found[0].detail.startswith("artifact 0x")
    assert "does not match its CID" in found[0].detail
    # the round built on it cannot be recomputed any more, and says so
    rounds = failures(report, "rounds")
    assert any(f.record.startswith(f"round {ledgered.round_id} aggregate") for f in rounds)
    assert result.exit_code == 7, result.output
    error = json.loads(result.stderr)["error"]
    assert error["kind"] == "verification" and record in error["message"]
    # put back, the version's content passes again
    again = run_audit(stack, ledgered.start_block)
    assert all(f.record != record for f in failures(again, "content"))


def test_a_metadata_document_that_does_not_match_its_digest_is_reported(
    stack: Stack, ledgered: Ledgered
) -> None:
    digest = hashlib.sha256(ledgered.approved_metadata).digest()  # one raw block
    path = FlatFS(stack.settings.store_dir).path(digest)
    assert path.read_bytes() == ledgered.approved_metadata
    forged = json.dumps({"description": "the base", "seed": 2}).encode()
    with overwritten(path, forged):
        report = run_audit(stack, ledgered.start_block)
    record = f"version {ledgered.approved} ({ledgered.model_name}@1)"
    found = [f for f in failures(report, "content") if f.record == record]
    assert [f.detail.split(":")[0] for f in found] == [f"metadata 0x{digest.hex()}"]
    assert "does not match its CID" in found[0].detail
    assert not report.ok


def test_an_accelerated_build_whose_recipe_is_gone_is_reported(
    stack: Stack, ledgered: Ledgered
) -> None:
    with EmbeddedStore(stack.settings.store_dir) as store:
        document = json.loads(
            store.get_bytes(_metadata_cid(stack, ledgered.build))  # the version's document
        )
    recipe = bytes.fromhex(document["recipe"]["digest"][2:])
    path = FlatFS(stack.settings.store_dir).path(recipe)
    with overwritten(path, b'{"schema":"something else"}'):
        report = run_audit(stack, ledgered.start_block)
    record = f"version {ledgered.build} ({ledgered.model_name}@4) build"
    found = [f for f in failures(report, "builds") if f.record == record]
    assert len(found) == 1 and "the recipe document" in found[0].detail, report.failures


def test_an_aggregate_finalized_by_hand_is_reported_naming_the_round(
    stack: Stack,
    ledgered: Ledgered,
    client: GovLedgerClient,
    ledger: Ledger,
    accounts: list[LocalAccount],
    tmp_path: Path,
) -> None:
    start = block_number(stack) + 1
    round_id = submit_round(client, accounts, stack, tmp_path, ledgered.model_id, ledgered.approved)
    fake = ledger.finalize_round(
        accounts[1],
        round_id,
        included=[accounts[i].address for i in PARTICIPANTS],
        aggregate_digest=b"\x42" * 32,
        direct=True,
    )  # the owner's plain contract call, naming bytes no rule produced
    report = run_audit(stack, start)
    rounds = {f.record: f for f in report.findings if f.check == "rounds"}
    assert rounds[f"round {round_id} updates"].ok
    assert rounds[f"round {round_id} inclusion commitment"].ok  # the contract computed it
    wrong = rounds[f"round {round_id} aggregate (version {fake})"]
    assert not wrong.ok
    assert "the rule includes" in wrong.detail  # Krum keeps one; the fake names all three
    assert "0x" + "42" * 32 in wrong.detail and "not the aggregate of the stored updates" in (
        wrong.detail
    )
    # the version's artifact is nowhere either
    content = [f for f in failures(report, "content") if f.record.startswith(f"version {fake}")]
    assert content and "is not in the content source" in content[0].detail
    result = cli(stack, "--from-block", str(start))
    assert result.exit_code == 7
    assert f"round {round_id} aggregate" in json.loads(result.stderr)["error"]["message"]


def test_code_that_differs_from_the_sources_is_reported(tmp_path: Path) -> None:
    """On a chain of its own: the shared stack's code stays as deployed."""
    own = Stack(data_dir=tmp_path / "stack")
    own.data_dir.mkdir()
    own.start_chain()
    try:
        deployment = Deployment.load(own.settings.deployment_file)
        EmbeddedStore(own.settings.store_dir).close()  # an empty store: nothing to read
        clean = cli(own, json_output=False)
        assert clean.exit_code == 0, clean.output
        assert "audit of chain 31337 at block" in clean.stdout and ": passed" in clean.stdout
        assert "deployed bytecode equals the compiled sources" in clean.stdout
        # without the record: the registry's address alone
        settings = own.settings
        by_address = ["--json", "audit", "--rpc-url", settings.rpc_url]
        by_address += ["--store-dir", str(settings.store_dir)]
        env = {"GOVLEDGER_DATA_DIR": str(tmp_path / "elsewhere")}
        found = CliRunner().invoke(app, [*by_address, "--registry", deployment.registry], env=env)
        assert found.exit_code == 0, found.output
        assert json.loads(found.stdout)["from_block"] == deployment.deploy_block
        nothing = CliRunner().invoke(app, [*by_address, "--registry", "0x" + "11" * 20], env=env)
        assert nothing.exit_code == 6
        assert "no contract at" in json.loads(nothing.stderr)["error"]["message"]
        rounds_code = rpc(own, "eth_getCode", deployment.rounds, "latest")
        rpc(own, "anvil_setCode", deployment.consortium, rounds_code)  # other code there
        rpc(own, "evm_mine")
        report = run_audit(own, deployment.deploy_block)
        result = cli(own)
        human = cli(own, json_output=False)
    finally:
        own.stop_chain()
    found = failures(report, "code")
    assert [f.record for f in found] == [f"Consortium at {deployment.consortium}"]
    assert "is not what contracts/Consortium.sol compiles to" in found[0].detail
    assert result.exit_code == 7
    error = json.loads(result.stderr)["error"]
    assert f"Consortium at {deployment.consortium} (code)" in error["message"]
    assert human.exit_code == 7
    assert ": FAILED" in human.stdout and "failures" in human.stdout
    assert f"Consortium at {deployment.consortium}" in human.stdout


# ---------------------------------------------------------------- bad input


def test_a_missing_deployment_record_or_chain_is_unavailable(stack: Stack, tmp_path: Path) -> None:
    missing = cli(stack, "--deployment", str(tmp_path / "nowhere.json"))
    assert missing.exit_code == 6
    error = json.loads(missing.stderr)["error"]
    assert error["kind"] == "unavailable" and "nowhere.json" in error["message"]

    down = cli(stack, "--rpc-url", f"http://127.0.0.1:{free_port()}")
    assert down.exit_code == 6
    assert "no JSON-RPC answer" in json.loads(down.stderr)["error"]["message"]

    no_store = cli(stack, "--store-dir", str(tmp_path / "empty"))
    assert no_store.exit_code == 6
    assert not (tmp_path / "empty").exists()  # nothing created where the store should be


def _metadata_cid(stack: Stack, version_id: int) -> str:
    from service.chain.setup import connect_ledger
    from service.store.cid import cid_from_digest

    version = connect_ledger(stack.settings).version(version_id)
    return str(cid_from_digest(version.metadata_digest, file_size=0))


def test_the_content_can_come_from_a_kubo_node(stack: Stack, ledgered: Ledgered) -> None:
    """Through the kubo RPC adapter: the fake kubo of tests/store (no kubo daemon installs
    here), a real HTTP server that serves the stack's block files without checking them, as a
    lying node would; the adapter's and the audit's checks are what is tested."""
    fake = FakeKubo(stack.settings.store_dir)
    try:
        settings = stack.settings
        command = ["--json", "audit", "--rpc-url", settings.rpc_url, "--ipfs-api-url", fake.url]
        command += ["--deployment", str(settings.deployment_file)]
        command += ["--from-block", str(ledgered.start_block)]
        env = {"GOVLEDGER_DATA_DIR": str(settings.data_dir)}
        clean = CliRunner().invoke(app, command, env=env)
        assert clean.exit_code in (0, 7), (clean.output, clean.exception)
        report = json.loads(clean.stdout)
        # the scenario's content (a later test of this module may have added a fake aggregate)
        scenario = {f.record for f in ledgered.clean.findings if f.check == "content"}
        content = [f for f in report["findings"] if f["check"] == "content"]
        mine = [f for f in content if f["record"] in scenario]
        assert {f["record"] for f in mine} == scenario and len(mine) >= 8
        assert all(f["ok"] for f in mine), mine
        assert any(cmd == "cat" or cmd.startswith("block") for cmd, _ in fake.requests)

        digest = hashlib.sha256(ledgered.approved_metadata).digest()
        forged = json.dumps({"description": "the base", "seed": 3}).encode()
        with overwritten(FlatFS(settings.store_dir).path(digest), forged):
            lied = CliRunner().invoke(app, command, env=env)
    finally:
        fake.stop()
    assert lied.exit_code == 7
    failed = [f for f in json.loads(lied.stdout)["failures"] if f["check"] == "content"]
    record = f"version {ledgered.approved} ({ledgered.model_name}@1)"
    failed = [f for f in failed if f["record"] in scenario]
    assert [f["record"] for f in failed] == [record], failed
    assert failed[0]["detail"].startswith(f"metadata 0x{digest.hex()}")


def test_the_content_can_come_from_car_files(
    stack: Stack, ledgered: Ledgered, tmp_path: Path
) -> None:
    """Every document and artifact the scenario references, exported as CAR files (one per
    root), is what the audit reads with --car; a CAR with a flipped byte is refused whole."""
    settings = stack.settings
    ctx = open_context(
        rpc_url=settings.rpc_url,
        deployment_file=settings.deployment_file,
        store=EmbeddedStore(settings.store_dir),
        from_block=ledgered.start_block,
    )
    scenario = {f.record for f in ledgered.clean.findings if f.check == "content"}
    cars = []
    for n, ref in enumerate(references(ctx, Names.of(ctx))):
        if any(ref.digest) and ref.record in scenario:  # not a fake a later test planted
            cid = read_verified(ctx.store, bytes(ref.digest)).cid
            cars.append(tmp_path / f"{n}.car")
            ctx.store.save_car(cid, cars[-1])
    ctx.store.close()
    options = [arg for car in cars for arg in ("--car", str(car))]
    command = ["--json", "audit", "--rpc-url", settings.rpc_url, *options]
    command += ["--deployment", str(settings.deployment_file)]
    command += ["--from-block", str(ledgered.start_block)]
    env = {"GOVLEDGER_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code in (0, 7), (result.output, result.exception)
    content = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "content"]
    mine = [f for f in content if f["record"] in scenario]
    assert {f["record"] for f in mine} == scenario and all(f["ok"] for f in mine), mine

    broken = bytearray(cars[0].read_bytes())
    broken[-5] ^= 0xFF  # inside the last block's bytes
    cars[0].write_bytes(bytes(broken))
    refused = CliRunner().invoke(app, command, env=env)
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stderr)["error"]
    assert f"the CAR file {cars[0]} is refused" in error["message"]
