"""A daemon thread that does one piece of work every few seconds until stopped: the journal's
keeper and the event index's follower."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from service.errors import LedgerError


class Periodic:
    """Calls ``work`` every ``interval_s`` seconds (first at once if ``at_start``, else after
    one interval). A ``LedgerError`` (the chain is away) is logged at debug level and retried
    at the next tick; anything else is logged with its traceback and retried too."""

    def __init__(
        self,
        name: str,
        work: Callable[[threading.Event], None],
        interval_s: float,
        *,
        log: logging.Logger,
        at_start: bool,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self._work = work
        self._log = log
        self._at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        if not self._at_start and self._stop.wait(self.interval_s):
            return
        while True:
            try:
                self._work(self._stop)
            except LedgerError as exc:
                self._log.debug("%s skipped: %s", self.name, exc)
            except Exception:
                self._log.exception("%s failed", self.name)
            if self._stop.wait(self.interval_s):
                return
