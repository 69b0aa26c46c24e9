"""docs/AUDITING.md runs as written. Every block it marks ``check:`` (shell) or ``file:`` (a
script) is taken from the page and run with bash, curl, jq, cast, solc-js, sha256sum and the
venv's Python against the session's real stack, on a ledger made here through the service; its
output is compared with what the chain records, read here with plain JSON-RPC and eth-abi.
The page's shell variables (RPC, DEPLOYMENT, VERSION, ROUND, FILE, TX, BASE, UPDATES, DOC,
RECIPE, REPORT) are set in the environment, as a reader would set them; nothing else of a block
is changed."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from service.chain.accounts import dev_accounts
from service.chain.actions import sign_action
from service.chain.setup import connect_ledger
from service.client import GovLedgerClient
from service.config import PROJECT_ROOT
from service.domain.build_documents import RECIPE_SCHEMA, REPORT_SCHEMA, VERSION_SCHEMA
from service.store.chunker import iter_chunks
from service.store.cid import CHUNK_SIZE
from service.store.embedded import EmbeddedStore
from service.store.unixfs import compute_cid
from tests import scenes
from tests.cli.conftest import unique
from tests.scenes import LARGE, rpc
from tests.stack import Stack

DOC = (PROJECT_ROOT / "docs" / "AUDITING.md").read_text()
BLOCKS = {
    name: body
    for name, body in re.findall(r"<!-- (?:check|file): ([\w.-]+) -->\n```\w+\n(.*?)```", DOC, re.S)
}
PARTICIPANTS = (5, 6, 7, 8)  # dev accounts outside the consortium
ZERO32 = b"\0" * 32


def weights(seed: int, scale: float = 1.0) -> bytes:
    """A safetensors file of 300x300 float32 weights: 360 KB, two chunks (a dag-pb root)."""
    return scenes.weights(seed, scale, shape=LARGE)


def logs(stack: Stack, address: str, event: str, *topics: str) -> list[dict[str, Any]]:
    """Every log of ``event`` (its canonical signature) at ``address``, read here."""
    topic0 = "0x" + keccak(text=event).hex()
    found: list[dict[str, Any]] = rpc(
        stack,
        "eth_getLogs",
        {"address": address, "fromBlock": "0x0", "toBlock": "latest", "topics": [topic0, *topics]},
    )
    return found


def word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class Made:
    """What the fixture made on the stack."""

    registry: str
    rounds: str
    model_id: int
    blocks: tuple[int, int]  # the first and last block the fixture made
    approved: int  # version id: a two-chunk artifact with a metadata document
    artifact: bytes
    artifact_cid: str
    document_cid: str
    expired: int  # version id whose ballot ran out with one vote against
    round_id: int
    excluded: tuple[str, ...]
    build: int  # version id: an accelerated build of ``approved``
    build_documents: dict[str, str]  # DOC, RECIPE, REPORT: their CIDs


@pytest.fixture(scope="module")
def made(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    tmp = tmp_path_factory.mktemp("auditing-doc")
    accounts: list[LocalAccount] = dev_accounts(10)
    owner, voters = accounts[1], accounts[2:4]
    deployment = json.loads(stack.settings.deployment_file.read_text())
    first = scenes.block_number(stack) + 1
    with GovLedgerClient(base_url=stack.url, timeout=120) as client:
        model_id = client.register_model(owner, unique("auditing-doc")).model.model_id
        artifact = weights(1)
        (tmp / "v1.safetensors").write_bytes(artifact)
        document = client.store_metadata(owner, {"description": "audited by hand", "n": 1})
        approved = client.propose_version(
            owner,
            model_id,
            tmp / "v1.safetensors",
            artifact_format="safetensors",
            metadata_digest=document.digest,
        ).version.version_id
        for voter in voters:
            client.cast_vote(voter, approved, "for")

        (tmp / "v2.safetensors").write_bytes(weights(2))
        expired = client.propose_version(
            owner, model_id, tmp / "v2.safetensors", artifact_format="safetensors"
        ).version.version_id
        client.cast_vote(voters[0], expired, "against")
        rpc(stack, "evm_increaseTime", 3601)  # the stack's voting period is an hour
        rpc(stack, "evm_mine")

        for i in PARTICIPANTS:
            client.grant_rights(owner, model_id, accounts[i].address, ["submit_updates"])
        chain_time = scenes.chain_time(stack)
        opened = client.open_round(
            owner,
            model_id,
            base_version_id=approved,
            rule="multi-krum",
            params={"f": 0, "m": 3},  # three included (an odd level), one excluded
            min_updates=4,
            max_updates=4,
            submission_deadline=chain_time + 3600,
            max_norm=1000.0,
        )
        round_id = int(opened.round.round_id)
        for n, i in enumerate(PARTICIPANTS):
            path = tmp / f"update-{i}.safetensors"
            scale = 0.01 if n else 0.5  # the first one far from the others: Krum leaves it out
            path.write_bytes(weights(100 + n, scale=scale))
            client.submit_update(accounts[i], round_id, path, sample_count=10 + n)
        client.finalize_round(owner, round_id)

        # an accelerated build of the approved version, with its three documents
        built = weights(3)
        (tmp / "build.safetensors").write_bytes(built)
        built_cid = compute_cid(iter_chunks(built))[0]
        parent = {
            "model_id": model_id,
            "version_id": approved,
            "artifact_digest": "0x" + compute_cid(iter_chunks(artifact))[0].digest.hex(),
        }
        recipe = client.store_metadata(
            owner, {"schema": RECIPE_SCHEMA, "build": "int8-dynamic", "parent": parent}
        )
        report = client.store_metadata(
            owner, {"schema": REPORT_SCHEMA, "parent": parent, "rows": []}
        )
        version_document = {
            "schema": VERSION_SCHEMA,
            "model_id": model_id,
            "build": "int8-dynamic",
            "artifact": {
                "cid": str(built_cid),
                "digest": "0x" + built_cid.digest.hex(),
                "size": len(built),
                "format": "safetensors",
            },
            "parent": parent,
            "recipe": {"cid": recipe.cid, "digest": recipe.digest},
            "metrics": {"cid": report.cid, "digest": report.digest},
        }
        document_of_build = client.store_metadata(owner, version_document)
        build = client.propose_version(
            owner,
            model_id,
            tmp / "build.safetensors",
            artifact_format="safetensors",
            kind="accelerated",
            parent_id=approved,
            metadata_digest=document_of_build.digest,
        ).version.version_id
    excluded = tuple(
        to_checksum_address("0x" + log["topics"][2][26:])
        for log in logs(
            stack,
            deployment["rounds"],
            "UpdateExcluded(uint256,address,uint8)",
            word(round_id),
        )
    )
    yield Made(
        registry=deployment["registry"],
        rounds=deployment["rounds"],
        model_id=model_id,
        blocks=(first, scenes.block_number(stack)),
        approved=approved,
        artifact=artifact,
        artifact_cid=str(compute_cid(iter_chunks(artifact))[0]),
        document_cid=document.cid,
        expired=expired,
        round_id=round_id,
        excluded=excluded,
        build=build,
        build_documents={
            "DOC": document_of_build.cid,
            "RECIPE": recipe.cid,
            "REPORT": report.cid,
        },
    )


@dataclass(frozen=True)
class Shell:
    """Runs the page's blocks in a directory of the reader's: the repository's contracts and
    node_modules linked in, the page's scripts written out, cast, solcjs and python3 (with
    eth-account) on the PATH."""

    stack: Stack
    workdir: Path

    def run(self, *names: str, **variables: str | int) -> list[str]:
        script = "\n".join(BLOCKS[n] for n in ("setup", *names))
        env = {
            **os.environ,
            "PATH": os.pathsep.join(
                [
                    str(PROJECT_ROOT / "node_modules" / ".bin"),
                    str(PROJECT_ROOT / ".venv" / "bin"),
                    os.environ["PATH"],
                ]
            ),
            "RPC": self.stack.settings.rpc_url,
            "DEPLOYMENT": str(self.stack.settings.deployment_file),
            **{k: str(v) for k, v in variables.items()},
        }
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (names, done.stdout, done.stderr)
        return done.stdout.splitlines()


@pytest.fixture(scope="module")
def shell(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Shell:
    workdir = tmp_path_factory.mktemp("auditor")
    for name in ("contracts", "node_modules"):
        (workdir / name).symlink_to(PROJECT_ROOT / name)
    for name in ("kubo_cid.py", "recover.py", "fedavg.py"):
        (workdir / name).write_text(BLOCKS[name])
    return Shell(stack=stack, workdir=workdir)


@pytest.fixture(scope="module")
def compiled(shell: Shell) -> dict[str, Any]:
    """The compiler's output, made by the page's compile block."""
    shell.run("compile")
    output: dict[str, Any] = json.loads((shell.workdir / "solc-output.json").read_text())
    return output


# ------------------------------------------------------------------ the code


def test_the_code_on_chain_matches_the_sources_compiled_as_documented(
    shell: Shell, compiled: dict[str, Any], made: Made
) -> None:
    assert shell.run("code") == [
        "Consortium matches the sources",
        "ModelRegistry matches the sources",
        "FederatedRounds matches the sources",
    ]
    registry = compiled["contracts"]["contracts/ModelRegistry.sol"]["ModelRegistry"]
    assert registry["evm"]["deployedBytecode"]["immutableReferences"]  # the masking is needed:
    code = rpc(shell.stack, "eth_getCode", made.registry, "latest")[2:]
    assert code != registry["evm"]["deployedBytecode"]["object"]  # unmasked, they differ
    assert len(registry["abi"]) == len(
        json.loads((shell.workdir / "ModelRegistry.abi.json").read_text())
    )


def test_the_code_check_fails_when_the_sources_differ(
    shell: Shell, compiled: dict[str, Any], tmp_path: Path
) -> None:
    tampered = json.loads(json.dumps(compiled))
    rounds = tampered["contracts"]["contracts/FederatedRounds.sol"]["FederatedRounds"]
    obj = rounds["evm"]["deployedBytecode"]["object"]
    rounds["evm"]["deployedBytecode"]["object"] = (
        obj[:100] + ("0" if obj[100] != "0" else "1") + obj[101:]
    )
    other = Shell(stack=shell.stack, workdir=tmp_path)
    (tmp_path / "solc-output.json").write_text(json.dumps(tampered))
    assert other.run("code") == [
        "Consortium matches the sources",
        "ModelRegistry matches the sources",
        "FederatedRounds DIFFERS",
    ]


# ------------------------------------------------------------------ events and views


def _declared_events() -> dict[str, set[str]]:
    table = DOC.split("<!-- events -->", 1)[1].split("\n\n", 1)[0]
    declared: dict[str, set[str]] = {}
    for contract, event in re.findall(r"^\| (\w+) \| `([^`]+)` \|$", table, re.M):
        declared.setdefault(contract, set()).add(event)
    return declared


def test_the_events_table_is_every_event_the_contracts_emit(compiled: dict[str, Any]) -> None:
    declared = _declared_events()
    assert set(declared) == {"Consortium", "ModelRegistry", "FederatedRounds"}
    for contract, events in declared.items():
        abi = compiled["contracts"][f"contracts/{contract}.sol"][contract]["abi"]
        emitted = {
            "{}({})".format(
                e["name"],
                ", ".join(
                    f"{i['type']} {'indexed ' if i['indexed'] else ''}{i['name']}"
                    for i in e["inputs"]
                ),
            )
            for e in abi
            if e["type"] == "event" and e["name"] != "EIP712DomainChanged"
        }
        assert events == emitted, contract


def test_cast_computes_each_events_topic_as_the_chain_records_it(shell: Shell) -> None:
    """cast sig-event over each declaration of the table gives the keccak256 of its canonical
    signature; the page's topic for VersionProposed is the one its logs carry."""
    for events in _declared_events().values():
        for event in events:
            canonical = re.sub(r" (indexed )?\w+(?=[,)])", "", event).replace(", ", ",")
            topic = subprocess.run(
                [str(PROJECT_ROOT / "node_modules" / ".bin" / "cast"), "sig-event", event],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert topic == "0x" + keccak(text=canonical).hex(), event


def test_eth_get_logs_with_curl_lists_the_versions(shell: Shell, made: Made) -> None:
    out = shell.run("logs")
    recorded = logs(
        shell.stack,
        made.registry,
        "VersionProposed(uint256,uint256,address,uint256,uint8,bytes32,bytes32,uint256,uint256,uint256)",
    )
    assert out[0] == recorded[0]["topics"][0]
    lines = out[1:]
    assert len(lines) == len(recorded) >= 2
    mine = next(log for log in recorded if log["topics"][1] == word(made.approved))
    assert (
        f"version {word(made.approved)} model {mine['topics'][2]} proposer {mine['topics'][3]} "
        f"block {mine['blockNumber']} tx {mine['transactionHash']} data {mine['data']}"
    ) in lines


def test_cast_logs_and_cast_call_read_a_version(shell: Shell, made: Made) -> None:
    decoded = shell.run("cast-logs", VERSION=made.approved)
    artifact_digest = "0x" + compute_cid(iter_chunks(made.artifact))[0].digest.hex()
    (log,) = logs(
        shell.stack,
        made.registry,
        "VersionProposed(uint256,uint256,address,uint256,uint8,bytes32,bytes32,uint256,uint256,uint256)",
        word(made.approved),
    )
    parent, kind, artifact, metadata, deadline, required, eligible = decode(
        ["uint256", "uint8", "bytes32", "bytes32", "uint256", "uint256", "uint256"],
        bytes.fromhex(log["data"][2:]),
    )
    assert "0x" + artifact.hex() == artifact_digest
    assert [line.split(" ")[0] for line in decoded] == [
        str(parent),
        str(kind),
        artifact_digest,
        "0x" + metadata.hex(),
        str(deadline),
        str(required),
        str(eligible),
    ]
    record, state, raw = shell.run("views", VERSION=made.approved)
    assert artifact_digest in record and "0x" + metadata.hex() in record
    assert state == "1" and raw == word(1)  # Approved
    assert shell.run("views", VERSION=made.expired)[1:] == ["2", word(2)]  # Rejected: expired


# ------------------------------------------------------------------ content


def _download(stack: Stack, cid: str, path: Path) -> Path:
    subprocess.run(["curl", "-sf", "-o", str(path), f"{stack.url}/v1/artifacts/{cid}"], check=True)
    return path


def test_a_single_chunk_document_hashes_with_sha256sum_to_its_digest_on_chain(
    shell: Shell, made: Made, tmp_path: Path
) -> None:
    document = _download(shell.stack, made.document_cid, tmp_path / "document.json")
    assert 0 < document.stat().st_size <= CHUNK_SIZE
    (log,) = logs(
        shell.stack,
        made.registry,
        "VersionProposed(uint256,uint256,address,uint256,uint8,bytes32,bytes32,uint256,uint256,uint256)",
        word(made.approved),
    )
    metadata_digest = log["data"][2 + 3 * 64 : 2 + 4 * 64]
    assert shell.run("small-file", FILE=document) == [metadata_digest, made.document_cid]
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert shell.run("small-file", FILE=empty)[1] == (
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # kubo's empty file
    )


def test_a_two_chunk_artifact_needs_the_dag_rule_and_the_script_gets_its_digest(
    shell: Shell, made: Made, tmp_path: Path
) -> None:
    artifact = _download(shell.stack, made.artifact_cid, tmp_path / "v1.safetensors")
    assert artifact.read_bytes() == made.artifact and len(made.artifact) > CHUNK_SIZE
    on_chain = shell.run("cast-logs", VERSION=made.approved)[2]
    assert shell.run("large-file", FILE=artifact) == [f"{made.artifact_cid} {on_chain}"]
    assert shell.run("small-file", FILE=artifact)[0] != on_chain[2:]  # as the page warns


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 174 * CHUNK_SIZE, 174 * CHUNK_SIZE + 1, 349 * CHUNK_SIZE],
)
def test_the_pages_cid_script_gives_the_stores_cid_at_every_tree_shape(
    shell: Shell, size: int, tmp_path: Path
) -> None:
    """One leaf, one node, a full node, two levels (175 chunks: a second node of one link)
    and 349 chunks; the reference is the store's CID code, itself tested byte for byte against
    npm ipfs-unixfs-importer (tests/store)."""
    data = np.random.default_rng(size).bytes(size)
    path = tmp_path / "file"
    path.write_bytes(data)
    cid = compute_cid(iter_chunks(data))[0]
    assert shell.run("large-file", FILE=path) == [f"{cid} 0x{cid.digest.hex()}"]


