"""``govledger history`` in this process against the session's stack: the table, the JSON Lines,
CSV and JSON exports equal the API's entries; filters; bad input; and ``versions show`` with the
block and time of the decision."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from service.api.schemas import VersionDecisionPublic
from service.api.timeline_schemas import TimelineEntryPublic, entry_of_csv_row
from service.cli.history import summary
from service.cli.render import decided
from service.client import GovLedgerClient
from tests.cli.conftest import Cli, approved_version, safetensors_bytes, unique
from tests.stack import Stack

REASON = "held-out accuracy 0.97 at site C"


@pytest.fixture(scope="module")
def story(
    stack: Stack, accounts: list[LocalAccount], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A model with a version approved by two votes (one with a reason) and an alias."""
    path = tmp_path_factory.mktemp("history") / "w.safetensors"
    path.write_bytes(safetensors_bytes(seed=uuid.uuid4().int % 2**63))
    with GovLedgerClient(base_url=stack.url, timeout=60) as client:
        owner, voter = accounts[1], accounts[2]
        model = client.register_model(owner, unique("history")).model
        written = client.propose_version(owner, model.model_id, path, artifact_format="safetensors")
        vid = written.version.version_id
        client.cast_vote(voter, vid, "for")
        client.attach_vote_reason(voter, vid, "for", REASON)
        client.cast_vote(accounts[3], vid, "for")
        client.move_alias(owner, model.model_id, "production", vid)
        return model.name


def api_entries(stack: Stack, name: str, **params: Any) -> list[dict[str, Any]]:
    """The entries as the REST API gives them, straight over HTTP (not through the client)."""
    model_id = httpx.get(f"{stack.url}/v1/models/by-name/{name}").json()["model_id"]
    page = httpx.get(
        f"{stack.url}/v1/models/{model_id}/timeline", params={"limit": 500, **params}
    ).json()
    assert page["next_cursor"] is None
    entries: list[dict[str, Any]] = page["entries"]
    return entries


