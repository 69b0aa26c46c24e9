"""Run the independent JavaScript references (tests/store/js/*.mjs) with node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).parent / "js"


def run_js(
    script: str, *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> list[Any]:
    """Run ``node js/<script> args...`` and return its stdout as parsed JSON lines."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; the store tests need Node.js 20 (see README)")
    result = subprocess.run(
        [node, str(JS_DIR / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        raise RuntimeError(f"node {script} failed ({result.returncode}):\n{result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
