"""The first hour of a new member, participant or auditor, as it was met (the issue "The first
hour"): each test replays one complaint against the session's real stack and shows it answered.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import httpx
import torch
from eth_account.signers.local import LocalAccount
from safetensors.torch import load_file, save_file
from typer.testing import Result

from service.client import GovLedgerClient
from tests.cli.conftest import Cli, safetensors_bytes, unique
from tests.stack import Stack, free_port


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def said(result: Result) -> str:
    """stderr with the console's line folding undone."""
    return " ".join(result.stderr.split())


def field(table: str, name: str) -> str:
    """The value of row ``name`` of a two-column table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 3 and cells[1] == name:
            return cells[2]
    raise AssertionError(f"no row {name!r} in\n{table}")


def weights_file(path: Path, seed: int) -> Path:
    path.write_bytes(safetensors_bytes(seed=seed))
    return path


def relayer_transactions(stack: Stack) -> int:
    """Transactions the service's relayer (dev account 0) has sent: what a refusal must not
    change."""
    answer = httpx.post(
        stack.settings.rpc_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getTransactionCount",
            "params": ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"],
        },
    ).json()
    return int(answer["result"], 16)


def fresh_seed() -> int:
    return int(unique("s").split("-")[1], 16) % 2**31


def approve(client: GovLedgerClient, accounts: list[LocalAccount], version_id: int) -> None:
    for voter in accounts[2:4]:
        client.cast_vote(voter, version_id, "for")


# ---------------------------------------------------------------- 1. addressing


def test_versions_are_numbered_per_model_and_named_model_at_n_or_model_alias(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """The complaint: `alias set tiny-clf production 1` failed with "version 1 belongs to
    model 1, not model 2", since 1 was the chain's version id."""
    first, second = unique("digits-mlp"), unique("tiny-clf")
    ok(cli("--dev-account", "1", "models", "register", first))
    ok(cli("--dev-account", "1", "models", "register", second))
    ok(cli("--dev-account", "1", "versions", "propose", first,
           str(weights_file(tmp_path / "a.safetensors", fresh_seed()))))  # fmt: skip
    proposed = json.loads(
        ok(cli("--dev-account", "1", "--json", "versions", "propose", second,
               str(weights_file(tmp_path / "b.safetensors", fresh_seed()))))
    )["version"]  # fmt: skip
    assert (proposed["model_name"], proposed["number"]) == (second, 1)
    assert proposed["version_id"] > 1  # ids run across models; numbers within one
    approve(client, accounts, proposed["version_id"])

    moved = ok(cli("--dev-account", "1", "alias", "set", second, "production", "1"))
    assert field(moved, "version") == f"{second}@1 (id {proposed['version_id']})"
    assert (
        client.get_alias(proposed["model_id"], "production").version_id == (proposed["version_id"])
    )

    # the same version by number, by alias and by id, in the CLI and the API
    for ref in (f"{second}@1", f"{second}:production", str(proposed["version_id"])):
        shown = ok(cli("versions", "show", ref))
        assert field(shown, "version") == f"{second}@1", ref
        assert field(shown, "id") == str(proposed["version_id"]), ref
        assert client.resolve_version(ref).version_id == proposed["version_id"], ref
    by_number = client.get_version_by_number(proposed["model_id"], 1)
    assert by_number.version_id == proposed["version_id"]
    listed = ok(cli("versions", "list", second))
    assert f"{second}@1" in listed and "version" in listed.splitlines()[2]

    # a parent by its number in the model too
    derived = ok(cli("--dev-account", "1", "versions", "propose", second,
                     str(weights_file(tmp_path / "c.safetensors", fresh_seed())),
                     "--kind", "aggregate", "--parent", "1"))  # fmt: skip
    assert field(derived, "version") == f"{second}@2"
    assert field(derived, "parent") == f"{second}@1 (id {proposed['version_id']})"

    # numbers in the alias tables too
    assert f"{second}@1 (id {proposed['version_id']})" in ok(cli("alias", "list", second))
    assert f"{second}@1" in ok(cli("alias", "history", second, "production"))

    # wrong references: what was wrong and what to give instead, nothing changed
    zero = cli("versions", "show", f"{second}@0")
    assert zero.exit_code == 2 and "numbered from 1" in said(zero)
    beyond = cli("versions", "show", f"{second}@9")
    assert beyond.exit_code == 3
    assert f"model '{second}' has no version 9 ({second}@9); it has versions 1 to 2" in said(beyond)
    garbage = cli("versions", "show", "what?")
    assert garbage.exit_code == 2 and "give NAME@N" in said(garbage)
    other = cli("--dev-account", "1", "alias", "set", second, "production", f"{first}@1")
    assert other.exit_code == 2 and f"is a version of model '{first}'" in said(other)


