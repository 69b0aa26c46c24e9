"""The accelerated-build steps of the demo, as one function other scenarios can call:

    from accelerate_steps import accelerate_approved_version
    accelerate_approved_version(client, owner=..., voters=[...], model_id=..., version_id=...)

What it does, printing every step: registers the digits evaluation set in the model's metadata
(if the model does not name one yet), has the service build and measure ONNX Runtime versions of
the approved version side by side with PyTorch (eager, torch.compile, torchao int8), prints the
table, signs and proposes the fp32 ONNX build (the parent's own computation, now portable) and
the int8 build as versions of kind Accelerated, parent = the approved version; the members
approve both; the alias ``fast`` moves to the int8 build; both predict the evaluation set
through the service, and their agreement with each other and with the parent in PyTorch is
printed.

It stops the demo (``BuildStepsFailed``, a ``SystemExit``: the script exits 1 with the message)
when the build job fails, when the int8 or fp32 build is refused or not approved, when ``fast``
does not name the int8 build afterwards, or when a build's predictions through the service agree
with the parent's less than the tolerance the tests hold builds to (docs/ARCHITECTURE.md,
"Accelerated builds": fp32 the same predictions, int8 97%): the demo shows these things work, so
it must not print them and exit 0 when they did not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from eth_account.signers.local import LocalAccount
from rich.console import Console
from safetensors.numpy import save as save_numpy

from service.cli.accelerate import results_table
from service.cli.context import VersionNames
from service.client import GovLedgerClient
from service.ml.digits import digits_split, load_safetensors

Say = Callable[[str], None]
PROPOSED = ("fp32-basic", "int8-dynamic")
#: the least share of evaluation rows on which a build predicts what the parent does
#: (docs/ARCHITECTURE.md, "Accelerated builds"; held by tests/ml/test_accelerate.py too)
AGREEMENT = {"fp32-basic": 1.0, "int8-dynamic": 0.97}


class BuildStepsFailed(SystemExit):
    """The demo's build steps did not show what they should; a script exits 1 with the
    message (``SystemExit`` with a string)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"demo build steps failed: {message}")


@dataclass(frozen=True)
class Accelerated:
    versions: dict[str, int]  # the proposed, approved builds' version ids, by build name
    agreement: dict[str, float]  # each build's agreement with the parent, through the service


def accelerate_approved_version(
    client: GovLedgerClient,
    *,
    owner: LocalAccount,
    voters: Sequence[LocalAccount],
    model_id: int,
    version_id: int,
    weights: bytes,
    compare_torch: bool = True,
    say: Say = print,
) -> Accelerated:
    """Build, measure, propose, approve, alias and predict (see the module); the approved
    builds and their agreement with the parent. Raises ``BuildStepsFailed`` (see the
    module)."""
    split = digits_split()
    ensure_evaluation_set(client, owner, model_id, split, say)

    client.login(owner)  # a build is started by the owner or a maintainer, signed in
    started = time.perf_counter()
    job = client.start_build(model_id, version_id, budget_points=1.0, compare_torch=compare_torch)
    say(f"build job {job.job_id} started for version {version_id} (202 at once); following it")
    last = [""]

    def show(current: Any) -> None:
        if current.message != last[0]:
            last[0] = current.message
            say(f"  {current.progress:5.0%}  {current.message}")

    job = client.wait_build(job.job_id, progress=show, poll_s=1.0)
    if job.state != "succeeded" or job.result is None:
        raise BuildStepsFailed(f"build job {job.job_id} failed: {job.error}")
    say(f"measured in {time.perf_counter() - started:.0f} s (machine, libraries and options "
        f"are in the report {job.result['report']['cid']})")  # fmt: skip
    Console(width=200).print(results_table(job, VersionNames(client, [model_id])))
    refused = {r["build"]: r["reason"] for r in job.result["refused"]}
    for name, reason in refused.items():
        say(f"refused {name}: {reason}")
    for name in PROPOSED:
        if not any(c["build"] == name for c in job.result["candidates"]):
            raise BuildStepsFailed(
                f"the {name} build of version {version_id} was refused "
                f"({refused.get(name, 'not in the job result')}); see the table above"
            )

    proposed: dict[str, int] = {}
    for name in PROPOSED:
        written = client.propose_build(owner, job, name)  # checked, then signed by the owner
        version = written.version
        proposed[name] = version.version_id
        say(
            f"{owner.address} signs ProposeVersion for {name}: version {version.version_id}, "
            f"kind {version.kind}, parent {version.parent_id}, metadata {version.metadata_digest}"
        )
    for name, vid in proposed.items():
        for voter in voters:
            state = client.cast_vote(voter, vid, "for").state
            if state != "proposed":
                break
        say(f"members vote on {name} (version {vid}) -> {state}")
        if state != "approved":
            raise BuildStepsFailed(
                f"{name} (version {vid}) is {state} after the members' votes, not approved"
            )
    fast = proposed["int8-dynamic"]
    client.move_alias(owner, model_id, "fast", fast)
    named = client.get_alias(model_id, "fast").version_id
    if named != fast:
        raise BuildStepsFailed(f"alias fast names version {named}, not the int8 build {fast}")
    say(f"alias fast -> version {fast} (read back from the chain)")

    docs = client.version_build(fast)
    say(
        f"recipe {docs.recipe.cid} and report {docs.metrics.cid}: read back, verified against "
        "the metadata digest on chain"
    )
    x = split.test_x.numpy()
    with torch.inference_mode():
        parent = load_safetensors(weights)(split.test_x).argmax(1).numpy()
    answers = {name: np.array(client.predict(vid, x).predictions) for name, vid in proposed.items()}
    agreement = {name: float((predicted == parent).mean()) for name, predicted in answers.items()}
    for name, predicted in answers.items():
        say(
            f"{name} predicts the {len(x)} evaluation rows through the service: agreement with "
            f"the parent {agreement[name]:.4f} (at least {AGREEMENT[name]:.2f}), accuracy "
            f"{float((predicted == split.test_y.numpy()).mean()):.4f}"
        )
    a, b = answers.values()
    say(f"agreement of the int8 build with the fp32 build: {float((a == b).mean()):.4f}")
    short = {n: f"{v:.4f} < {AGREEMENT[n]:.2f}" for n, v in agreement.items() if v < AGREEMENT[n]}
    if short:
        raise BuildStepsFailed(
            "predictions through the service agree with the parent's less than the documented "
            f"tolerance: {', '.join(f'{n} {v}' for n, v in short.items())}"
        )
    return Accelerated(versions=proposed, agreement=agreement)


def ensure_evaluation_set(
    client: GovLedgerClient, owner: LocalAccount, model_id: int, split: Any, say: Say
) -> None:
    """Register the digits test split as the model's evaluation set, unless it names one."""
    try:
        current = client.get_model_metadata(model_id)
    except Exception:
        current = {}
    if isinstance(current.get("evaluation"), dict):
        say(f"evaluation set {current['evaluation']['cid']} (registered in the model's metadata)")
        return
    data = save_numpy({"inputs": split.test_x.numpy(), "labels": split.test_y.numpy()})
    stored = client.store_evaluation_set(owner, data)
    document = {**current, "evaluation": {"cid": stored.cid, "metric": "accuracy"}}
    meta = client.store_metadata(owner, document)
    client.set_model_metadata(owner, model_id, meta.digest)
    say(
        f"evaluation set {stored.cid} ({len(split.test_y)} rows, {stored.size} bytes) registered "
        f"in the model's metadata {meta.cid}"
    )
