"""A test-only fault-injection hook: ``GOVLEDGER_FAILPOINT=<step>`` makes the service SIGKILL
itself when it reaches that named step of the upload path, so a test can crash a real process
at a chosen boundary instead of at a random moment (tests/api/test_failpoints.py). Unset (the
only setting a deployment has), ``reach`` is one dictionary lookup and does nothing.

The steps, in the order an upload passes them (service/domain/uploads.py, then the relayer in
service/journal/relayer.py and the transactor in service/chain/transactor.py):

``upload-stored``
    the body is in the store and pinned, its CID checked; the journal entry is still
    ``received`` (recovery abandons it and releases the pin)
``upload-journaled``
    journaled ``stored``; nothing sent (recovery sends it)
``transaction-journaled``
    the transaction is signed and journaled ``sent``, not yet handed to the node (recovery
    finds it unknown to the chain and sends it again)
``transaction-sent``
    the node took the transaction; its receipt was not waited for (recovery finds it mined)
``upload-mined``
    the receipt is journaled ``mined``; the request was not answered (nothing to recover: the
    client's retry gets the receipt)

The two ``transaction-*`` steps are in the transactor, which sends every transaction the
service relays: with either set, the first transaction of any kind kills the process.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger("govledger.failpoints")

ENV = "GOVLEDGER_FAILPOINT"
STEPS = (
    "upload-stored",
    "upload-journaled",
    "transaction-journaled",
    "transaction-sent",
    "upload-mined",
)


def reach(step: str) -> None:
    """SIGKILL this process if ``GOVLEDGER_FAILPOINT`` names ``step`` (see the module)."""
    if step not in STEPS:  # a typo here would make a failpoint that never fires
        raise ValueError(f"no failpoint {step!r}; the steps are {', '.join(STEPS)}")
    if os.environ.get(ENV) == step:
        log.warning("failpoint %s reached: killing this process (SIGKILL)", step)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