# ------------------------------------------------------------------ signatures


def _transactions(stack: Stack, made: Made) -> list[str]:
    """The transactions of the fixture's blocks (the rest of the session's ledger belongs to
    other tests, and would make this one slow)."""
    found: list[dict[str, Any]] = []
    first, last = made.blocks
    for address in (made.registry, made.rounds):
        found += rpc(
            stack,
            "eth_getLogs",
            {"address": address, "fromBlock": hex(first), "toBlock": hex(last)},
        )
    return sorted({log["transactionHash"] for log in found})


def test_the_signer_recovered_as_documented_is_the_actor_the_events_name(
    shell: Shell, made: Made
) -> None:
    stack = shell.stack
    (vote,) = logs(
        stack,
        made.registry,
        "VoteCast(uint256,address,uint8)",
        word(made.expired),
    )
    voter = to_checksum_address("0x" + vote["topics"][2][26:])
    assert shell.run("recover", TX=vote["transactionHash"]) == [
        f"castVoteBySig actor {voter} signer {voter} OK"
    ]
    # every transaction the fixture made: each action's signer is its actor
    functions: set[str] = set()
    for tx in _transactions(stack, made):
        if rpc(stack, "eth_getTransactionByHash", tx)["to"] is None:
            continue  # the deployment
        for line in shell.run("recover", TX=tx):
            function, _, actor, _, signer, verdict = line.split(" ")
            assert verdict == "OK" and actor == signer, line
            functions.add(function)
    assert {
        "castVoteBySig",
        "proposeVersionBySig",
        "openRoundBySig",
        "finalizeRoundBySig",
        "grantRightsBySig",
        "registerModelBySig",
    } <= functions
    assert functions & {"submitUpdateBySig", "submitUpdatesBySig"}


