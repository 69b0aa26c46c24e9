"""``govledger rounds`` in this process against the session's stack: the coordinator opens a
round, participants see it waiting, fetch the base (verified), submit their updates, the round
closes, anyone aggregates, the owner finalizes, anyone verifies the bytes; an aggregate finalized
by hand with other bytes fails verification with exit 7."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from eth_account.signers.local import LocalAccount
from safetensors.numpy import load as load_numpy
from safetensors.numpy import save as save_numpy
from typer.testing import Result

from service.chain.ledger import Ledger
from service.chain.setup import connect_ledger
from service.chain.types import ExclusionReason
from service.client import GovLedgerClient
from service.client.errors import VerificationFailed
from service.ml.safetensors_format import with_sorted_metadata
from tests.api.conftest import cid_of
from tests.cli.conftest import Cli, unique
from tests.stack import Stack

PARTICIPANTS = (5, 6, 7)  # dev accounts (outsiders to the consortium)


@pytest.fixture(scope="module")
def ledger(stack: Stack) -> Iterator[Ledger]:
    yield connect_ledger(stack.settings)


def weights_file(path: Path, seed: int, scale: float = 1.0) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {
        "weight": (rng.standard_normal((8, 4)) * scale).astype(np.float32),
        "bias": (rng.standard_normal(4) * scale).astype(np.float32),
    }
    path.write_bytes(with_sorted_metadata(save_numpy(arrays)))
    return path


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


class AnswersForAnother(httpx.HTTPTransport):
    """The real service's answers, an update status asked about one participant answered with
    another's (genuinely included) update, proof and all."""

    def __init__(self, other: str) -> None:
        super().__init__()
        self.other = other

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/updates/" in request.url.path:
            path = request.url.path.rsplit("/", 1)[0] + "/" + self.other
            request = httpx.Request(request.method, request.url.copy_with(path=path))
        return super().handle_request(request)


class ClaimsMoreSamples(httpx.HTTPTransport):
    """The real service's answers, with an update status's sample count raised by one."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if "/updates/" not in request.url.path:
            return response
        body = json.loads(response.read())
        body["update"]["sample_count"] += 1
        return httpx.Response(response.status_code, json=body)


def a_full_round(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> tuple[str, int, int]:
    """A model with an approved base, a round of three updates closed at its maximum; returns
    the model's name, the base's version id and the round's id."""
    owner = accounts[1]
    name = unique("fl-cli")
    model_id = client.register_model(owner, name).model.model_id
    base = weights_file(tmp_path / "base.safetensors", seed=1)
    version = client.propose_version(owner, model_id, base, artifact_format="safetensors")
    base_id = version.version.version_id
    for voter in accounts[2:4]:
        client.cast_vote(voter, base_id, "for")
    for i in PARTICIPANTS:
        client.grant_rights(owner, model_id, accounts[i].address, ["submit_updates"])

    command = ["--dev-account", "1", "--json", "rounds", "open", name, "--base", "1"]
    command += ["--rule", "multi-krum", "--param", "f=0", "--param", "m=3"]
    command += ["--min", "2", "--max", "3", "--deadline", "1h"]
    opened = as_json(cli(*command, "--max-norm", "5"))
    round_id = int(opened["round"]["round_id"])
    for n, i in enumerate(PARTICIPANTS):
        mine = as_json(cli("--dev-account", str(i), "--json", "rounds", "list", "--mine"))
        assert round_id in [r["round_id"] for r in mine["items"]]
        fetched = tmp_path / f"base-{i}.safetensors"
        got = cli("--dev-account", str(i), "rounds", "base", str(round_id), "-o", str(fetched))
        assert got.exit_code == 0, got.output
        assert load_numpy(fetched.read_bytes()).keys() == {"weight", "bias"}
        # the participant trains (here: the base plus a small step) and computes its update
        trained = tmp_path / f"trained-{i}.safetensors"
        drawn = load_numpy(weights_file(trained, seed=10 + n).read_bytes())
        step = {k: v * 0.1 for k, v in drawn.items()}
        base_arrays = load_numpy(fetched.read_bytes())
        trained.write_bytes(save_numpy({k: base_arrays[k] + step[k] for k in step}))
        update = tmp_path / f"update-{i}.safetensors"
        computed = as_json(cli("--json", "rounds", "update", str(fetched), str(trained),
                               "-o", str(update)))  # fmt: skip
        got_update = load_numpy(update.read_bytes())
        for k in step:
            assert np.allclose(got_update[k], step[k], atol=1e-6)
        assert computed["cid"] == str(cid_of(update.read_bytes()))
        sent = cli("--dev-account", str(i), "rounds", "submit", str(round_id), str(update),
                   "--samples", str(20 + n))  # fmt: skip
        assert sent.exit_code == 0, sent.output
        status = as_json(cli("--dev-account", str(i), "--json", "rounds", "status", str(round_id)))
        assert (status["outcome"], status["update"]["update_cid"]) == ("pending", computed["cid"])
        assert status["transaction_hash"].startswith("0x") and status["proof"] is None
        mine = as_json(cli("--dev-account", str(i), "--json", "rounds", "list", "--mine"))
        assert round_id not in [r["round_id"] for r in mine["items"]]
    return name, base_id, round_id


