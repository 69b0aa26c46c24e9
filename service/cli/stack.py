"""``govledger up`` / ``down`` / ``status``: the local stack in the background.

``up`` starts anvil with its state persisted under the data dir and deploys the contracts once
(``service.chain.setup.chain_up``; against another chain, ``GOVLEDGER_RPC_URL``, it only checks
the deployment), then starts the service (which opens the embedded content store, or the kubo
node of ``GOVLEDGER_IPFS_API_URL``) and waits until it is ready. Each part already running is
left as it is. ``down`` stops the service, then anvil, each with SIGTERM and a SIGKILL fallback.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from service.cli.context import state
from service.cli.exits import ExitCode
from service.cli.output import emit, fields
from service.cli.processes import ServiceProcess, probe
from service.config import Settings


def _local_chain_url(settings: Settings) -> str:
    return f"http://{settings.chain_host}:{settings.chain_port}"


def _store(settings: Settings) -> str:
    if settings.ipfs_api_url:
        return f"kubo node at {settings.ipfs_api_url}"
    return f"embedded, {settings.store_dir}"


def up() -> None:
    """Start the local stack (anvil, contracts, store, service) in the background."""
    from service.chain.setup import chain_up, ensure_deployment, local_chain

    s = state()
    settings = s.settings
    report: dict[str, Any] = {"data_dir": str(settings.data_dir), "store": _store(settings)}
    if settings.rpc_url == _local_chain_url(settings):
        chain = local_chain(settings)
        was_running = chain.info() is not None
        started = chain_up(settings)
        node, deployment = started.node, started.deployment
        report["chain"] = {
            "pid": node.pid,
            "rpc_url": node.rpc_url,
            "log": node.log_file,
            "state": node.state_file,
            "status": "already running" if was_running else "started",
        }
    else:
        deployment = ensure_deployment(settings)
        report["chain"] = {"rpc_url": settings.rpc_url, "status": "external chain"}
    report["deployment"] = {
        "chain_id": deployment.chain_id,
        "Consortium": deployment.consortium,
        "ModelRegistry": deployment.registry,
        "deploy_block": deployment.deploy_block,
        "record": str(settings.deployment_file),
    }
    service = ServiceProcess(settings)
    running = service.info()
    info = running or service.start()
    report["service"] = {
        "pid": info.pid,
        "url": info.url,
        "docs": info.url + "/docs",
        "log": info.log_file,
        "status": "already running" if running else "started",
    }
    emit(report, lambda: _up_table(report), as_json=s.json_output)


def _up_table(r: dict[str, Any]) -> Table:
    chain, d, svc = r["chain"], r["deployment"], r["service"]
    where = f"pid {chain['pid']} on {chain['rpc_url']}" if "pid" in chain else chain["rpc_url"]
    rows: list[tuple[str, Any]] = [
        ("chain", f"{where} ({chain['status']})"),
        ("chain id", d["chain_id"]),
        ("Consortium", d["Consortium"]),
        ("ModelRegistry", d["ModelRegistry"]),
        ("deployed at block", d["deploy_block"]),
        ("service", f"pid {svc['pid']} on {svc['url']} ({svc['status']})"),
        ("API docs", svc["docs"]),
        ("store", r["store"]),
        ("service log", svc["log"]),
    ]
    if "log" in chain:
        rows.append(("chain log", chain["log"]))
    return fields(rows, title="govledger local stack")


def down() -> None:
    """Stop the service, then the local anvil (its state is kept in the data dir)."""
    from service.chain.setup import local_chain

    s = state()
    settings = s.settings
    stopped = ServiceProcess(settings).stop()
    node = local_chain(settings).info()
    chain_stopped = local_chain(settings).stop()
    report = {
        "service": f"stopped (pid {stopped.pid})" if stopped else "was not running",
        "chain": f"stopped (pid {node.pid})" if chain_stopped and node else "was not running",
    }
    emit(
        report,
        lambda: f"service: {report['service']}\nanvil:   {report['chain']}",
        as_json=s.json_output,
    )


def status() -> None:
    """Show what runs where: chain, deployment, service (ready or not), store; exit 6 if the
    service is not ready (not running, or its chain or store unreachable)."""
    from service.chain.deploy import Deployment
    from service.chain.setup import local_chain
    from service.errors import LedgerError

    s = state()
    settings = s.settings
    report: dict[str, Any] = {"data_dir": str(settings.data_dir), "store": _store(settings)}
    node = local_chain(settings).info()
    report["chain"] = {
        "running": node is not None,
        "pid": node.pid if node else None,
        "rpc_url": settings.rpc_url,
    }
    try:
        d = Deployment.load(settings.deployment_file)
        report["deployment"] = {
            "chain_id": d.chain_id,
            "Consortium": d.consortium,
            "ModelRegistry": d.registry,
            "deploy_block": d.deploy_block,
        }
    except LedgerError as exc:
        report["deployment"] = {"error": str(exc)}
    info = ServiceProcess(settings).info()
    url = info.url if info else settings.service_url
    response = probe(url, "/ready")
    ready = response.json() if response is not None and response.status_code in (200, 503) else None
    report["service"] = {
        "running": info is not None,
        "pid": info.pid if info else None,
        "url": url,
        "ready": bool(ready and ready.get("ready")),
        "readiness": ready,
    }
    emit(report, lambda: _status_table(report), as_json=s.json_output)
    if not report["service"]["ready"]:  # a script can test `govledger status` alone
        raise typer.Exit(int(ExitCode.UNAVAILABLE))


def _status_table(r: dict[str, Any]) -> Table:
    chain, d, svc = r["chain"], r["deployment"], r["service"]
    if svc["ready"]:
        readiness = "ready"
    elif svc["readiness"]:
        rd = svc["readiness"]
        readiness = f"not ready (chain: {rd['chain']}; store: {rd['store']})"
    else:
        readiness = "not answering"
    pid = f"pid {svc['pid']}" if svc["running"] else "not running"
    if not svc["running"] and svc["readiness"]:
        pid = "not started by `govledger up`"
    rows: list[tuple[str, Any]] = [
        ("chain", f"pid {chain['pid']} on {chain['rpc_url']}" if chain["running"] else
         f"not running (local anvil); rpc url {chain['rpc_url']}"),
        *(
            [("deployment", d["error"])] if "error" in d else [
                ("chain id", d["chain_id"]),
                ("Consortium", d["Consortium"]),
                ("ModelRegistry", d["ModelRegistry"]),
                ("deployed at block", d["deploy_block"]),
            ]
        ),
        ("service", f"{pid}, {svc['url']}: {readiness}"),
        ("store", r["store"]),
        ("data dir", r["data_dir"]),
    ]  # fmt: skip
    return fields(rows, title="govledger status")
