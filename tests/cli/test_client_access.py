"""Restricted artifacts through the client: Sign-In with Ethereum, then the read right on chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from service.client import ClientError, GovLedgerClient
from tests.cli.conftest import approved_version
from tests.stack import Stack


def test_restricted_read_needs_a_session_of_a_read_right_holder(
    client: GovLedgerClient,
    stack: Stack,
    accounts: list[LocalAccount],
    weights: Path,
    tmp_path: Path,
) -> None:
    written = approved_version(client, accounts, weights, restricted=True, prefix="secret")
    version, owner, reader = written.version, accounts[1], accounts[6]
    dest = tmp_path / "downloaded.safetensors"

    with pytest.raises(ClientError) as anonymous:
        client.download_version(version.version_id, dest)
    assert anonymous.value.status == 401
    assert f"restricted model(s) {version.model_id}; sign in" in str(anonymous.value)
    assert not dest.exists()

    session = client.login(reader)
    assert session.address == reader.address and client.session_token == session.token
    with pytest.raises(ClientError) as no_right:
        client.download_artifact(str(version.artifact_cid), dest)
    assert no_right.value.status == 403
    assert f"{reader.address} holds no read right" in str(no_right.value)

    client.grant_rights(owner, version.model_id, reader.address, ["read_artifacts"])
    got = client.download_version(version.version_id, dest)
    assert got.path.read_bytes() == weights.read_bytes()

    client.revoke_rights(owner, version.model_id, reader.address, ["read_artifacts"])
    with pytest.raises(ClientError) as revoked:  # the chain is asked at each request
        client.download_version(version.version_id, dest)
    assert revoked.value.status == 403

    # a second client with the same token is the same session, until logout ends it
    with GovLedgerClient(base_url=stack.url, session_token=session.token) as other:
        client.logout()
        assert client.session_token is None
        with pytest.raises(ClientError) as ended:
            other.download_version(version.version_id, dest)
        assert ended.value.status == 401
        assert "unknown or expired" in str(ended.value)
    with pytest.raises(ClientError) as twice:
        client.logout()
    assert twice.value.status == 401


def test_owner_reads_its_restricted_model(
    client: GovLedgerClient, accounts: list[LocalAccount], weights: Path, tmp_path: Path
) -> None:
    written = approved_version(client, accounts, weights, restricted=True, prefix="own")
    client.login(accounts[1])
    got = client.download_version(written.version.version_id, tmp_path / "a")
    assert got.cid == written.version.artifact_cid
