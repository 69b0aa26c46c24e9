"""Whether a process runs, by its id: the local chain, the service and Flower's processes that
`govledger up` and `govledger flower up` start and stop by the pids they record."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """The process runs (a zombie does not count: our own child is reaped if it exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # our own child exits as a zombie until reaped
        finished, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not ours: ask procfs for its state
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except FileNotFoundError:
            return False
        except (OSError, IndexError):
            return True
        return state != "Z"
    return finished == 0


def runs(pid: int, *programs: bytes) -> bool:
    """The process runs and its command line names one of ``programs`` (a recorded pid that
    was reused by another program does not count). Without procfs, a live pid is trusted."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except PermissionError:
        return True
    return any(program in cmdline for program in programs)