def test_each_entry_of_a_batch_of_signed_updates_is_recovered(shell: Shell, made: Made) -> None:
    """A batch (submitUpdatesBySig, as the relayer sends updates that wait together): one line
    per entry, each its own signer. Relayed here by dev account 9, paying only."""
    stack = shell.stack
    accounts = dev_accounts(10)
    ledger = connect_ledger(stack.settings, relayer=accounts[9])
    chain_time = scenes.chain_time(stack)
    round_id = ledger.open_round(
        accounts[1],
        ledger.version(made.approved).model_id,
        made.approved,
        rule="fedavg",
        min_updates=1,
        max_updates=5,
        submission_deadline=chain_time + 3600,
        max_norm=10**9,
    )
    base_digest = ledger.version(made.approved).artifact_digest
    signed = [
        sign_action(
            ledger.prepare(
                "SubmitUpdate",
                accounts[i].address,
                {
                    "roundId": round_id,
                    "baseDigest": base_digest,
                    "updateDigest": keccak(i.to_bytes(32, "big")),
                    "sampleCount": 7,
                },
            ),
            accounts[i].key,
        )
        for i in PARTICIPANTS[:3]
    ]
    batch = ledger.relay_updates(signed)
    tx = batch.transaction_hash
    tx = tx if tx.startswith("0x") else "0x" + tx
    assert shell.run("recover", TX=tx) == [
        f"submitUpdatesBySig actor {a} signer {a} OK"
        for a in (accounts[i].address for i in PARTICIPANTS[:3])
    ]


