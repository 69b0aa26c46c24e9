"""Where a governed round's time goes, measured where it is spent (no Flower): a stopwatch of
named steps and a signer that counts the time spent signing. The strategy and the nodes put
their figures in what they already report (:class:`service.flower.rounds.GovernedRound`, the
reply's metrics); ``scripts/bench_flower.py`` reads them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from eth_account.datastructures import SignedMessage
from eth_account.messages import SignableMessage

from service.client import Signer


class Stopwatch:
    """Seconds per named step, added up (a step timed twice counts twice)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


class TimedSigner:
    """A :class:`service.client.Signer` that adds the time each signature takes to ``seconds``."""

    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self.seconds = 0.0

    @property
    def address(self) -> str:
        return self.signer.address

    def sign_message(self, signable_message: SignableMessage) -> SignedMessage:
        start = time.perf_counter()
        try:
            return self.signer.sign_message(signable_message)
        finally:
            self.seconds += time.perf_counter() - start
