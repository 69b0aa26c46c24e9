"""Benchmark of accelerated builds: every build and PyTorch-native alternative of two models
built from code, measured side by side in one run against eager PyTorch fp32.

    .venv/bin/python scripts/bench_accelerate.py [--seconds 3] [--rounds 5] [--threads 1]
        [--models mlp,transformer] [--no-compare-torch]

Models (no downloads): the scenario's digits MLP (64-128-64-10) and a transformer encoder over
the 8x8 digits as 8 tokens of 8 pixels (width 128, 4 heads, 2 layers, FFN 512), both trained
here on scikit-learn's digits, evaluated on the fixed held-out split (450 rows). It runs the
service's own pipeline (:func:`service.ml.accelerate.pipeline.run_build`) in this process, with
the service's memory probe; nothing is stored. Ratios are against eager PyTorch fp32 measured in
the same run; the aim is an int8 build at least 2x faster at batch 64, at most 30% of the fp32
size, losing at most 1 point of accuracy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.domain.build_documents import libraries, machine
from service.domain.builds import ProcMemoryProbe
from service.ml import digits, digits_transformer
from service.ml.accelerate.measure import Measurement, MeasureSettings
from service.ml.accelerate.pipeline import BuildOutcome, BuildRequest, run_build


def train(name: str) -> tuple[bytes, float]:
    if name == "mlp":
        model, metrics = digits.train_digits_mlp()
        return digits.save_safetensors(model), metrics.test_accuracy
    transformer, metrics = digits_transformer.train_digits_transformer(epochs=20)
    return digits_transformer.save_safetensors(transformer), metrics.test_accuracy


def table(outcome: BuildOutcome) -> str:
    lines = [
        f"{'candidate':<18} {'b1 p50 ms':>9} {'b1 p95':>7} {'b64 p50 ms':>10} {'b64 p95':>8} "
        f"{'rows/s b64':>10} {'speed b1':>8} {'speed b64':>9} {'size KiB':>8} {'size':>5} "
        f"{'mem MiB':>7} {'accuracy':>8} {'Δ pts':>6} {'agree':>6}"
    ]
    for r in outcome.rows:
        if r.error is not None:  # a PyTorch alternative that could not be measured here
            lines.append(f"{r.name:<18} {r.error}")
            continue
        size = "-" if r.size_bytes is None else f"{r.size_bytes / 1024:.1f}"
        ratio = "-" if r.size_ratio is None else f"{r.size_ratio:.2f}"
        memory = "-" if r.peak_memory_bytes is None else f"{r.peak_memory_bytes / 2**20:.1f}"
        lines.append(
            f"{r.name:<18} {r.latency[1].p50_ms:>9.3f} {r.latency[1].p95_ms:>7.3f} "
            f"{r.latency[64].p50_ms:>10.3f} {r.latency[64].p95_ms:>8.3f} "
            f"{r.throughput_per_s:>10,.0f} {r.speedup[1]:>7.2f}x {r.speedup[64]:>8.2f}x "
            f"{size:>8} {ratio:>5} {memory:>7} {r.accuracy:>8.4f} "
            f"{r.accuracy_delta_points:>+6.2f} {r.agreement:>6.4f}"
        )
    return "\n".join(lines)


def aims(rows: list[Measurement]) -> str:
    out = []
    for r in rows:
        if r.build and r.build.startswith("int8"):
            speed = r.speedup[64]
            size = r.size_ratio or 0.0
            drop = 0.0 - r.accuracy_delta_points + 0.0  # no "-0.00"

            def verdict(ok: bool) -> str:
                return "met" if ok else "missed"

            out.append(
                f"  {r.build}: {speed:.2f}x at b64 (aim >= 2: {verdict(speed >= 2)}), "
                f"{size:.1%} of fp32 size (aim <= 30%: {verdict(size <= 0.30)}), "
                f"{drop:.2f} points lost (aim <= 1: {verdict(drop <= 1)})"
            )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed per candidate and batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="mlp,transformer")
    parser.add_argument("--no-compare-torch", action="store_true")
    args = parser.parse_args()
    info = machine()
    print(f"cpu: {info['cpu']}, {info['cores']} cores, {', '.join(info['vector_extensions'])}")
    print("libraries: " + ", ".join(f"{k} {v}" for k, v in libraries().items()))
    print(f"threads {args.threads}; {args.seconds:g} s per candidate and batch size over "
          f"{args.rounds} interleaved rounds")  # fmt: skip
    split = digits.digits_split()
    for name in args.models.split(","):
        started = time.perf_counter()
        weights, accuracy = train(name)
        trained = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            outcome = run_build(
                BuildRequest(
                    parent_format="safetensors",
                    parent=weights,
                    inputs=split.test_x.numpy(),
                    labels=split.test_y.numpy(),
                    compare_torch=not args.no_compare_torch,
                    threads=args.threads,
                    measure=MeasureSettings(seconds=args.seconds, rounds=args.rounds),
                ),
                scratch=Path(scratch),
                memory=ProcMemoryProbe(),
            )
            took = time.perf_counter() - started
        print(
            f"\n{name} ({outcome.architecture}): trained in {trained:.0f} s to {accuracy:.4f}; "
            f"fp32 ONNX graph {len(outcome.graph) / 1024:.1f} KiB; built and measured in "
            f"{took:.0f} s"
        )
        print(table(outcome))
        for decision in outcome.decisions:
            if not decision.accepted:
                print(f"  refused {decision.name}: {decision.reason}")
        print(aims(outcome.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