def test_a_struct_string_that_is_not_the_contracts_recovers_someone_else(
    shell: Shell, made: Made
) -> None:
    """The page's script can fail: with one field renamed, the typed data hash differs and the
    signature recovers to another account."""
    (vote,) = logs(
        shell.stack, made.registry, "VoteCast(uint256,address,uint8)", word(made.expired)
    )
    voter = to_checksum_address("0x" + vote["topics"][2][26:])
    script = shell.workdir / "recover.py"
    original = script.read_text()
    try:
        script.write_text(original.replace("CastVote(uint256 versionId,", "CastVote(uint256 id,"))
        (line,) = shell.run("recover", TX=vote["transactionHash"])
    finally:
        script.write_text(original)
    function, _, actor, _, signer, verdict = line.split(" ")
    assert (function, actor, verdict) == ("castVoteBySig", voter, "MISMATCH") and signer != voter


def test_the_struct_strings_are_the_contracts_own() -> None:
    in_page = set(re.findall(r'": "(\w+\([^"]*\))",', BLOCKS["recover.py"]))
    in_sources: set[str] = set()
    for source in ("Consortium", "ModelRegistry", "FederatedRounds"):
        text = (PROJECT_ROOT / "contracts" / f"{source}.sol").read_text()
        for literal in re.findall(r"_TYPEHASH\s*=\s*keccak256\(((?:\s*\"[^\"]*\")+)\s*\)", text):
            in_sources.add("".join(re.findall(r'"([^"]*)"', literal)))
    assert len(in_sources) == 18  # the 18 signed actions: every one in the page
    assert in_page == in_sources


