"""The service's own bookkeeping: facts the chain does not hold, kept durably in SQLite."""

from service.bookkeeping.db import Bookkeeping, ChargeOutcome, Usage

__all__ = ["Bookkeeping", "ChargeOutcome", "Usage"]
