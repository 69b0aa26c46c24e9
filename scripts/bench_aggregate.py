"""Benchmark the aggregation rules against the memory floor, and the update validator.

Usage: .venv/bin/python scripts/bench_aggregate.py [--n 10] [--m 10000000] [--tensors 4]
       [--runs 3] [--rules fedavg,median,...]

Builds ``n`` float32 updates of ``m`` parameters (split into ``--tensors`` tensors of nearly
equal size, seeded random normal values, sample counts 100, 200, …) and times each rule, best of
``--runs``. The floor is the time to move the bytes any rule must move at least once, (n+1)·4·m
(read every update, write the aggregate), at the copy bandwidth measured in the same run:
``np.copyto`` between two float64 arrays of (n+1)·4·m/2 bytes each, best of ``--runs``, taken as
bytes copied per second. Last, the update validator is fed one update in 256 KiB chunks and
compared with sha256 over the same bytes (an upload hashes every byte anyway). Peak memory is
the process's max RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.ml.aggregate import Contribution, rule_from
from service.ml.safetensors_format import SafetensorsValidator
from service.ml.tensors import canonical_safetensors
from service.ml.updates import UpdateValidator

#: The rules timed, with their parameters and the aim stated in the issue (ratio to the floor).
RULES: dict[str, tuple[dict[str, object], float | None]] = {
    "fedavg": ({}, 3.0),
    "median": ({}, 10.0),
    "trimmed-mean": ({"trim": 1}, 10.0),
    "krum": ({"f": 2}, None),
    "multi-krum": ({"f": 2}, None),
}
CHUNK = 256 * 1024


def best_of(runs: int, action: Callable[[], object]) -> float:
    """The shortest of ``runs`` timed calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def participants(n: int) -> list[str]:
    """``n`` distinct checksummed addresses."""
    from eth_utils import to_checksum_address

    return [to_checksum_address(hashlib.sha256(bytes([i])).digest()[:20]) for i in range(n)]


def updates(n: int, m: int, tensors: int) -> list[Contribution]:
    """``n`` seeded float32 updates of ``m`` parameters in ``tensors`` tensors."""
    rng = np.random.default_rng(20170101)
    sizes = [m // tensors + (1 if i < m % tensors else 0) for i in range(tensors)]
    return [
        Contribution(
            participant=address,
            samples=100 * (i + 1),
            tensors={
                f"layer{t}.weight": rng.standard_normal(size, dtype=np.float32)
                for t, size in enumerate(sizes)
            },
        )
        for i, address in enumerate(participants(n))
    ]


def copy_rate(nbytes: int, runs: int) -> float:
    """Bytes copied per second by ``np.copyto`` between two arrays of ``nbytes`` bytes."""
    source = np.ones(nbytes // 8)
    target = np.empty_like(source)
    seconds = best_of(runs, lambda: np.copyto(target, source))
    return source.nbytes / seconds


def validator_rate(contribution: Contribution, runs: int) -> tuple[float, float]:
    """MB/s of the update validator and of sha256 over one update's bytes."""
    data = canonical_safetensors(contribution.tensors)
    base = SafetensorsValidator()
    base.feed(data)
    summary = base.finish()
    view = memoryview(data)

    def validate() -> None:
        validator = UpdateValidator(summary, norm_bound=1e9)
        for start in range(0, len(view), CHUNK):
            validator.feed(view[start : start + CHUNK])
        validator.finish()

    def sha256() -> None:
        digest = hashlib.sha256()
        for start in range(0, len(view), CHUNK):
            digest.update(view[start : start + CHUNK])

    return len(data) / best_of(runs, validate) / 1e6, len(data) / best_of(runs, sha256) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="updates")
    parser.add_argument("--m", type=int, default=10_000_000, help="parameters per update")
    parser.add_argument("--tensors", type=int, default=4, help="tensors per update")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (best kept)")
    parser.add_argument("--rules", default=",".join(RULES), help="comma-separated rule names")
    args = parser.parse_args()

    contributions = updates(args.n, args.m, args.tensors)
    moved = (args.n + 1) * 4 * args.m
    rate = copy_rate(moved, args.runs)
    floor = moved / rate
    print(
        f"n={args.n} updates of m={args.m:,} float32 parameters in {args.tensors} tensors; "
        f"copy {rate / 1e9:.2f} GB/s; floor (n+1)*4*m = {moved / 1e6:.0f} MB -> "
        f"{floor * 1e3:.1f} ms"
    )
    print(f"{'rule':<14} {'params':<16} {'best s':>8} {'floor s':>8} {'x floor':>8} {'aim':>6}")
    for name in args.rules.split(","):
        params, aim = RULES[name]
        rule = rule_from(name, params)
        seconds = best_of(args.runs, lambda rule=rule: rule.aggregate(contributions))
        shown = ",".join(f"{k}={v}" for k, v in params.items()) or "-"
        aim_text = f"{aim:.0f}x" if aim else "-"
        print(
            f"{name:<14} {shown:<16} {seconds:8.3f} {floor:8.3f} {seconds / floor:8.1f} "
            f"{aim_text:>6}"
        )
    validate, sha = validator_rate(contributions[0], args.runs)
    print(
        f"update validator: {validate:.0f} MB/s (sha256 of the same bytes {sha:.0f} MB/s, "
        f"ratio {validate / sha:.2f})"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