# ------------------------------------------------------------------ ballots and rounds


def test_an_expired_ballot_is_derived_from_its_deadline_as_the_view_reports_it(
    shell: Shell, made: Made
) -> None:
    stack = shell.stack
    changed = "VersionStateChanged(uint256,uint8,uint8)"
    assert logs(stack, made.registry, changed, word(made.expired)) == []  # no event says it
    assert shell.run("expired", VERSION=made.expired) == ["expired: 2", "2"]
    assert len(logs(stack, made.registry, changed, word(made.approved))) == 1
    assert shell.run("expired", VERSION=made.approved) == ["recorded: 1", "1"]


def test_the_rounds_updates_and_inclusion_root_as_documented(shell: Shell, made: Made) -> None:
    stack = shell.stack
    submitted = {
        to_checksum_address("0x" + log["topics"][2][26:]): log["data"]
        for log in logs(
            stack,
            made.rounds,
            "UpdateSubmitted(uint256,address,bytes32,uint256,uint256)",
            word(made.round_id),
        )
    }
    out = shell.run("updates", ROUND=made.round_id)
    assert out[0] == "[" + ", ".join(submitted) + "]"  # submission order
    for line in out[1:]:
        participant, record = line.split(" ", 1)
        digest, samples, index = decode(
            ["bytes32", "uint256", "uint256"], bytes.fromhex(submitted[participant][2:])
        )
        assert record == f"(0x{digest.hex()}, {samples}, {index})"
    assert len(out) == 1 + len(PARTICIPANTS)

    assert len(made.excluded) == 1  # three included: two paired, one carried up
    root, chain = shell.run("inclusion", ROUND=made.round_id)
    (finalized,) = logs(
        stack,
        made.rounds,
        "RoundFinalized(uint256,uint256,bytes32,bytes32,uint256,uint256,address)",
        word(made.round_id),
    )
    recorded = "0x" + finalized["data"][2 + 64 : 2 + 128]
    assert root == f"root {recorded}" and chain == f"chain {recorded}"