def test_the_table_shows_each_entry(cli: Cli, stack: Stack, story: str) -> None:
    result = cli("history", story)
    assert result.exit_code == 0, result.output
    entries = api_entries(stack, story)
    assert [e["kind"] for e in entries] == [
        "model_registered",
        "version_proposed",
        "vote_cast",
        "vote_cast",
        "version_approved",
        "alias_moved",
    ]
    assert f"{len(entries)} entries" in result.stdout
    for e in entries:
        assert e["kind"] in result.stdout and str(e["block"]) in result.stdout
    assert f"registered {story} (open)" in result.stdout
    assert f"production -> {story}@1" in result.stdout
    assert f"{story}@1 approved (quorum reached)" in result.stdout
    assert " UTC" in result.stdout  # times as people read them, with their zone
    flat = " ".join(result.stdout.split())
    assert REASON.split()[0] in flat


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_exports_equal_the_apis_entries(
    cli: Cli, stack: Stack, story: str, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"history.{fmt}"
    result = cli("history", story, "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    entries = api_entries(stack, story)
    assert f"wrote {len(entries)} entries" in " ".join(result.stderr.split())
    text = out.read_text(encoding="utf-8")
    if fmt == "jsonl":
        assert [json.loads(line) for line in text.splitlines()] == entries
    elif fmt == "csv":
        with out.open(newline="", encoding="utf-8") as f:
            rows = [entry_of_csv_row(row) for row in csv.DictReader(f)]
        assert rows == [{k: e[k] for k in rows[0]} for e in entries]
        assert rows[2]["details"]["reason"] == REASON
    else:
        assert json.loads(text) == entries
    # to stdout without -o, and --json is --format json
    piped = cli("history", story, "--format", fmt)
    assert piped.exit_code == 0 and piped.stdout == text
    assert json.loads(cli("--json", "history", story).stdout) == entries


def test_filters_and_limit(cli: Cli, stack: Stack, story: str) -> None:
    votes = cli("--json", "history", story, "--kind", "vote_cast", "--kind", "alias_moved")
    assert votes.exit_code == 0, votes.output
    expected = api_entries(stack, story, kind=["vote_cast", "alias_moved"])
    assert [e["kind"] for e in expected] == ["vote_cast", "vote_cast", "alias_moved"]
    assert json.loads(votes.stdout) == expected
    everything = api_entries(stack, story)
    low = everything[1]["block"]
    ranged = cli("--json", "history", story, "--from-block", str(low), "--to-block", str(low))
    assert json.loads(ranged.stdout) == [e for e in everything if e["block"] == low]
    first = cli("--json", "history", story, "--limit", "2")
    assert json.loads(first.stdout) == everything[:2]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--kind", "explosion"], 2, "explosion"),
        (["-o", "x.txt"], 2, "--format jsonl"),
        (["--from-block", "9", "--to-block", "3"], 2, "after --to-block"),
        (["--to-block", str(10**12)], 2, "not mined yet"),
        (["--format", "xml"], 2, "xml"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    cli: Cli, story: str, args: list[str], code: int, says: str
) -> None:
    result = cli("history", story, *args)
    assert result.exit_code == code, result.output
    assert says in " ".join(result.output.split())


def test_an_unknown_model_exits_3(cli: Cli) -> None:
    result = cli("history", "no-such-model-anywhere")
    assert result.exit_code == 3, result.output
    assert cli("history", "999999").exit_code == 3


def test_versions_show_says_when_the_version_was_decided(
    cli: Cli, client: GovLedgerClient, stack: Stack, story: str
) -> None:
    entries = api_entries(stack, story, kind="version_approved")
    (approved,) = entries
    result = cli("versions", "show", f"{story}@1")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert f"approved at block {approved['block']}" in flat
    assert "(quorum reached)" in flat
    shown = json.loads(cli("--json", "versions", "show", f"{story}@1").stdout)
    assert shown["decision"]["block_number"] == approved["block"]
    assert shown["decision"]["transaction_hash"] == approved["transaction_hash"]
    version = client.resolve_version(f"{story}@1")
    assert version.decision is not None and version.decision.how == "quorum_reached"


def test_an_open_version_shows_no_decision(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], weights: Path
) -> None:
    written = approved_version(client, accounts, weights)
    owner = accounts[1]
    other = weights.with_name("other.safetensors")
    other.write_bytes(safetensors_bytes(seed=uuid.uuid4().int % 2**63))
    open_ = client.propose_version(
        owner, written.version.model_id, other, artifact_format="safetensors"
    )
    shown = json.loads(cli("--json", "versions", "show", str(open_.version.version_id)).stdout)
    assert (shown["state"], shown["decision"]) == ("proposed", None)
    table = cli("versions", "show", str(open_.version.version_id)).stdout
    assert "decided" not in table


def test_an_expired_ballot_reads_as_such_in_the_table() -> None:
    """The table's words for an entry no event records (the API test checks the entry)."""
    entry = TimelineEntryPublic(
        kind="ballot_expired",
        actor=None,
        block=40,
        log_index=-1,
        timestamp=1_800_000_100,
        time=datetime.fromtimestamp(1_800_000_100, UTC),
        transaction_hash=None,
        version_id=7,
        version_number=3,
        details={"deadline": 1_800_000_000, "recorded_block": None},
    )
    assert summary(entry, "digits") == (
        "digits@3 ballot expired at 2027-01-15 08:00:00 UTC without approval: rejected "
        "(no event; not recorded yet)"
    )
    recorded = entry.model_copy(update={"details": {**entry.details, "recorded_block": 52}})
    assert summary(recorded, "digits").endswith("(recorded at block 52)")


def test_versions_show_words_a_decision_and_an_unrecorded_expiry() -> None:
    recorded = VersionDecisionPublic(
        state="approved",
        how="quorum_reached",
        block_number=812,
        timestamp=1_800_000_000,
        time=datetime.fromtimestamp(1_800_000_000, UTC),
        transaction_hash="0x" + "ab" * 32,
        deadline=1_800_003_600,
    )
    assert decided(recorded) == "approved at block 812, 2027-01-15 08:00:00 UTC (quorum reached)"
    expired = VersionDecisionPublic(
        state="rejected",
        how="expired",
        block_number=None,
        timestamp=None,
        time=None,
        transaction_hash=None,
        deadline=1_800_003_600,
        expired_at=datetime.fromtimestamp(1_800_003_600, UTC),
    )
    assert decided(expired) == (
        "rejected: expired at 2027-01-15 09:00:00 UTC (no event yet; the contract's rule)"
    )