def test_rounds_and_builds_take_version_names_and_show_them(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """The same complaint, met again in the commands that came later: `rounds open tiny-clf
    --base 1` failed with "version 1 belongs to model 1, not model 2", `--base tiny-clf@1` was
    "not a valid integer", and rounds and builds showed bare ids."""
    first, name = unique("older"), unique("tiny-clf")
    ok(cli("--dev-account", "1", "models", "register", first))
    ok(cli("--dev-account", "1", "versions", "propose", first,
           str(weights_file(tmp_path / "a.safetensors", fresh_seed()))))  # fmt: skip
    ok(cli("--dev-account", "1", "models", "register", name))
    ok(cli("--dev-account", "1", "versions", "propose", name,
           str(weights_file(tmp_path / "b.safetensors", fresh_seed()))))  # fmt: skip
    base = client.resolve_version(f"{name}@1")
    assert base.version_id != 1
    approve(client, accounts, base.version_id)
    ok(cli("--dev-account", "1", "rights", "grant", name, accounts[5].address, "submit_updates"))
    label = f"{name}@1 (id {base.version_id})"

    opened = ok(cli("--dev-account", "1", "rounds", "open", name, "--base", "1",
                    "--rule", "fedavg", "--min", "1", "--max", "1"))  # fmt: skip
    assert field(opened, "model") == name and field(opened, "base version") == label
    round_id = field(opened, "round")
    for ref in (f"{name}@1", "@1"):  # by reference too
        parsed = cli("--dev-account", "1", "--json", "rounds", "open", name, "--base", ref,
                     "--rule", "fedavg", "--min", "1", "--max", "1")  # fmt: skip
        assert json.loads(ok(parsed))["round"]["base_version_id"] == base.version_id, ref
    foreign = cli("--dev-account", "1", "rounds", "open", name, "--base", f"{first}@1")
    assert foreign.exit_code == 2 and f"is a version of model '{first}'" in said(foreign)

    listed = ok(cli("rounds", "list", name))
    assert label in listed and name in listed
    update = tmp_path / "update.safetensors"
    update.write_bytes(safetensors_bytes(seed=fresh_seed()))
    ok(cli("--dev-account", "5", "rounds", "submit", round_id, str(update), "--samples", "3"))
    shown = ok(cli("rounds", "show", round_id))
    assert field(shown, "base version") == label and field(shown, "state") == "closed"

    # a closed round, in words: no state names from the contract, what to do instead
    late = cli("--dev-account", "5", "rounds", "submit", round_id, str(update), "--samples", "3")
    assert late.exit_code == 4
    assert (
        f"round {round_id} takes no more updates: it is closed, so it can be neither submitted"
        in (said(late))
    )
    assert "this needs it Open" not in said(late)
    early = cli("rounds", "aggregate", round_id)
    assert early.exit_code == 0, early.output  # closed at its maximum: it aggregates
    cancelled = ok(cli("--dev-account", "1", "rounds", "open", name, "--base", "1",
                       "--rule", "fedavg", "--min", "1", "--max", "2"))  # fmt: skip
    open_id = field(cancelled, "round")
    too_soon = cli("--dev-account", "1", "rounds", "finalize", open_id)
    assert too_soon.exit_code == 4
    assert f"round {open_id} is open; it is aggregated once closed" in said(too_soon)

    # builds and predictions take the same names; an alias after @ is pointed to its colon
    alias = cli("predict", f"{name}@fast", "--inputs", "[[0]]")
    assert alias.exit_code == 2
    assert f"an alias follows a colon ({name}:fast)" in said(alias)
    not_built = cli("accelerate", name, f"{first}@1", "--dev-account", "1")
    assert not_built.exit_code == 2 and f"is a version of model '{first}'" in said(not_built)


# ---------------------------------------------------------------- 2. exit codes, machine output


def test_exit_codes_by_kind_json_errors_and_global_options_after_the_command(
    cli: Cli, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """The complaints: every failure exited 1; `--json` errors were red text; `govledger
    models list --json` answered "No such option"; `status` exited 0 with the stack down."""
    listed = json.loads(ok(cli("models", "list", "--json", "--limit", "1")))
    assert set(listed) == {"items", "total", "offset", "limit", "indexed_to_block"}
    name = unique("after")
    registered = json.loads(ok(cli("models", "register", name, "--dev-account", "1", "--json")))
    assert registered["model"]["owner"] == accounts[1].address

    missing = cli("models", "show", unique("nobody"), "--json")
    assert missing.exit_code == 3 and missing.stdout == ""
    error = json.loads(missing.stderr)["error"]
    assert (error["kind"], error["exit_code"], error["status"]) == ("not_found", 3, 404)
    assert error["message"].startswith("no model is named")

    refused = cli("models", "register", name, "--dev-account", "2", "--json")
    error = json.loads(refused.stderr)["error"]
    assert refused.exit_code == 4 and error["kind"] == "refused"
    assert error["contract_error"]["name"] == "RegistryDuplicateName"

    unsigned = cli("--json", "models", "register", unique("x"))
    assert unsigned.exit_code == 5 and json.loads(unsigned.stderr)["error"]["kind"] == "signature"

    # an upload's progress bar is for people: with --json, stderr is the error's JSON alone
    weights = weights_file(tmp_path / "w.safetensors", fresh_seed())
    uploaded = cli("--dev-account", "1", "--json", "versions", "propose", name, str(weights))
    assert uploaded.exit_code == 0 and uploaded.stderr == "", uploaded.stderr
    assert json.loads(uploaded.stdout)["version"]["number"] == 1
    again = cli("--dev-account", "1", "--json", "versions", "propose", name, str(weights))
    assert again.exit_code == 4, again.output
    assert json.loads(again.stderr)["error"]["message"].startswith("these bytes are")

    usage = cli("vote", "1", "maybe", "--json")
    assert usage.exit_code == 2
    assert json.loads(usage.stderr)["error"]["kind"] == "bad_input"

    down = cli("--json", "--url", f"http://127.0.0.1:{free_port()}", "models", "list")
    assert down.exit_code == 6 and json.loads(down.stderr)["error"]["kind"] == "unavailable"

    helped = " ".join(ok(cli("--help")).split())
    assert "Exit codes: 0 done; 1 other failure; 2 bad input (usage); 3 not found" in helped
    assert "go before or after the command" in helped

    # a stack that is down: status says so on stdout and exits 6
    stopped = cli(
        "--json", "status",
        GOVLEDGER_DATA_DIR=str(tmp_path / "none"), GOVLEDGER_SERVICE_PORT=str(free_port()),
        GOVLEDGER_CHAIN_PORT=str(free_port()),
    )  # fmt: skip
    assert stopped.exit_code == 6
    assert json.loads(stopped.stdout)["service"]["ready"] is False
    assert ok(cli("status", GOVLEDGER_SERVICE_PORT=cli.url.rsplit(":", 1)[1])) != ""


# ---------------------------------------------------------------- 3. human values


def test_times_names_and_messages_read_as_people_read_them(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """The complaints: times without a zone (and `+00:00` at sign-in), a Unix time where a
    date was meant, a decided ballot as "is Approved; this needs it Proposed", no "did you
    mean" for a typo, the name rule as a regular expression."""
    name = unique("human")
    ok(cli("--dev-account", "1", "models", "register", name))
    ok(cli("--dev-account", "1", "versions", "propose", name,
           str(weights_file(tmp_path / "w.safetensors", fresh_seed()))))  # fmt: skip

    early = cli("versions", "finalize", f"{name}@1")
    assert early.exit_code == 4
    assert re.search(
        rf"voting on version \d+ \({name}@1\) is open until \d{{4}}-\d\d-\d\d \d\d:\d\d UTC "
        r"\(in \d+ (minutes|hours?|days?)\)",  # other tests move the chain's clock ahead
        said(early),
    ), said(early)

    shown = ok(cli("versions", "show", f"{name}@1"))
    assert re.fullmatch(
        r"open until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ (minutes|hours?|days?)\)",
        field(shown, "voting"),
    )
    approve(client, accounts, client.resolve_version(f"{name}@1").version_id)
    votes = ok(cli("votes", "list", f"{name}@1"))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", votes)

    decided = cli("--dev-account", "1", "vote", f"{name}@1", "for")
    assert decided.exit_code == 4
    assert f"({name}@1) is closed: approved" in said(decided)
    assert "this needs it Proposed" not in said(decided)

    login = ok(cli("--dev-account", "1", "login"))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in \d+ minutes\)", field(login, "expires")
    )
    assert "+00:00" not in login

    artifact = str(tmp_path / "w.safetensors")
    aggregate = cli("--dev-account", "1", "versions", "propose", name, artifact,
                    "--kind", "aggregate", "--allow-duplicate")  # fmt: skip
    assert aggregate.exit_code == 2 and "an aggregate version needs a parent" in said(aggregate)

    typo = cli("models", "show", name[:-1] + "x")
    assert typo.exit_code == 3 and f"(did you mean '{name}'?)" in said(typo)
    badly = cli("--dev-account", "1", "models", "register", "Digits_MLP")
    assert badly.exit_code == 2
    assert "model name 'Digits_MLP' has upper-case letters ('D', 'L', 'M', 'P')" in said(badly)
    assert "each a lower-case letter a-z, a digit 0-9" in said(badly)
    assert "'digits_mlp' would do" in said(badly) and "[a-z" not in said(badly)

    period = ok(cli("consortium", "show"))
    assert field(period, "voting period") == "3600 s (1 hour)"


# ---------------------------------------------------------------- 4. sessions


def test_sessions_are_per_account_and_the_active_one_is_explicit(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """The complaint: after `govledger --as carol login`, a download failed with "sign in
    first": an earlier download as another account had saved a second session, and with two
    the CLI used neither."""
    name = unique("sessions")
    ok(cli("--dev-account", "1", "models", "register", name, "--restricted"))
    ok(cli("--dev-account", "1", "versions", "propose", name,
           str(weights_file(tmp_path / "w.safetensors", fresh_seed()))))  # fmt: skip
    approve(client, accounts, client.resolve_version(f"{name}@1").version_id)
    for reader in (accounts[2], accounts[3]):
        ok(cli("--dev-account", "1", "rights", "grant", name, reader.address, "read_artifacts"))
    out = str(tmp_path / "got.safetensors")

    # an earlier download as account 1 signs in by itself and keeps that session
    ok(cli("--dev-account", "1", "artifacts", "download", "--version", f"{name}@1", "-o", out))
    ok(cli("--dev-account", "2", "login"))  # carol's login: her session becomes the active one
    ok(cli("artifacts", "download", "--version", f"{name}@1", "-o", out))  # no key: carol's
    sessions = json.loads(ok(cli("--json", "sessions", "list")))
    assert {(s["address"], s["active"]) for s in sessions} == {
        (accounts[1].address, False),
        (accounts[2].address, True),
    }

    # another account's session, by choice
    ok(cli("sessions", "use", accounts[1].address))
    assert accounts[1].address in ok(cli("sessions", "list"))
    ok(cli("artifacts", "download", "--version", f"{name}@1", "-o", out))

    # two sessions and none active: the message says whose they are and how to choose
    ok(cli("--dev-account", "3", "artifacts", "download", "--version", f"{name}@1", "-o", out))
    ok(cli("--dev-account", "1", "logout"))  # the active one ends: none is active now
    stuck = cli("artifacts", "download", "--version", f"{name}@1", "-o", out)
    assert stuck.exit_code == 5, stuck.output
    assert (
        f"sessions at {cli.url} exist for {accounts[2].address}, {accounts[3].address} but none "
        "is active: choose one with `govledger sessions use ADDRESS`, or act as one with --as "
        "NAME / --dev-account N"
    ) in said(stuck)
    ok(cli("--dev-account", "3", "artifacts", "download", "--version", f"{name}@1", "-o", out))


# ---------------------------------------------------------------- 5. wrong files


def test_a_pickle_is_refused_before_upload_with_the_reason_and_convert_offered(
    cli: Cli, client: GovLedgerClient, tmp_path: Path, stack: Stack
) -> None:
    """The complaints: `versions propose … tiny.pt` said "cannot tell the format; give
    --format"; with `--format safetensors` it uploaded, then failed with a header-length
    number."""
    name = unique("files")
    ok(cli("--dev-account", "1", "models", "register", name))
    state = {"w": torch.randn(8, 4, generator=torch.Generator().manual_seed(fresh_seed()))}
    checkpoint = tmp_path / "tiny.pt"
    torch.save(state, checkpoint)
    before = relayer_transactions(stack)

    told = cli("--dev-account", "1", "versions", "propose", name, str(checkpoint))
    assert told.exit_code == 2
    text = said(told)
    assert "tiny.pt is a zip archive as torch.save writes" in text
    assert (
        "The ledger refuses pickles on purpose: unpickling" in text and "runs whatever code" in text
    )
    assert "`govledger convert tiny.pt -o tiny.safetensors`" in text and "give --format" not in text
    assert "nothing was uploaded" in text

    forced = cli("--dev-account", "1", "versions", "propose", name, str(checkpoint),
                 "--format", "safetensors")  # fmt: skip
    assert forced.exit_code == 2
    assert "tiny.pt is not a safetensors file: it is a zip archive" in said(forced)
    assert "header length" not in said(forced) and "uploading" not in forced.stderr
    legacy = tmp_path / "legacy.pt"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    old = cli("--dev-account", "1", "versions", "propose", name, str(legacy))
    assert old.exit_code == 2 and "legacy.pt is a pickle" in said(old)
    assert relayer_transactions(stack) == before
    assert client.list_versions(client.get_model_by_name(name).model_id).total == 0

    converted = tmp_path / "tiny.safetensors"
    ok(cli("convert", str(checkpoint), "-o", str(converted)))
    assert torch.equal(load_file(converted)["w"], state["w"])
    proposed = json.loads(
        ok(cli("--dev-account", "1", "--json", "versions", "propose", name, str(converted)))
    )
    assert proposed["version"]["number"] == 1


def test_convert_loads_with_weights_only_and_nothing_else(cli: Cli, tmp_path: Path) -> None:
    """`govledger convert` reads a user's own checkpoint with torch.load(weights_only=True)
    only: a pickle that would run code is refused, and its code does not run."""
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(ran),))  # what loading with weights_only=False would do

    evil = tmp_path / "evil.pt"
    with evil.open("wb") as f:
        pickle.dump({"w": Payload()}, f, protocol=2)
    refused = cli("convert", str(evil), "-o", str(tmp_path / "evil.safetensors"))
    assert refused.exit_code == 2 and "torch.load(weights_only=True) refused evil.pt" in said(
        refused
    )
    assert not ran.exists() and not (tmp_path / "evil.safetensors").exists()

    module = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(3, 2), module)
    whole = cli("convert", str(module), "-o", str(tmp_path / "m.safetensors"))
    assert whole.exit_code == 2
    assert "it pickles torch.nn.modules.linear.Linear" in said(whole)
    assert "torch.save(model.state_dict(), path)" in said(whole)

    net = torch.nn.Linear(3, 2)
    full = tmp_path / "ckpt.pt"
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, full)
    mixed = cli("convert", str(full), "-o", str(tmp_path / "c.safetensors"))
    assert mixed.exit_code == 2 and "choose the weights with --key" in said(mixed)
    assert "model_state_dict (2 tensors)" in said(mixed)
    ok(
        cli(
            "convert", str(full), "--key", "model_state_dict", "-o", str(tmp_path / "c.safetensors")
        )
    )
    assert torch.equal(load_file(tmp_path / "c.safetensors")["weight"], net.weight.detach())
    again = cli(
        "convert", str(full), "--key", "model_state_dict", "-o", str(tmp_path / "c.safetensors")
    )
    assert again.exit_code == 2 and "exists; give another --output or --force" in said(again)

    already = tmp_path / "w.safetensors"
    save_file({"w": torch.zeros(2)}, already)
    same = cli("convert", str(already), "-o", str(tmp_path / "x.safetensors"))
    assert same.exit_code == 2 and "propose it as it is" in said(same)


