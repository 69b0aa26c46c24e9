"""What a check reports: one finding per record it looked at, and the report of a whole audit
(pure; no I/O)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from service.audit.context import AuditContext


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One record a check looked at: ``ok`` or not, and a sentence saying what was compared."""

    check: str
    record: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "record": self.record, "ok": self.ok, "detail": self.detail}


def passed(check: str, record: str, detail: str) -> Finding:
    return Finding(check=check, record=record, ok=True, detail=detail)


def failed(check: str, record: str, detail: str) -> Finding:
    return Finding(check=check, record=record, ok=False, detail=detail)


class Check(Protocol):
    """One kind of claim the audit verifies. ``run`` yields a finding per record it looked at;
    it reads the chain and the content only through the context, so a later event index can
    stand behind the same interface."""

    name: str
    title: str

    def run(self, ctx: AuditContext) -> Iterator[Finding]: ...


@dataclass(frozen=True, kw_only=True)
class CheckSummary:
    name: str
    title: str
    passed: int
    failed: int


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """Every finding of one audit, and at which block the chain was read."""

    chain_id: int
    block: int
    block_timestamp: int
    from_block: int
    checks: tuple[CheckSummary, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain_id": self.chain_id,
            "block": self.block,
            "block_timestamp": self.block_timestamp,
            "from_block": self.from_block,
            "checks": [
                {"name": c.name, "title": c.title, "passed": c.passed, "failed": c.failed}
                for c in self.checks
            ],
            "failures": [f.as_json() for f in self.failures],
            "findings": [f.as_json() for f in self.findings],
        }
