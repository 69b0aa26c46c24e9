"""``govledger`` commands against the real stack: tables hold the right values, ``--json`` parses,
expected errors print one red line (no traceback) and exit 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from eth_account.signers.local import LocalAccount
from typer.testing import Result

from service.client import GovLedgerClient
from service.store.chunker import iter_chunks
from service.store.unixfs import compute_cid
from tests.cli.conftest import Cli, unique
from tests.stack import free_port


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def row_of(table: str, *cells: str) -> str:
    """The one table row that holds all ``cells``."""
    rows = [line for line in table.splitlines() if "│" in line and all(c in line for c in cells)]
    assert len(rows) == 1, (cells, table)
    return rows[0]


def test_model_version_vote_alias_download_flow(
    cli: Cli, accounts: list[LocalAccount], weights: Path, tmp_path: Path
) -> None:
    owner = accounts[1].address
    name = unique("cli")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"description": "cli flow", "accuracy": 0.97}))
    out = ok(cli("--dev-account", "1", "models", "register", name, "--metadata", str(meta)))
    assert name in row_of(out, "name") and owner in row_of(out, "owner")
    assert "open" in row_of(out, "read policy")

    model = json.loads(ok(cli("--json", "models", "show", name)))
    assert (model["name"], model["owner"], model["restricted"]) == (name, owner, False)
    model_id = str(model["model_id"])
    assert json.loads(ok(cli("models", "metadata", name))) == {
        "description": "cli flow",
        "accuracy": 0.97,
    }
    listed = ok(cli("models", "search", name))
    assert "(1 of 1)" in listed
    assert owner in row_of(listed, model_id, name)
    assert name in ok(cli("models", "list", "--owner", owner, "--limit", "500"))

    proposed = cli(
        "--dev-account", "1", "versions", "propose", name, str(weights), "--metadata", str(meta)
    )
    out = ok(proposed)
    cid = str(compute_cid(iter_chunks(weights.read_bytes()))[0])
    assert cid in row_of(out, "artifact cid")
    assert "proposed" in row_of(out, "state")
    assert f"{weights.stat().st_size} bytes" in row_of(out, "artifact size")
    assert "uploading" in proposed.stderr  # the progress bar
    version = row_of(out, "version").split("│")[2].strip()

    first = ok(cli("--dev-account", "2", "vote", version, "for"))
    assert accounts[2].address in row_of(first, "voter")
    assert "proposed" in row_of(first, "version state")
    second = ok(cli("--dev-account", "3", "vote", version, "for"))
    assert "approved" in row_of(second, "version state")

    votes = ok(cli("votes", "list", version))
    assert "for" in row_of(votes, accounts[2].address) and "for" in row_of(
        votes, accounts[3].address
    )
    versions = ok(cli("versions", "list", name, "--state", "approved"))
    assert "approved" in row_of(versions, cid) and "2/0/0" in row_of(versions, cid)
    shown = json.loads(ok(cli("--json", "versions", "show", version)))
    assert (shown["state"], shown["artifact_cid"]) == ("approved", cid)

    moved = ok(cli("--dev-account", "1", "--json", "alias", "set", name, "production", version))
    block = json.loads(moved)["transaction"]["block_number"]
    now = ok(cli("alias", "show", name, "production"))
    assert version in row_of(now, "version") and "latest" in row_of(now, "at block")
    before = ok(cli("alias", "show", name, "production", "--block", str(block - 1)))
    assert "-" in row_of(before, "version")
    history = ok(cli("alias", "history", name, "production"))
    assert owner in row_of(history, str(block))
    assert version in row_of(ok(cli("alias", "list", name)), "production")

    by_version = tmp_path / "by-version.safetensors"
    got = ok(cli("artifacts", "download", "--version", version, "-o", str(by_version)))
    assert by_version.read_bytes() == weights.read_bytes()
    assert cid in row_of(got, "cid") and "digest on chain" in row_of(got, "verified")
    by_cid = json.loads(ok(cli("--json", "artifacts", "download", cid, "-o", str(tmp_path))))
    assert by_cid == {
        "path": str(tmp_path / cid),
        "cid": cid,
        "size": weights.stat().st_size,
        "verified": True,
        "warning": None,  # safetensors: nothing to unpickle
    }


def test_rights_members_and_membership_commands(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount]
) -> None:
    name = unique("rights")
    ok(cli("--dev-account", "1", "models", "register", name, "--restricted"))
    reader = accounts[6].address
    granted = ok(cli("--dev-account", "1", "rights", "grant", name, reader, "read_artifacts"))
    assert "read_artifacts" in row_of(granted, reader)
    holders = ok(cli("rights", "show", name))
    assert "yes" in row_of(holders, accounts[1].address)  # the owner
    assert "read_artifacts" in row_of(holders, reader)
    assert name not in ok(cli("rights", "of", reader))  # the table shows model ids
    of = json.loads(ok(cli("--json", "rights", "of", reader)))
    assert client.get_model_by_name(name).model_id in [r["model_id"] for r in of]
    revoked = ok(cli("--dev-account", "1", "rights", "revoke", name, reader, "read_artifacts"))
    assert "no" in row_of(revoked, reader)

    members = ok(cli("members", "list"))
    for founder in accounts[1:4]:
        assert founder.address in members
    consortium = ok(cli("consortium", "show"))
    assert "50.01% (5001 bps)" in row_of(consortium, "quorum")
    assert "2" in row_of(consortium, "for votes a new ballot needs")

    newcomer = accounts[7].address
    proposed = json.loads(
        ok(cli("--dev-account", "1", "--json", "membership", "propose", "add_member",
               "--account", newcomer))
    )["proposal"]  # fmt: skip
    pid = str(proposed["proposal_id"])
    assert ok(cli("membership", "list")).count(newcomer) >= 1
    assert "proposed" in row_of(ok(cli("membership", "show", pid)), "state")
    early = cli("membership", "finalize", pid)
    assert early.exit_code == 4 and "is open until" in early.stderr  # refused by the chain
    ok(cli("--dev-account", "2", "membership", "vote", pid, "for"))
    try:
        decided = ok(cli("--dev-account", "3", "membership", "vote", pid, "for"))
        assert "approved" in row_of(decided, "state")
        assert newcomer in ok(cli("members", "list"))
    finally:
        left = cli("--dev-account", "7", "resign", "--yes")
    assert left.exit_code == 0, left.output
    assert f"{newcomer} left the consortium" in left.stdout
    assert newcomer not in ok(cli("members", "list"))


def test_login_logout_and_restricted_download(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], weights: Path, tmp_path: Path
) -> None:
    name = unique("login")
    ok(cli("--dev-account", "1", "models", "register", name, "--restricted"))
    out = ok(cli("--dev-account", "1", "versions", "propose", name, str(weights)))
    version = row_of(out, "version").split("│")[2].strip()
    for voter in ("2", "3"):
        ok(cli("--dev-account", voter, "vote", version, "for"))
    dest = tmp_path / "restricted.safetensors"

    anonymous = cli("artifacts", "download", "--version", version, "-o", str(dest))
    assert anonymous.exit_code == 5  # a session is needed
    assert (
        "restricted model" in anonymous.stderr and "govledger --as NAME login" in anonymous.stderr
    )
    assert not dest.exists()

    login = ok(cli("--dev-account", "1", "login"))
    assert accounts[1].address in row_of(login, "signed in")
    cache = json.loads((cli.home / "session.json").read_text())
    assert list(cache["sessions"]) == [f"{cli.url} {accounts[1].address}"]
    assert cache["active"] == {cli.url: accounts[1].address}
    ok(cli("artifacts", "download", "--version", version, "-o", str(dest)))  # the cached session
    assert dest.read_bytes() == weights.read_bytes()

    out = ok(cli("logout"))
    assert f"signed out {accounts[1].address}" in out
    assert json.loads((cli.home / "session.json").read_text()) == {"sessions": {}, "active": {}}
    again = cli("logout")
    assert again.exit_code == 3 and "no session to end" in again.stderr

    # with a key and no session, the download signs in by itself
    auto = cli("--dev-account", "1", "artifacts", "download", "--version", version, "-o", str(dest))
    assert auto.exit_code == 0 and f"signing in as {accounts[1].address}" in auto.stderr


def test_model_transfer_and_accept(cli: Cli, accounts: list[LocalAccount]) -> None:
    name = unique("handover")
    owner, heir, other = (accounts[i].address for i in (1, 2, 3))
    ok(cli("--dev-account", "1", "models", "register", name))

    started = ok(cli("--dev-account", "1", "models", "transfer", name, heir))
    assert owner in row_of(started, "│ owner ") and heir in row_of(started, "pending owner")
    shown = json.loads(ok(cli("--json", "models", "show", name)))
    assert (shown["owner"], shown["pending_owner"]) == (owner, heir)

    refused = cli("--dev-account", "3", "models", "accept", name)
    assert refused.exit_code == 4 and refused.stdout == ""
    said = " ".join(refused.stderr.split())  # the console wraps long lines
    assert f"RegistryNotPendingOwner(modelId={shown['model_id']}, account={other}" in said
    assert f"the owner must first transfer the model to {other}" in said

    accepted = json.loads(ok(cli("--dev-account", "2", "--json", "models", "accept", name)))
    assert (accepted["model"]["owner"], accepted["model"]["pending_owner"]) == (heir, None)
    table = ok(cli("models", "show", name))
    assert heir in row_of(table, "owner") and "pending owner" not in table


def test_metadata_is_signed_and_restricted_metadata_needs_a_session(
    cli: Cli, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"description": "restricted notes", "id": unique("n")}))
    name = unique("secret-meta")
    # storing the document is signed by the acting account, which must be a member
    outsider = cli("--dev-account", "5", "models", "register", name, "--metadata", str(meta))
    assert outsider.exit_code == 4
    assert f"{accounts[5].address} is not a member" in outsider.stderr
    ok(cli("--dev-account", "1", "models", "register", name, "--restricted", "--metadata",
           str(meta)))  # fmt: skip

    anonymous = cli("models", "metadata", name)
    assert anonymous.exit_code == 5
    assert "restricted model" in anonymous.stderr and "login" in anonymous.stderr
    signed_in = cli("--dev-account", "1", "models", "metadata", name)
    assert signed_in.exit_code == 0, signed_in.output
    assert f"signing in as {accounts[1].address}" in signed_in.stderr
    assert json.loads(signed_in.stdout) == json.loads(meta.read_text())


def test_downloading_a_torch_export_archive_warns_that_loading_it_unpickles(
    cli: Cli, tmp_path: Path
) -> None:
    program = torch.export.export(torch.nn.Linear(3, 2), (torch.ones(1, 3),))
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    archive = tmp_path / "linear.pt2"
    archive.write_bytes(buffer.getvalue())
    name = unique("pt2")
    ok(cli("--dev-account", "1", "models", "register", name))
    out = ok(cli("--dev-account", "1", "versions", "propose", name, str(archive)))
    cid = row_of(out, "artifact cid").split("│")[2].strip()

    dest = tmp_path / "downloaded.pt2"
    got = cli("artifacts", "download", cid, "-o", str(dest))
    assert got.exit_code == 0, got.output
    assert dest.read_bytes() == archive.read_bytes()
    warning = " ".join(got.stderr.split())  # as printed, folded at the terminal's width
    assert "warning: downloaded.pt2 is a torch.export archive (.pt2)" in warning
    assert "weights_only=False" in warning and "prefer safetensors" in warning
    as_json = json.loads(ok(cli("--json", "artifacts", "download", cid, "-o", str(dest))))
    assert "torch.export.load unpickles" in as_json["warning"]


def test_errors_print_one_red_line_and_exit_with_the_code_of_their_kind(
    cli: Cli, weights: Path
) -> None:
    missing = cli("models", "show", unique("nobody"))
    assert missing.exit_code == 3  # not found
    assert missing.stderr.startswith("error: no model is named")
    assert missing.stdout == ""

    name = unique("err")
    ok(cli("--dev-account", "1", "models", "register", name))
    duplicate = cli("--dev-account", "2", "models", "register", name)
    assert duplicate.exit_code == 4  # refused by the chain
    assert f"RegistryDuplicateName(name={name}" in duplicate.stderr
    assert f"the name '{name}' is taken" in duplicate.stderr

    bad_alias = cli("--dev-account", "1", "alias", "set", name, "Bad!", "1")
    assert bad_alias.exit_code == 2 and "alias 'Bad!' is invalid" in bad_alias.stderr
    no_file = cli("--dev-account", "1", "versions", "propose", name, "missing.safetensors")
    assert no_file.exit_code == 3 and "no artifact file at missing.safetensors" in no_file.stderr
    no_vote = cli("--dev-account", "2", "vote", "999999", "for")
    assert no_vote.exit_code == 3 and "999999" in no_vote.stderr
    not_member = cli("--dev-account", "6", "models", "register", unique("outsider"))
    assert not_member.exit_code == 4 and "error:" in not_member.stderr
    neither = cli("artifacts", "download", "-o", "x")
    assert neither.exit_code == 2 and "give either a CID or --version ID" in neither.stderr
    bad_cid = cli("artifacts", "download", "not-a-cid", "-o", "x")
    assert bad_cid.exit_code == 2 and "error:" in bad_cid.stderr

    url = f"http://127.0.0.1:{free_port()}"
    down = cli("--url", url, "models", "list")
    assert down.exit_code == 6  # unavailable
    assert f"service not reachable at {url}; start it with `govledger up`" in down.stderr

    usage = cli("vote", "1", "maybe")  # a usage error: click's convention, exit 2
    assert usage.exit_code == 2 and "maybe" in usage.output

    # a file without a suffix is told by its bytes: this one is safetensors
    no_suffix = weights.with_suffix("")
    no_suffix.write_bytes(weights.read_bytes())
    told = cli("--dev-account", "1", "--json", "versions", "propose", name, str(no_suffix))
    assert told.exit_code == 0, told.output
    assert json.loads(told.stdout)["version"]["number"] == 1


def test_info_command(cli: Cli) -> None:
    out = ok(cli("info"))
    assert "31337" in row_of(out, "chain id")
    assert "embedded" in row_of(out, "store")
    info = json.loads(ok(cli("--json", "info")))
    assert set(info["contracts"]) == {"Consortium", "ModelRegistry", "FederatedRounds"}