# ---------------------------------------------------------------- 6. quiet surprises


def test_same_bytes_no_op_rights_and_unknown_aliases_are_refused_before_sending(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path, stack: Stack
) -> None:
    """The complaints: the same bytes proposed again became a new version silently (the demo
    run twice made version 4 a copy of version 1); granting a right held or revoking one not
    held sent a transaction; an unknown alias printed "-" and exited 0."""
    name = unique("quiet")
    ok(cli("--dev-account", "1", "models", "register", name))
    artifact = weights_file(tmp_path / "w.safetensors", fresh_seed())
    first = json.loads(
        ok(cli("--dev-account", "1", "--json", "versions", "propose", name, str(artifact)))
    )["version"]
    before = relayer_transactions(stack)

    again = cli("--dev-account", "1", "versions", "propose", name, str(artifact))
    assert again.exit_code == 4
    assert f"these bytes are already {name}@1 (version {first['version_id']}, proposed)" in said(
        again
    )
    assert "--allow-duplicate" in said(again) and "uploading" not in again.stderr
    assert relayer_transactions(stack) == before
    copy = json.loads(
        ok(cli("--dev-account", "1", "--json", "versions", "propose", name, str(artifact),
               "--allow-duplicate"))
    )["version"]  # fmt: skip
    assert copy["number"] == 2 and copy["artifact_digest"] == first["artifact_digest"]

    reader = accounts[6].address
    ok(cli("--dev-account", "1", "rights", "grant", name, reader, "read_artifacts"))
    before = relayer_transactions(stack)
    held = cli("--dev-account", "1", "rights", "grant", name, reader, "read_artifacts", "maintain")
    assert held.exit_code == 4
    assert f"{reader} already holds read_artifacts on model '{name}'" in said(held)
    assert "grant only maintain" in said(held)
    absent = cli("--dev-account", "1", "rights", "revoke", name, reader, "maintain")
    assert absent.exit_code == 4
    assert f"does not hold maintain on model '{name}' (it holds read_artifacts)" in said(absent)
    owner = cli("--dev-account", "1", "rights", "grant", name, accounts[1].address, "maintain")
    assert owner.exit_code == 4 and "holds every right" in said(owner)
    assert relayer_transactions(stack) == before
    assert client.get_rights(client.get_model_by_name(name).model_id, reader).rights == [
        "read_artifacts"
    ]

    approve(client, accounts, first["version_id"])
    ok(cli("--dev-account", "1", "alias", "set", name, "production", "1"))
    unknown = cli("alias", "show", name, "prodution")
    assert unknown.exit_code == 3
    assert f"model '{name}' has no alias named 'prodution' (did you mean 'production'?)" in said(
        unknown
    )
    ok(cli("--dev-account", "1", "alias", "set", name, "production", "none"))
    cleared = ok(cli("alias", "show", name, "production"))
    assert field(cleared, "version").startswith("- (cleared")
    gone = cli("versions", "show", f"{name}:production")
    assert gone.exit_code == 3 and "the alias was cleared" in said(gone)


