"""GovLedgerClient round trips through the real service (uvicorn, anvil, embedded store)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from eth_account.signers.local import LocalAccount

from service.client import (
    ZERO_DIGEST,
    ClientError,
    GovLedgerClient,
    InvalidArgument,
    ServiceUnreachable,
)
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid
from tests.cli.conftest import approved_version, safetensors_bytes, unique
from tests.stack import Stack, free_port


def test_health_ready_info_metrics(client: GovLedgerClient, stack: Stack) -> None:
    assert client.health().status == "ok"
    ready = client.ready()
    assert (ready.ready, ready.chain, ready.store, ready.contracts) == (True, "ok", "ok", "ok")
    info = client.info()
    assert info.chain_id == 31337
    assert set(info.contracts) == {"Consortium", "ModelRegistry", "FederatedRounds"}
    assert info.contracts["ModelRegistry"].eip712_name == "GovLedger ModelRegistry"
    assert info.store_backend == "embedded"
    assert info.siwe_domain == f"127.0.0.1:{stack.service_port}"
    assert "govledger_http_requests_total" in client.metrics()


def test_prepare_and_act_sign_locally(
    client: GovLedgerClient, accounts: list[LocalAccount]
) -> None:
    prepared = client.prepare("CastVote", accounts[2].address, {"versionId": 1, "support": 1})
    assert prepared.actor == accounts[2].address
    assert prepared.typed_data["primaryType"] == "CastVote"
    fields = client.act(accounts[2], "CastVote", {"versionId": 1, "support": 1})
    assert fields["actor"] == accounts[2].address
    assert fields["nonce"] == prepared.nonce  # nothing was sent, so the nonce is unchanged
    assert len(bytes.fromhex(fields["signature"][2:])) == 65


def test_models_register_read_list_search_metadata(
    client: GovLedgerClient, accounts: list[LocalAccount]
) -> None:
    owner = accounts[1]
    doc = {"description": "a tiny test model", "framework": "pytorch"}
    stored = client.store_metadata(owner, doc)
    assert stored.digest.startswith("0x") and len(stored.digest) == 66
    name = unique("reg")
    written = client.register_model(owner, name, metadata_digest=stored.digest)
    model = written.model
    assert (model.name, model.owner, model.restricted) == (name, owner.address, False)
    assert model.metadata_digest == stored.digest
    assert written.transaction.block_number > 0

    assert client.get_model(model.model_id) == model
    assert client.get_model_by_name(name) == model
    assert client.get_model_metadata(model.model_id) == doc
    found = client.list_models(name=name)
    assert [m.model_id for m in found.items] == [model.model_id] and found.total == 1
    mine = client.list_models(owner=owner.address, limit=500)
    assert model.model_id in [m.model_id for m in mine.items]

    new_doc = client.store_metadata(owner, json.dumps({"description": "v2"}).encode())
    changed = client.set_model_metadata(owner, model.model_id, new_doc.digest).model
    assert changed.metadata_digest == new_doc.digest
    assert client.get_model_metadata(model.model_id) == {"description": "v2"}

    restricted = client.set_read_policy(owner, model.model_id, restricted=True).model
    assert restricted.restricted is True
    pending = client.transfer_model(owner, model.model_id, accounts[2].address).model
    assert (pending.owner, pending.pending_owner) == (owner.address, accounts[2].address)
    moved = client.accept_model(accounts[2], model.model_id).model
    assert (moved.owner, moved.pending_owner) == (accounts[2].address, None)
    assert client.get_model(model.model_id) == moved


def test_version_lifecycle_votes_alias_and_verified_downloads(
    client: GovLedgerClient, accounts: list[LocalAccount], weights: Path, tmp_path: Path
) -> None:
    owner = accounts[1]
    model = client.register_model(owner, unique("life")).model
    seen: list[tuple[str, int, int | None]] = []
    written = client.propose_version(
        owner,
        model.model_id,
        weights,
        artifact_format="safetensors",
        progress=lambda phase, done, total: seen.append((phase, done, total)),
    )
    size = weights.stat().st_size
    expected_cid, _ = compute_cid(iter_chunks(weights.read_bytes()))
    version = written.version
    assert (version.state, version.kind, version.proposer) == ("proposed", "base", owner.address)
    assert version.artifact_cid == str(expected_cid)
    assert version.artifact_digest == "0x" + expected_cid.digest.hex()
    assert written.artifact_size == size
    assert ("hashing", size, size) in seen and seen[-1] == ("uploading", size, size)

    listed = client.list_versions(model.model_id, state="proposed")
    assert [v.version_id for v in listed.items] == [version.version_id]
    assert client.list_versions(model.model_id, state="approved").total == 0

    first = client.cast_vote(accounts[2], version.version_id, "for")
    assert (first.vote.voter, first.vote.support, first.state) == (
        accounts[2].address, "for", "proposed",
    )  # fmt: skip
    second = client.cast_vote(accounts[3], version.version_id, "for")
    assert second.state == "approved"
    votes = client.list_votes(version.version_id)
    assert [(v.voter, v.support) for v in votes] == [
        (accounts[2].address, "for"),
        (accounts[3].address, "for"),
    ]
    assert all(v.timestamp and v.block_number for v in votes)
    assert client.get_version(version.version_id).state == "approved"

    moved = client.move_alias(owner, model.model_id, "production", version.version_id)
    assert moved.alias.version_id == version.version_id
    before = moved.transaction.block_number - 1
    assert client.get_alias(model.model_id, "production").version_id == version.version_id
    assert client.get_alias(model.model_id, "production", block=before).version_id is None
    history = client.alias_history(model.model_id, "production")
    assert [(h.version_id, h.previous_version_id, h.by) for h in history] == [
        (version.version_id, None, owner.address)
    ]
    assert [(a.alias, a.version_id) for a in client.list_aliases(model.model_id)] == [
        ("production", version.version_id)
    ]

    by_version = client.download_version(version.version_id, tmp_path / "v.safetensors")
    assert by_version.path.read_bytes() == weights.read_bytes()
    assert (by_version.cid, by_version.size) == (str(expected_cid), size)
    by_cid = client.download_artifact(str(expected_cid), tmp_path)  # a directory: named by CID
    assert by_cid.path == tmp_path / str(expected_cid)
    assert by_cid.path.read_bytes() == weights.read_bytes()
    assert by_version.warning is None and by_cid.warning is None  # safetensors: no code


def test_upload_from_iterator_of_a_multi_chunk_file(
    client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """A file over one 256 KiB chunk (a dag-pb root) given as an iterator of pieces."""
    data = safetensors_bytes(400, 400, seed=7)  # 640 KB: three chunks
    model = client.register_model(accounts[1], unique("iter")).model
    pieces = (data[i : i + 100_000] for i in range(0, len(data), 100_000))
    written = client.propose_version(
        accounts[1], model.model_id, pieces, artifact_format="safetensors"
    )
    cid, _ = compute_cid(iter_chunks(data))
    assert written.version.artifact_cid == str(cid) and str(cid).startswith("bafybei")
    done: list[int] = []
    out = client.download_artifact(
        str(cid), tmp_path / "out", progress=lambda phase, n, total: done.append(n)
    )
    assert out.path.read_bytes() == data and done[-1] == len(data)


def test_a_downloaded_torch_export_archive_comes_with_a_warning(
    client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """The check the CLI prints: loading a .pt2 unpickles, so the download result says so."""
    buffer = io.BytesIO()
    torch.export.save(torch.export.export(torch.nn.Linear(3, 2), (torch.ones(1, 3),)), buffer)
    model = client.register_model(accounts[1], unique("pt2")).model
    written = client.propose_version(
        accounts[1], model.model_id, buffer.getvalue(), artifact_format="torch-export"
    )
    by_version = client.download_version(written.version.version_id, tmp_path / "got.pt2")
    by_cid = client.download_artifact(written.version.artifact_cid, tmp_path)
    for done in (by_version, by_cid):
        assert done.path.read_bytes() == buffer.getvalue()
        assert done.warning is not None
        assert done.warning.startswith(f"{done.path.name} is a torch.export archive (.pt2)")
        assert "torch.export.load unpickles" in done.warning


def test_rights_grant_revoke_and_queries(
    client: GovLedgerClient, accounts: list[LocalAccount]
) -> None:
    owner, reader = accounts[1], accounts[5]
    model = client.register_model(owner, unique("rights")).model
    granted = client.grant_rights(
        owner, model.model_id, reader.address, ["read_artifacts", "maintain"]
    )
    assert granted.rights.rights == ["read_artifacts", "maintain"]
    assert granted.rights.can_read and not granted.rights.is_owner
    assert client.get_rights(model.model_id, reader.address).rights == [
        "read_artifacts",
        "maintain",
    ]
    holders = {r.account: r for r in client.rights_on_model(model.model_id)}
    assert holders[owner.address].is_owner
    assert holders[reader.address].rights == ["read_artifacts", "maintain"]
    assert model.model_id in [r.model_id for r in client.rights_of_account(reader.address)]

    revoked = client.revoke_rights(owner, model.model_id, reader.address, ["maintain"])
    assert revoked.rights.rights == ["read_artifacts"]
    with pytest.raises(ClientError) as refused:
        client.grant_rights(reader, model.model_id, reader.address, ["maintain"])
    assert refused.value.status == 403


def test_errors_carry_the_problem_detail(
    client: GovLedgerClient, accounts: list[LocalAccount], weights: Path
) -> None:
    name = unique("dup")
    client.register_model(accounts[1], name)
    with pytest.raises(ClientError) as dup:
        client.register_model(accounts[2], name)
    assert dup.value.status == 409
    assert dup.value.contract_error is not None
    assert dup.value.contract_error["name"] == "RegistryDuplicateName"
    assert str(dup.value) == dup.value.problem["detail"]
    assert f"the name '{name}' is taken" in str(dup.value)

    with pytest.raises(ClientError) as missing:
        client.get_model_by_name(unique("nobody"))
    assert missing.value.status == 404

    with pytest.raises(ClientError) as outsider:  # not a member
        client.register_model(accounts[6], unique("outsider"))
    assert outsider.value.status == 403

    written = approved_version(client, accounts, weights, prefix="final")
    with pytest.raises(ClientError) as final:
        client.finalize_version(written.version.version_id)
    assert final.value.status == 409
    assert final.value.contract_error == {
        "name": "RegistryUnexpectedState",
        "arguments": {"versionId": written.version.version_id, "current": 1, "expected": 0},
    }
    assert f"voting on version {written.version.version_id} is closed: approved" in str(final.value)

    with pytest.raises(InvalidArgument):
        client.cast_vote(accounts[2], written.version.version_id, "maybe")
    with pytest.raises(InvalidArgument):
        client.move_alias(accounts[1], written.version.model_id, "Not An Alias!", 0)
    with pytest.raises(InvalidArgument):
        client.download_artifact("not-a-cid", Path("unused"))
    with pytest.raises(FileNotFoundError):
        client.propose_version(
            accounts[1], written.version.model_id, weights.with_name("gone"),
            artifact_format="safetensors",
        )  # fmt: skip


def test_unreachable_service_says_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with GovLedgerClient(base_url=url, timeout=2) as c, pytest.raises(ServiceUnreachable) as e:
        c.info()
    assert str(e.value) == f"service not reachable at {url}; start it with `govledger up`"


def test_zero_digest_constant_matches_the_api() -> None:
    from service.api.schemas import ZERO_DIGEST_HEX

    assert ZERO_DIGEST == ZERO_DIGEST_HEX
