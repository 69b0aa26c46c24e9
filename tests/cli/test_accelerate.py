"""``govledger accelerate`` and ``govledger predict`` in this process against the session's
stack: the owner builds, signs and proposes; members approve; the build predicts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount
from safetensors.numpy import save as save_numpy

from service.client import GovLedgerClient
from service.ml.digits import digits_split, save_safetensors, train_digits_mlp
from tests.cli.conftest import Cli, unique


def test_accelerate_then_predict(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    owner = accounts[1]
    split = digits_split()
    evaluation = tmp_path / "evaluation.safetensors"
    evaluation.write_bytes(
        save_numpy({"inputs": split.test_x.numpy(), "labels": split.test_y.numpy()})
    )
    stored = cli("--dev-account", "1", "--json", "evaluation", "store", str(evaluation))
    assert stored.exit_code == 0, stored.output
    meta = client.store_metadata(owner, {"evaluation": {"cid": json.loads(stored.stdout)["cid"]}})
    name = unique("accel")
    model_id = client.register_model(owner, name, metadata_digest=meta.digest).model.model_id
    model, _ = train_digits_mlp(epochs=3)
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(save_safetensors(model))
    parent = client.propose_version(owner, model_id, weights, artifact_format="safetensors")
    for voter in accounts[2:4]:
        client.cast_vote(voter, parent.version.version_id, "for")

    result = cli(
        "--dev-account", "1", "accelerate", name, "1",
        "--build", "int8-dynamic", "--budget", "1.5", "--no-compare-torch",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ort-int8-dynamic" in result.stdout and "pytorch-eager" in result.stdout
    assert "proposable" in result.stdout and "proposed (kind accelerated" in result.stdout
    built = client.list_versions(model_id, kind="accelerated").items
    assert len(built) == 1 and built[0].parent_id == parent.version.version_id
    build_id = built[0].version_id
    assert client.resolve_version(f"{name}@2").version_id == build_id
    for voter in ("2", "3"):  # as the README's table has it
        voted = cli("--dev-account", voter, "vote", f"{name}@2", "for")
        assert voted.exit_code == 0, voted.output
    aliased = cli("--dev-account", "1", "alias", "set", name, "fast", "2")
    assert aliased.exit_code == 0, aliased.output
    assert client.get_alias(model_id, "fast").version_id == build_id

    batch = tmp_path / "batch.npy"
    np.save(batch, split.test_x.numpy()[:4])
    predicted = cli("--json", "predict", str(build_id), str(batch))
    assert predicted.exit_code == 0, predicted.output
    expected = json.loads(predicted.stdout)["predictions"]
    assert len(expected) == 4
    by_alias = cli("predict", f"{name}:fast", "--inputs", json.dumps(split.test_x[:4].tolist()))
    assert by_alias.exit_code == 0, by_alias.output
    assert [int(line.split()[-1]) for line in _rows(by_alias.stdout)] == expected

    shown = cli("builds", "list", name)
    assert shown.exit_code == 0 and "succeeded" in shown.stdout
    recipe = cli("builds", "recipe", f"{name}@2")
    assert recipe.exit_code == 0, recipe.output
    assert "quantize_dynamic" in recipe.stdout and "metadata digest on chain" in recipe.stdout
    wrong = cli("predict", str(build_id), "--inputs", "[[1, 2, 3]]")
    assert wrong.exit_code == 2 and "dimension 1 is 3, not 64" in wrong.output  # bad input
    refused = cli("predict", str(parent.version.version_id), str(batch))
    assert refused.exit_code == 4 and "is safetensors, not ONNX" in refused.output  # refused


def _rows(table: str) -> list[str]:
    """The data rows of a rich table: lines whose cells are two integers."""
    rows = []
    for line in table.splitlines():
        cells = [c for c in line.replace("│", " ").split() if c]
        if len(cells) == 2 and all(c.isdigit() for c in cells):
            rows.append(" ".join(cells))
    return rows


def test_a_reader_sees_a_restricted_models_build_jobs(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    """``builds show`` and ``builds list`` sign in as the acting account when the service asks
    for a session (a restricted model's jobs are read under the download rule)."""
    owner, reader = accounts[1], accounts[6]
    split = digits_split()
    data = save_numpy({"inputs": split.test_x.numpy(), "labels": split.test_y.numpy()})
    stored = client.store_evaluation_set(owner, data)
    meta = client.store_metadata(owner, {"evaluation": {"cid": stored.cid}})
    name = unique("secret-accel")
    model_id = client.register_model(
        owner, name, restricted=True, metadata_digest=meta.digest
    ).model.model_id
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(save_safetensors(train_digits_mlp(epochs=2)[0]))
    parent = client.propose_version(owner, model_id, weights, artifact_format="safetensors")
    for voter in accounts[2:4]:
        client.cast_vote(voter, parent.version.version_id, "for")
    client.login(owner)
    job = client.start_build(model_id, parent.version.version_id, builds=["fp32-basic"])
    assert client.wait_build(job.job_id).state == "succeeded"

    anonymous = cli("builds", "show", str(job.job_id))
    assert anonymous.exit_code == 5 and "restricted model" in anonymous.output
    outsider = cli("--dev-account", "6", "builds", "show", str(job.job_id))
    assert outsider.exit_code == 4 and "holds no read right" in outsider.output
    client.grant_rights(owner, model_id, reader.address, ["read_artifacts"])
    shown = cli("--dev-account", "6", "builds", "show", str(job.job_id))
    assert shown.exit_code == 0, shown.output
    assert "ort-fp32-basic" in shown.stdout and "pytorch-eager" in shown.stdout
    listed = cli("--dev-account", "6", "builds", "list", name)
    assert listed.exit_code == 0, listed.output
    assert "succeeded" in listed.stdout
