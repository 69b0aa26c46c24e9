"""Run the checks over one context and collect the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from web3.exceptions import Web3Exception

from service.audit.builds import BuildCheck
from service.audit.code import CodeCheck
from service.audit.content import ContentCheck
from service.audit.context import AuditContext
from service.audit.findings import AuditReport, Check, CheckSummary, Finding, failed
from service.audit.remeasure import RemeasureCheck
from service.audit.rounds import RoundCheck
from service.audit.signatures import SignatureCheck
from service.audit.state import StateCheck

#: every check, in the order the report lists them
CHECKS: tuple[Check, ...] = (
    CodeCheck(),
    SignatureCheck(),
    ContentCheck(),
    StateCheck(),
    RoundCheck(),
    BuildCheck(),
)

#: ``--remeasure``: run after CHECKS when asked (it runs ONNX Runtime over evaluation sets)
REMEASURE: Check = RemeasureCheck()

#: called with the check starting (or None when all are done) and the findings so far
Progress = Callable[[Check | None, int], None]


def run_audit(
    ctx: AuditContext,
    *,
    checks: Sequence[Check] = CHECKS,
    progress: Progress | None = None,
) -> AuditReport:
    """Every finding of ``checks`` over ``ctx``; a check raises only when a source is down
    (ChainUnavailable, StoreUnavailable), never for what it finds wrong."""
    findings: list[Finding] = []
    summaries: list[CheckSummary] = []
    for check in checks:
        if progress is not None:
            progress(check, len(findings))
        mine: list[Finding] = []
        try:
            for finding in check.run(ctx):
                mine.append(finding)
                if progress is not None and len(mine) % 10 == 0:
                    progress(check, len(findings) + len(mine))
        except Web3Exception as exc:  # a view reverts or answers garbage: not the sources' code
            mine.append(
                failed(
                    check.name,
                    f"the {check.name} check",
                    f"stopped after {len(mine)} records: a contract call failed ({exc!r}); "
                    "the contracts at the recorded addresses do not behave as the sources do",
                )
            )
        findings += mine
        summaries.append(
            CheckSummary(
                name=check.name,
                title=check.title,
                passed=sum(f.ok for f in mine),
                failed=sum(not f.ok for f in mine),
            )
        )
    if progress is not None:
        progress(None, len(findings))
    return AuditReport(
        chain_id=ctx.chain_id,
        block=ctx.block,
        block_timestamp=ctx.block_timestamp,
        from_block=ctx.from_block,
        checks=tuple(summaries),
        findings=tuple(findings),
    )
