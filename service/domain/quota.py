"""A per-account quota on what the service stores for free: documents and bytes per rolling
window (a day by default), counted durably in the bookkeeping database."""

from __future__ import annotations

import math
from collections.abc import Callable

from service.bookkeeping import Bookkeeping, Usage
from service.errors import QuotaExceeded

DAY_S = 86_400


class StorageQuota:
    """At most ``max_documents`` documents and ``max_bytes`` bytes per account within any
    ``window_s`` seconds. Storing the same digest again within the window is free (a replayed
    or retried request costs nothing twice)."""

    def __init__(
        self,
        book: Bookkeeping,
        *,
        what: str,
        max_documents: int,
        max_bytes: int,
        window_s: int = DAY_S,
    ) -> None:
        self.book = book
        self.what = what
        self.max_documents = max_documents
        self.max_bytes = max_bytes
        self.window_s = window_s

    def check_room(self, account: str, digest: bytes, now: float) -> None:
        """Refuse at once (before a body is read) an account that has used its whole quota,
        unless it stores again a digest it stored within the window (that costs nothing)."""
        since = now - self.window_s
        usage = self.book.usage(account, since=since)
        full = usage.documents >= self.max_documents or usage.bytes >= self.max_bytes
        if full and not self.book.has_stored(account, digest, since=since):
            raise self._exceeded(account, usage, now, extra=None)

    def charge(self, account: str, digest: bytes, size: int, now: float) -> Callable[[], None]:
        """Count ``size`` bytes under ``digest`` for ``account``, or raise QuotaExceeded;
        returns the refund to call if the document is not stored after all."""
        outcome = self.book.charge(
            account=account,
            digest=digest,
            size=size,
            now=now,
            since=now - self.window_s,
            max_documents=self.max_documents,
            max_bytes=self.max_bytes,
        )
        if outcome.status == "over":
            raise self._exceeded(account, outcome.usage, now, extra=size)
        if outcome.status == "repeat":
            return lambda: None
        return lambda: self.book.refund(account=account, digest=digest, at=outcome.at)

    def _exceeded(self, account: str, usage: Usage, now: float, extra: int | None) -> QuotaExceeded:
        oldest = usage.oldest_at if usage.oldest_at is not None else now
        retry = max(1, math.ceil(oldest + self.window_s - now))
        hours = self.window_s / 3600
        adding = "" if extra is None else f"; this one ({extra} bytes) does not fit"
        return QuotaExceeded(
            f"{account} stored {usage.documents} {self.what}s ({usage.bytes} bytes) in the last "
            f"{hours:g} h{adding}: the quota is {self.max_documents} documents and "
            f"{self.max_bytes} bytes per account per {hours:g} h. Retry in {retry} s, when the "
            "oldest stops counting, or keep documents smaller",
            retry_after=retry,
        )
