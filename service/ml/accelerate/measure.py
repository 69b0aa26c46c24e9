"""Measuring candidates side by side, in one run, on one evaluation set.

For every candidate (the parent as reference, the ONNX Runtime builds, and the PyTorch-native
alternatives):

1. **load and accuracy**, one candidate at a time: the memory probe is reset, the candidate is
   loaded (session created, or module compiled) and run over the whole evaluation set in padded
   batches of 64; its peak memory is the growth of the process's peak RSS over that. Accuracy is
   the share of argmax predictions equal to the labels; *agreement* the share equal to the
   reference's predictions; *max_abs_diff* the largest difference of its outputs from the
   reference's.
2. **latency**, all candidates interleaved: ``rounds`` rounds, each timing every candidate in
   turn at batch 1 and at batch 64 for ``seconds / rounds`` seconds, so a slow moment of a shared
   machine touches all of them alike. p50 and p95 are over every call timed; throughput is rows
   per second at batch 64.

Figures are relative to the *baseline* (eager PyTorch fp32 when the parent is a PyTorch module,
otherwise ONNX Runtime running the parent graph as it is), measured in the same run.

A candidate marked ``optional`` (the PyTorch-native alternatives, measured only to show that the
choice of ONNX Runtime is not assumed) that fails to load, run or be timed -- torch.compile needs
a C++ compiler, torchao follows torch's internals closely -- gets a row with no figures and its
``error``, and the others are measured as usual: such a failure says something about that
alternative on this machine, not about the builds. Any other candidate's failure (the reference,
the baseline, a build) is raised: its figures are the point of the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

BATCH_SIZES = (1, 64)
_ACCURACY_BATCH = 64


class MemoryProbe(Protocol):
    """Resets and reads the process's peak memory (the caller's: it reads /proc)."""

    def reset(self) -> None: ...

    def peak_growth(self) -> int | None:
        """Bytes the peak grew by since ``reset``; None if it cannot be told."""
        ...


class NoMemoryProbe:
    def reset(self) -> None:
        pass

    def peak_growth(self) -> int | None:
        return None


@dataclass
class Candidate:
    """Something to measure: ``load`` makes it runnable and returns the function that maps a
    float32 batch to the output (logits)."""

    name: str
    runtime: str  # "pytorch" or "onnxruntime"
    description: str
    load: Callable[[], Callable[[np.ndarray], np.ndarray]]
    size: int | None = None  # artifact bytes, when it is an artifact
    build: str | None = None  # the recipe's name, when it can be proposed as a version
    optional: bool = False  # a failure is recorded in its row instead of raised (see above)


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    calls: int


@dataclass(frozen=True)
class Measurement:
    """One row of the table. A failed optional candidate's row has ``error`` and no figures
    (None, and empty latency and speedup)."""

    name: str
    runtime: str
    description: str
    build: str | None
    size_bytes: int | None
    peak_memory_bytes: int | None
    accuracy: float | None
    accuracy_delta_points: float | None  # accuracy minus the reference's, in percentage points
    agreement: float | None
    max_abs_diff: float | None
    latency: dict[int, Latency]
    throughput_per_s: float | None  # rows per second at the largest batch size
    speedup: dict[int, float]  # baseline p50 / this p50, per batch size
    size_ratio: float | None  # size / the reference graph's size
    error: str | None = None  # why the candidate has no figures (failed optional candidates)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runtime": self.runtime,
            "description": self.description,
            "build": self.build,
            "size_bytes": self.size_bytes,
            "size_ratio": _round(self.size_ratio),
            "peak_memory_bytes": self.peak_memory_bytes,
            "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
            "accuracy_delta_points": None
            if self.accuracy_delta_points is None
            else round(self.accuracy_delta_points, 4),
            "agreement": None if self.agreement is None else round(self.agreement, 6),
            "max_abs_diff": _round(self.max_abs_diff),
            "latency_ms": {
                str(b): {"p50": _round(v.p50_ms), "p95": _round(v.p95_ms), "calls": v.calls}
                for b, v in self.latency.items()
            },
            "throughput_per_s": _round(self.throughput_per_s),
            "speedup_vs_baseline": {str(b): _round(v) for b, v in self.speedup.items()},
            "error": self.error,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True, kw_only=True)
class MeasureSettings:
    seconds: float = 2.0  # timed per candidate and batch size, over all rounds
    rounds: int = 5
    warmup_calls: int = 10


def measure(
    candidates: Sequence[Candidate],
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    reference: str,
    baseline: str,
    reference_size: int | None,
    settings: MeasureSettings,
    memory: MemoryProbe | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Measurement]:
    """Measure every candidate (see the module docstring); rows in the candidates' order."""
    probe = memory or NoMemoryProbe()
    runners: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    outputs: dict[str, np.ndarray] = {}
    peaks: dict[str, int | None] = {}
    errors: dict[str, str] = {}
    optional = {c.name for c in candidates if c.optional}

    def guarded(name: str, step: str, work: Callable[[], None]) -> None:
        """``work()``; an optional candidate's failure is noted and it is measured no more."""
        try:
            work()
        except Exception as exc:
            if name not in optional:
                raise
            errors[name] = _failure(step, exc)
            runners.pop(name, None)

    for candidate in candidates:
        progress(f"loading and evaluating {candidate.name}")
        probe.reset()

        def load_and_evaluate(candidate: Candidate = candidate) -> None:
            run = candidate.load()
            outputs[candidate.name] = _evaluate(run, inputs)
            runners[candidate.name] = run

        guarded(candidate.name, "loading and evaluating it", load_and_evaluate)
        peaks[candidate.name] = probe.peak_growth()
    samples: dict[tuple[str, int], list[float]] = {
        (c.name, b): [] for c in candidates for b in BATCH_SIZES
    }
    batches = {b: _batches(inputs, b) for b in BATCH_SIZES}
    for name, run in list(runners.items()):  # warm up every shape first

        def warm_up(run: Callable[[np.ndarray], np.ndarray] = run) -> None:
            for b in BATCH_SIZES:
                for i in range(settings.warmup_calls):
                    run(batches[b][i % len(batches[b])])

        guarded(name, "warming it up at batch sizes 1 and 64", warm_up)
    slot = settings.seconds / max(1, settings.rounds)
    for round_ in range(settings.rounds):
        progress(f"timing round {round_ + 1} of {settings.rounds}")
        for name, run in list(runners.items()):

            def time_it(name: str = name, run: Callable[[np.ndarray], np.ndarray] = run) -> None:
                for b in BATCH_SIZES:
                    _time_calls(run, batches[b], slot, samples[(name, b)])

            guarded(name, "timing it", time_it)
    ref_out = outputs[reference]
    ref_pred = ref_out.argmax(axis=1)
    ref_accuracy = float((ref_pred == labels).mean())
    latency = {
        key: Latency(
            p50_ms=float(np.percentile(v, 50)) * 1e3,
            p95_ms=float(np.percentile(v, 95)) * 1e3,
            calls=len(v),
        )
        for key, v in samples.items()
        if key[0] not in errors
    }
    largest = BATCH_SIZES[-1]
    rows = []
    for c in candidates:
        if c.name in errors:
            rows.append(_failed_row(c, errors[c.name]))
            continue
        out = outputs[c.name]
        pred = out.argmax(axis=1)
        accuracy = float((pred == labels).mean())
        timed = {b: latency[(c.name, b)] for b in BATCH_SIZES}
        rows.append(
            Measurement(
                name=c.name,
                runtime=c.runtime,
                description=c.description,
                build=c.build,
                size_bytes=c.size,
                peak_memory_bytes=peaks[c.name],
                accuracy=accuracy,
                accuracy_delta_points=(accuracy - ref_accuracy) * 100,
                agreement=float((pred == ref_pred).mean()),
                max_abs_diff=float(np.max(np.abs(out.astype(np.float64) - ref_out))),
                latency=timed,
                throughput_per_s=largest * 1e3 / timed[largest].p50_ms,
                speedup={b: latency[(baseline, b)].p50_ms / timed[b].p50_ms for b in BATCH_SIZES},
                size_ratio=(c.size / reference_size) if c.size and reference_size else None,
            )
        )
    return rows


