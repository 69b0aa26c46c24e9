"""Times as people read them: with their time zone, and how far away they are (pure)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc(timestamp: float, *, seconds: bool = True) -> str:
    """``2026-12-04 20:30:07 UTC``: a Unix time in UTC, the zone named."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if seconds else f"{moment:%Y-%m-%d %H:%M} UTC"


def human_time(timestamp: float, *, now: float | None = None, seconds: bool = False) -> str:
    """``2026-12-04 20:30 UTC (in 2 days)``: a Unix time with how far it lies from ``now``
    (this machine's clock if not given)."""
    offset = timestamp - (time.time() if now is None else now)
    return f"{utc(timestamp, seconds=seconds)} ({relative(offset)})"


def relative(seconds: float) -> str:
    """``in 2 days`` / ``3 hours ago`` / ``now``, in the largest whole unit."""
    ahead = seconds >= 0
    left = abs(seconds)
    if left < 1:
        return "now"
    text = f"{int(left)} s"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if left >= size:
            count = int(left // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    return f"in {text}" if ahead else f"{text} ago"