def test_a_round_through_the_cli(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    name, base_id, round_id = a_full_round(cli, client, accounts, tmp_path)
    shown = as_json(cli("--json", "rounds", "show", str(round_id)))
    assert shown["round"]["state"] == "closed"  # at its maximum of three
    assert len(shown["updates"]) == 3

    aggregated = as_json(cli("--json", "rounds", "aggregate", str(round_id)))
    assert (aggregated["rule"], aggregated["params"]) == ("multi-krum", {"f": 0, "m": 3})
    assert len(aggregated["included"]) == 3
    finalized = as_json(cli("--dev-account", "1", "--json", "rounds", "finalize", str(round_id)))
    version_id = int(finalized["version_id"])
    version = client.get_version(version_id)
    assert version.kind == "aggregate" and version.parent_id == base_id

    verified = cli("rounds", "verify", str(round_id))
    assert verified.exit_code == 0, verified.output
    assert "the same bytes" in verified.stdout
    # each participant sees its update included, the proof checked against the round's root
    for i in PARTICIPANTS:
        status = as_json(cli("--dev-account", str(i), "--json", "rounds", "status", str(round_id)))
        assert (status["outcome"], status["proof_verified"]) == ("included", True)
        assert status["round"]["inclusion_root"] == finalized["round"]["inclusion_root"]
    shown_status = cli("rounds", "status", str(round_id), "--participant", accounts[5].address)
    assert shown_status.exit_code == 0, shown_status.output
    assert "verified here" in shown_status.stdout
    nobody = as_json(cli("--dev-account", "2", "--json", "rounds", "status", str(round_id)))
    assert (nobody["outcome"], nobody["update"]) == ("not_submitted", None)
    listed = as_json(cli("--json", "rounds", "list", name, "--state", "finalized"))
    assert [r["round_id"] for r in listed["items"]] == [round_id]


def test_a_hand_made_aggregate_fails_verification(
    cli: Cli,
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    tmp_path: Path,
    ledger: Ledger,
    stack: Stack,
) -> None:
    _, _, round_id = a_full_round(cli, client, accounts, tmp_path)
    included = [accounts[i].address for i in PARTICIPANTS[:2]]
    left_out = accounts[PARTICIPANTS[2]].address
    # the owner's plain contract call, naming bytes no rule produced
    ledger.finalize_round(
        accounts[1], round_id, included=included, excluded={left_out: ExclusionReason.INVALID},
        aggregate_digest=b"\x42" * 32, direct=True,
    )  # fmt: skip

    # the participants see what the chain says, whatever the bytes: excluded with the reason
    excluded = as_json(cli("--json", "rounds", "status", str(round_id), "--participant", left_out))
    assert (excluded["outcome"], excluded["reason"], excluded["code"]) == ("excluded", "invalid", 3)
    assert excluded["proof"] is None and excluded["proof_verified"] is None
    for address in included:
        status = as_json(cli("--json", "rounds", "status", str(round_id), "--participant", address))
        assert (status["outcome"], status["proof_verified"]) == ("included", True)
    # a service (or a proxy) that claims another sample count: the proof no longer holds
    lying = GovLedgerClient(base_url=stack.url, transport=ClaimsMoreSamples())
    with lying, pytest.raises(VerificationFailed, match="does not lead to the round's inclusion"):
        lying.update_status(round_id, included[0])
    # a service that answers about the left-out participant with an included one's update
    other = GovLedgerClient(base_url=stack.url, transport=AnswersForAnother(included[1]))
    with other, pytest.raises(VerificationFailed, match=r"service answered with 0x\w{40}.s"):
        other.update_status(round_id, left_out)

    verified = cli("--json", "rounds", "verify", str(round_id))
    assert verified.exit_code == 7, verified.output
    error = json.loads(verified.stderr)["error"]
    assert error["kind"] == "verification" and "differs" in error["message"]


def test_a_round_closed_early_then_cancelled(
    cli: Cli,
    client: GovLedgerClient,
    accounts: list[LocalAccount],
    tmp_path: Path,
    stack: Stack,
) -> None:
    # the chain's clock runs two hours ahead of this machine's: `--deadline 1h` counts from
    # chain time (from this machine's clock, the round would be refused as already over)
    for method, params in (("evm_increaseTime", [7200]), ("evm_mine", [])):
        httpx.post(stack.settings.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                 "params": params}, timeout=30)  # fmt: skip
    owner = accounts[1]
    name = unique("fl-cancel")
    model_id = client.register_model(owner, name).model.model_id
    base = weights_file(tmp_path / "base.safetensors", seed=2)
    proposed = client.propose_version(owner, model_id, base, artifact_format="safetensors")
    base_id = proposed.version.version_id
    for voter in accounts[2:4]:
        client.cast_vote(voter, base_id, "for")
    client.grant_rights(owner, model_id, accounts[5].address, ["submit_updates"])
    command = ["--dev-account", "1", "--json", "rounds", "open", name, "--base", f"{name}@1"]
    opened = as_json(cli(*command, "--rule", "fedavg", "--min", "2", "--max", "4"))
    round_id = str(opened["round"]["round_id"])
    update = weights_file(tmp_path / "update.safetensors", seed=3, scale=0.1)
    sent = cli("--dev-account", "5", "rounds", "submit", round_id, str(update), "--samples", "9")
    assert sent.exit_code == 0, sent.output

    outsider = cli("--dev-account", "5", "rounds", "close", round_id)
    assert outsider.exit_code == 4, outsider.output  # refused: not the owner or a maintainer
    closed = as_json(cli("--dev-account", "1", "--json", "rounds", "close", round_id))
    assert closed["round"]["state"] == "closed"
    too_few = cli("--dev-account", "1", "rounds", "finalize", round_id)
    assert too_few.exit_code != 0, too_few.output  # one update, two needed
    cancelled = as_json(cli("--dev-account", "1", "--json", "rounds", "cancel", round_id))
    assert cancelled["round"]["state"] == "cancelled"
    assert as_json(cli("--json", "rounds", "show", round_id))["round"]["state"] == "cancelled"
    # the participant's update: cancelled with its round, not pending for ever
    status = as_json(cli("--dev-account", "5", "--json", "rounds", "status", round_id))
    assert (status["outcome"], status["proof_verified"]) == ("cancelled", None)
    shown = cli("--dev-account", "5", "rounds", "status", round_id)
    assert "cancelled (the round was cancelled: it aggregates nothing)" in shown.stdout
    nobody = cli("rounds", "status", round_id)
    assert nobody.exit_code == 2 and "give --participant ADDRESS" in nobody.stderr