def test_a_fedavg_aggregate_rebuilt_by_the_pages_script_is_the_recorded_one(
    shell: Shell, made: Made, tmp_path: Path
) -> None:
    stack = shell.stack
    accounts = dev_accounts(10)
    chain_time = scenes.chain_time(stack)
    with GovLedgerClient(base_url=stack.url, timeout=120) as client:
        opened = client.open_round(
            accounts[1],
            made.model_id,
            base_version_id=made.approved,
            rule="fedavg",
            params={},
            min_updates=3,
            max_updates=3,
            submission_deadline=chain_time + 3600,
            max_norm=1000.0,
        )
        round_id = int(opened.round.round_id)
        given = []
        for n, i in enumerate(PARTICIPANTS[:3]):
            path = tmp_path / f"update-{i}.safetensors"
            path.write_bytes(weights(200 + n, scale=0.01))
            client.submit_update(accounts[i], round_id, path, sample_count=10 + 7 * n)
            given.append(f"{accounts[i].address}:{10 + 7 * n}:{path}")
        client.finalize_round(accounts[1], round_id)
    (finalized,) = logs(
        stack,
        made.rounds,
        "RoundFinalized(uint256,uint256,bytes32,bytes32,uint256,uint256,address)",
        word(round_id),
    )
    recorded = "0x" + finalized["data"][2 : 2 + 64]
    base = tmp_path / "base.safetensors"
    base.write_bytes(made.artifact)
    (line,) = shell.run("fedavg", BASE=base, UPDATES=" ".join(reversed(given)))
    assert line.split(" ")[1] == recorded
    # one sample count misreported: another aggregate
    given[0] = given[0].replace(":10:", ":11:")
    (line,) = shell.run("fedavg", BASE=base, UPDATES=" ".join(given))
    assert line.split(" ")[1] != recorded


