"""Auditing the ledger from outside: ``govledger audit`` and its Python API.

Given only an RPC URL, the deployment record and a content source (the embedded store's
directory or a kubo node), :func:`audit` reads the chain at one block and checks, each in its
own module behind the :class:`~service.audit.findings.Check` interface:

- ``code``: the deployed bytecode is what ``contracts/`` compiles to (immutables masked);
- ``signatures``: every relayed ``…BySig`` action was signed by the actor its event names
  (and every action called directly was sent by it);
- ``content``: every artifact and metadata document referenced on chain is present and matches
  its digest;
- ``state``: the state the events imply equals the contracts' views (expired ballots included);
- ``rounds``: every finalized round's updates, inclusion commitment, exclusions and aggregate;
- ``builds``: every accelerated build's recipe and metrics documents;
- ``remeasure`` (only when asked): every accelerated build's accuracy re-run on its evaluation
  set in ONNX Runtime, against the recorded one.

Nothing here calls the REST service.
"""

from __future__ import annotations

from pathlib import Path

from service.audit.context import AuditContext, open_context
from service.audit.findings import AuditReport, Check, Finding
from service.audit.runner import CHECKS, REMEASURE, Progress, run_audit
from service.store.base import ContentStore


def audit(
    *,
    rpc_url: str,
    store: ContentStore,
    deployment_file: Path | None = None,
    registry: str | None = None,
    from_block: int | None = None,
    remeasure: bool = False,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit the deployment recorded in ``deployment_file`` (or the one ``registry``, the
    ModelRegistry's address, implies) on ``rpc_url`` against ``store``; ``remeasure`` re-runs
    the accelerated builds' accuracy too."""
    ctx = open_context(
        rpc_url=rpc_url,
        deployment_file=deployment_file,
        registry=registry,
        store=store,
        from_block=from_block,
    )
    return run_audit(ctx, checks=checks_for(remeasure=remeasure), progress=progress)


def checks_for(*, remeasure: bool) -> tuple[Check, ...]:
    """The checks an audit runs, in order."""
    return (*CHECKS, REMEASURE) if remeasure else CHECKS


__all__ = [
    "CHECKS",
    "REMEASURE",
    "AuditContext",
    "AuditReport",
    "Check",
    "Finding",
    "Progress",
    "audit",
    "checks_for",
    "open_context",
    "run_audit",
]