@pytest.mark.parametrize(
    ("change", "mention"),
    [
        ({"weights": np.zeros((8, 4), np.float32)}, "'weights' is in the trained weights"),
        ({"weight": np.zeros((4, 8), np.float32)}, "shape [4, 8] here, [8, 4] in the base"),
        ({"weight": np.zeros((8, 4), np.float64)}, "'weight' is F64 here but F32 in the base"),
        ({"weight": np.full((8, 4), np.nan, np.float32)}, "not finite"),
    ],
    ids=["names", "shape", "dtype", "nan"],
)
def test_an_update_is_not_computed_from_weights_that_do_not_fit_the_base(
    cli: Cli, tmp_path: Path, change: dict[str, Any], mention: str
) -> None:
    base = weights_file(tmp_path / "base.safetensors", seed=1)
    arrays = {k: np.array(v) for k, v in load_numpy(base.read_bytes()).items()}
    if "weights" in change:
        del arrays["weight"]
    arrays.update(change)
    trained = tmp_path / "trained.safetensors"
    trained.write_bytes(save_numpy(arrays))
    output = tmp_path / "update.safetensors"
    done = cli("--json", "rounds", "update", str(base), str(trained), "-o", str(output))
    assert done.exit_code == 2, done.output
    message = json.loads(done.stderr)["error"]["message"]
    assert mention in message and "no update written" in message, message
    assert not output.exists()


def test_an_update_is_computed_from_a_torch_checkpoint(cli: Cli, tmp_path: Path) -> None:
    """A state dict saved with torch.save, loaded with weights_only=True: the same update as
    from the safetensors of the same weights."""
    import torch

    base = weights_file(tmp_path / "base.safetensors", seed=1)
    arrays = load_numpy(base.read_bytes())
    trained = {k: torch.from_numpy(v + 0.5) for k, v in arrays.items()}
    torch.save({"model_state_dict": trained, "epoch": 3}, tmp_path / "trained.pt")
    output = tmp_path / "update.safetensors"
    done = cli("--json", "rounds", "update", str(base), str(tmp_path / "trained.pt"),
               "-o", str(output), "--key", "model_state_dict")  # fmt: skip
    assert done.exit_code == 0, done.output
    update = load_numpy(output.read_bytes())
    assert update.keys() == arrays.keys()
    for k in arrays:
        assert np.allclose(update[k], 0.5, atol=1e-6)
    again = cli("rounds", "update", str(base), str(tmp_path / "trained.pt"), "-o", str(output))
    assert again.exit_code == 2 and "exists" in again.output  # no silent overwrite