# ---------------------------------------------------------------- 9. next to MLflow


def test_descriptions_tags_metrics_search_ballots_and_reasons(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """What a member missed next to MLflow: version descriptions and tags (searchable), the
    metrics in `versions show`, `ballots --mine`, and a reason with a vote."""
    name = unique("mlflow")
    word = unique("w").replace("-", "")
    ok(cli("--dev-account", "1", "models", "register", name))
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"metrics": {"test_accuracy": 0.9712, "loss": 0.08}}))
    ok(cli("--dev-account", "1", "versions", "propose", name,
           str(weights_file(tmp_path / "a.safetensors", fresh_seed())), "--metadata", str(metrics),
           "--description", f"two hidden layers {word}", "--tag", "stage=candidate",
           "--tag", "data=digits"))  # fmt: skip
    draft = str(weights_file(tmp_path / "b.safetensors", fresh_seed()))
    ok(cli("--dev-account", "1", "versions", "propose", name, draft, "--tag", "stage=draft"))

    shown = ok(cli("versions", "show", f"{name}@1"))
    assert field(shown, "description") == f"two hidden layers {word}"
    assert field(shown, "tags") == "data=digits, stage=candidate"
    assert field(shown, "metric test_accuracy") == "0.9712"
    assert field(shown, "metric loss") == "0.08"
    as_json = json.loads(ok(cli("--json", "versions", "show", f"{name}@1")))
    assert as_json["metadata"]["metrics"]["test_accuracy"] == 0.9712

    found = json.loads(ok(cli("--json", "versions", "search", word)))
    assert [(v["model_name"], v["number"]) for v in found["items"]] == [(name, 1)]
    tagged = json.loads(
        ok(cli("--json", "versions", "search", "--model", name, "--tag", "stage=draft"))
    )
    assert [v["number"] for v in tagged["items"]] == [2]
    assert (
        json.loads(ok(cli("--json", "versions", "search", "--model", name, "--tag", "stage")))[
            "total"
        ]
        == 2
    )

    waiting = json.loads(ok(cli("--dev-account", "2", "--json", "ballots", "--mine")))
    mine = [b["version"]["number"] for b in waiting if b["kind"] == "version"
            and b["version"]["model_name"] == name]  # fmt: skip
    assert mine == [1, 2]
    table = ok(cli("--dev-account", "2", "ballots", "--mine"))
    assert f"govledger vote {name}@1 for|against|abstain" in table
    voted = ok(cli("--dev-account", "2", "vote", f"{name}@2", "against", "--reason",
                   "worse than @1 on the held-out site"))  # fmt: skip
    assert field(voted, "reason") == "worse than @1 on the held-out site"
    waiting = json.loads(ok(cli("--dev-account", "2", "--json", "ballots", "--mine")))
    assert [b["version"]["number"] for b in waiting if b["kind"] == "version"
            and b["version"]["model_name"] == name] == [1]  # fmt: skip
    needs_key = cli("ballots", "--mine")
    assert needs_key.exit_code == 5 and "--mine needs to know who you are" in said(needs_key)

    votes = json.loads(ok(cli("--json", "votes", "list", f"{name}@2")))
    reason = votes[0]["reason"]
    assert reason["reason"] == "worse than @1 on the held-out site"
    assert (reason["voter"], reason["support"]) == (accounts[2].address, "against")
    assert "worse than @1" in ok(cli("votes", "list", f"{name}@2"))
    # an auditor checks it without the service: the voter signed the document's digest
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from service.chain.actions import DOMAIN_NAMES, Domain, store_metadata_statement
    from service.domain.reasons import reason_document
    from service.store.chunker import iter_chunks
    from service.store.unixfs import compute_cid

    document = reason_document(
        version_id=votes[0]["version_id"], voter=accounts[2].address, support="against",
        reason=reason["reason"],
    )  # fmt: skip
    cid, _ = compute_cid(iter_chunks(document))
    assert str(cid) == reason["cid"]
    info = client.info()
    statement = store_metadata_statement(
        domain=Domain(
            name=DOMAIN_NAMES["ModelRegistry"],
            chain_id=info.chain_id,
            verifying_contract=info.contracts["ModelRegistry"].address,
        ),
        digest=cid.digest,
        actor=accounts[2].address,
        deadline=reason["deadline"],
    )
    signer = Account.recover_message(
        encode_typed_data(full_message=statement.typed_data()), signature=reason["signature"]
    )
    assert signer == accounts[2].address

    # a reason goes with one's own vote only
    not_voted = cli("--dev-account", "3", "votes", "reason", f"{name}@2", "--reason", "why not")
    assert not_voted.exit_code == 4 and "has not voted on" in said(not_voted)
