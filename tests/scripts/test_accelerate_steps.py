"""The demo's build steps (scripts/accelerate_steps.py, run by scripts/federated.py and
scripts/scenario.py) on the session's stack: they end with ``fast`` naming the approved int8
build and its predictions within the documented tolerance of the parent's, and they stop the
demo (a ``SystemExit``: the script exits 1 with the message) when the int8 build is refused,
instead of printing on and exiting 0."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from service.chain.accounts import dev_account
from service.client import GovLedgerClient
from service.config import PROJECT_ROOT
from service.ml.digits import DigitsMLP, digits_split, save_safetensors, train_digits_mlp
from tests.cli.conftest import unique
from tests.stack import Stack

OWNER, VOTERS = dev_account(1), [dev_account(i) for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def steps() -> Iterator[ModuleType]:
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        import accelerate_steps

        yield accelerate_steps
    finally:
        sys.path.remove(str(PROJECT_ROOT / "scripts"))


@pytest.fixture
def client(stack: Stack) -> Iterator[GovLedgerClient]:
    with GovLedgerClient(base_url=stack.url, timeout=120) as c:
        yield c


def approved(client: GovLedgerClient, weights: bytes, tmp_path: Path) -> tuple[int, int]:
    """A model of the owner's with ``weights`` as an approved version (no evaluation set yet:
    the steps register one)."""
    model_id = client.register_model(OWNER, unique("demo-builds")).model.model_id
    path = tmp_path / "w.safetensors"
    path.write_bytes(weights)
    version = client.propose_version(OWNER, model_id, path, artifact_format="safetensors")
    for voter in VOTERS[1:]:
        client.cast_vote(voter, version.version.version_id, "for")
    return model_id, version.version.version_id


def test_the_build_steps_alias_fast_to_an_int8_build_that_agrees(
    steps: ModuleType, client: GovLedgerClient, tmp_path: Path
) -> None:
    weights = save_safetensors(train_digits_mlp(epochs=5)[0])
    model_id, parent = approved(client, weights, tmp_path)
    said: list[str] = []
    done = steps.accelerate_approved_version(
        client, owner=OWNER, voters=VOTERS, model_id=model_id, version_id=parent,
        weights=weights, compare_torch=False, say=said.append,
    )  # fmt: skip
    assert set(done.versions) == {"fp32-basic", "int8-dynamic"}
    fast = client.get_alias(model_id, "fast").version_id
    assert fast == done.versions["int8-dynamic"]
    version = client.get_version(fast)
    assert version.kind == "accelerated" and version.parent_id == parent
    assert version.state == "approved"
    assert done.agreement["int8-dynamic"] >= steps.AGREEMENT["int8-dynamic"] == 0.97
    assert done.agreement["fp32-basic"] == 1.0
    assert any(line.startswith(f"alias fast -> version {fast}") for line in said)


def test_the_build_steps_stop_the_demo_when_the_int8_build_is_refused(
    steps: ModuleType, client: GovLedgerClient, tmp_path: Path
) -> None:
    """One huge weight on pixel 0 (0 in every digits image): fp32 computes what it did, but
    per-tensor int8 scales every other weight of the layer to 0, over the 1-point budget."""
    model = train_digits_mlp(epochs=5)[0]
    fragile = DigitsMLP(model.hidden)
    fragile.load_state_dict(model.state_dict())
    with torch.no_grad():
        fragile.net[0].weight[0, 0] = 1000.0
    assert float(digits_split().test_x[:, 0].abs().max()) == 0.0
    weights = save_safetensors(fragile)
    model_id, parent = approved(client, weights, tmp_path)
    with pytest.raises(steps.BuildStepsFailed) as failed:
        steps.accelerate_approved_version(
            client, owner=OWNER, voters=VOTERS, model_id=model_id, version_id=parent,
            weights=weights, compare_torch=False, say=lambda _: None,
        )  # fmt: skip
    message = str(failed.value.code)  # what the script prints as it exits 1
    assert message.startswith(
        f"demo build steps failed: the int8-dynamic build of version {parent} was refused"
    )
    assert "points below the reference's, over the budget of 1 points" in message
    assert client.list_versions(model_id, kind="accelerated").items == []  # nothing proposed