def _failure(step: str, exc: BaseException) -> str:
    """What went wrong, short: the exception's type and the first line of its message (a
    compiler's failure can run to pages)."""
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    if len(first) > 300:
        first = first[:300] + "..."
    return f"failed while {step}: {type(exc).__name__}: {first}".rstrip(": ")


def _failed_row(c: Candidate, error: str) -> Measurement:
    return Measurement(
        name=c.name, runtime=c.runtime, description=c.description, build=c.build,
        size_bytes=c.size, peak_memory_bytes=None, accuracy=None, accuracy_delta_points=None,
        agreement=None, max_abs_diff=None, latency={}, throughput_per_s=None, speedup={},
        size_ratio=None, error=error,
    )  # fmt: skip


def _evaluate(run: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray) -> np.ndarray:
    """The outputs for every row, computed in batches of 64 (the last one padded), so compiled
    candidates see only the shapes they are timed at."""
    parts = []
    for start in range(0, len(inputs), _ACCURACY_BATCH):
        batch = inputs[start : start + _ACCURACY_BATCH]
        n = len(batch)
        if n < _ACCURACY_BATCH:
            pad = np.repeat(batch[-1:], _ACCURACY_BATCH - n, axis=0)
            batch = np.concatenate([batch, pad])
        parts.append(np.asarray(run(batch), dtype=np.float32)[:n])
    return np.concatenate(parts)


def _batches(inputs: np.ndarray, size: int) -> list[np.ndarray]:
    if len(inputs) >= size:
        count = len(inputs) // size
        return [np.ascontiguousarray(inputs[i * size : (i + 1) * size]) for i in range(count)]
    reps = math.ceil(size / len(inputs))
    return [np.ascontiguousarray(np.concatenate([inputs] * reps)[:size])]


def _time_calls(
    run: Callable[[np.ndarray], np.ndarray],
    batches: list[np.ndarray],
    seconds: float,
    into: list[float],
) -> None:
    """Call ``run`` on successive batches for about ``seconds`` (at least 5 calls), appending
    each call's duration."""
    clock = time.perf_counter
    stop = clock() + seconds
    i = 0
    while i < 5 or clock() < stop:
        batch = batches[i % len(batches)]
        start = clock()
        run(batch)
        into.append(clock() - start)
        i += 1