def test_an_accelerated_builds_documents_as_documented(
    shell: Shell, made: Made, tmp_path: Path
) -> None:
    files: dict[str, str | int] = {}
    with EmbeddedStore(shell.stack.settings.store_dir) as store:  # as a node would hand them
        for name, cid in made.build_documents.items():
            path = tmp_path / f"{name.lower()}.json"
            path.write_bytes(b"".join(store.get(cid)))
            files[name] = str(path)
    assert _download(
        shell.stack, made.build_documents["DOC"], tmp_path / "served.json"
    ).read_bytes() == ((tmp_path / "doc.json").read_bytes())
    assert shell.run("builds", VERSION=made.build, **files) == [
        "ok kind Accelerated",
        "ok version document",
        "ok its schema",
        "ok the artifact it names",
        "ok the parent it names",
        "ok the parent's artifact",
        "ok recipe",
        "ok its schema",
        "ok report",
        "ok its schema",
    ]
    # the recipe handed over as the report: named, not passed
    swapped = shell.run("builds", VERSION=made.build, **{**files, "REPORT": files["RECIPE"]})
    assert [line.split(":")[0] for line in swapped if not line.startswith("ok")] == [
        "DIFFERS report",
        "DIFFERS its schema",
    ]
    # a version that is not a build is told apart
    assert shell.run("builds", VERSION=made.approved, **files)[0] == (
        "DIFFERS kind Accelerated: 0 is not 2"
    )


def test_every_block_the_page_marks_is_run_here() -> None:
    tests = Path(__file__).read_text()
    for name in BLOCKS:
        if name != "setup":
            assert f'"{name}"' in tests, name


def test_the_tools_the_page_names_are_the_ones_pinned() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    cast = package["devDependencies"]["@foundry-rs/cast-linux-amd64"]
    solc = package["dependencies"]["solc"]
    assert f"npm install @foundry-rs/cast-linux-amd64@{cast}" in DOC
    assert f"npm install solc@{solc}" in DOC
    version = subprocess.run(
        [str(PROJECT_ROOT / "node_modules" / ".bin" / "cast"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.startswith(f"cast Version: {cast}\n"), version
    settings = json.loads((PROJECT_ROOT / "contracts" / "solc-settings.json").read_text())
    assert settings["compilerVersion"] == solc and f"solc {solc}" in DOC
