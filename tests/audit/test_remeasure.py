"""``--remeasure`` on the session's stack: two accelerated builds of a small ONNX graph (a
MatMul, made here with onnx.helper) with an evaluation set; the one whose document records the
accuracy ONNX Runtime measures passes, the one that records a better accuracy fails, named."""

from __future__ import annotations

import json

import numpy as np
import onnx
from eth_account.signers.local import LocalAccount
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save as save_numpy
from typer.testing import CliRunner

from service.audit import REMEASURE, open_context, run_audit
from service.chain.ledger import Ledger
from service.chain.types import VersionKind
from service.cli.main import app
from service.domain.build_documents import RECIPE_SCHEMA, REPORT_SCHEMA, VERSION_SCHEMA, ref
from service.store.embedded import EmbeddedStore
from tests.audit.conftest import Ledgered, block_number
from tests.stack import Stack

ROWS = 100


def matmul_graph(weights: np.ndarray) -> bytes:
    """``logits = x @ weights``, a dynamic batch, opset 17: a valid ONNX upload."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"])],
        "remeasured",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", weights.shape[0]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", weights.shape[1]])],
        initializer=[numpy_helper.from_array(weights, name="w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def canonical(document: dict[str, object]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def test_remeasure_checks_each_build_s_recorded_accuracy(
    stack: Stack, ledgered: Ledgered, ledger: Ledger, accounts: list[LocalAccount]
) -> None:
    rng = np.random.default_rng(11)
    weights = rng.standard_normal((4, 3)).astype(np.float32)
    inputs = rng.standard_normal((ROWS, 4)).astype(np.float32)
    labels = (inputs @ weights).argmax(axis=1).astype(np.int64)
    labels[:10] = (labels[:10] + 1) % 3  # ten rows the graph gets wrong: accuracy 0.9
    graph = matmul_graph(weights)
    evaluation = save_numpy({"inputs": inputs, "labels": labels})
    start = block_number(stack) + 1
    proposed = {}
    with EmbeddedStore(stack.settings.store_dir) as store:
        for data in (graph, evaluation):
            store.put(data)
        parent = ledger.version(ledgered.approved)
        for build, accuracy in (("honest", 0.9), ("boasting", 0.95)):
            recipe = canonical(
                {"schema": RECIPE_SCHEMA, "build": build, "evaluation": ref(evaluation)}
            )
            report = canonical({"schema": REPORT_SCHEMA, "build": build, "rows": []})
            document = canonical(
                {
                    "schema": VERSION_SCHEMA,
                    "build": build,
                    "artifact": {**ref(graph), "format": "onnx"},
                    "parent": {
                        "version_id": ledgered.approved,
                        "artifact_digest": "0x" + parent.artifact_digest.hex(),
                    },
                    "recipe": ref(recipe),
                    "metrics": ref(report),
                    "summary": {"accuracy": accuracy},
                }
            )
            for data in (recipe, report, document):
                store.put(data)
            proposed[build] = ledger.propose_version(
                accounts[1],
                ledgered.model_id,
                ref(graph)["digest"],
                parent_id=ledgered.approved,
                kind=VersionKind.ACCELERATED,
                metadata_digest=ref(document)["digest"],
            )

        ctx = open_context(
            rpc_url=stack.settings.rpc_url,
            deployment_file=stack.settings.deployment_file,
            store=store,
            from_block=start,
        )
        audited = run_audit(ctx, checks=[REMEASURE])
    findings = {f.record.split(" (")[0]: f for f in audited.findings}
    honest = findings[f"version {proposed['honest']}"]
    boasting = findings[f"version {proposed['boasting']}"]
    assert honest.ok, honest
    assert honest.detail.startswith("0.900000 measured here on 100 rows, 0.900000 recorded")
    assert not boasting.ok
    assert "0.900000 measured here on 100 rows, 0.950000 recorded" in boasting.detail

    settings = stack.settings
    command = ["--json", "audit", "--rpc-url", settings.rpc_url, "--remeasure"]
    command += [
        "--deployment",
        str(settings.deployment_file),
        "--store-dir",
        str(settings.store_dir),
    ]
    command += ["--from-block", str(start)]
    result = CliRunner().invoke(app, command, env={"GOVLEDGER_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 7, result.output
    failures = json.loads(result.stdout)["failures"]
    assert [(f["check"], f["record"].split(" (")[0]) for f in failures] == [
        ("remeasure", f"version {proposed['boasting']}")
    ]
