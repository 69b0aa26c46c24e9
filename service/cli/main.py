"""The ``govledger`` command."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from service.config import get_settings
from service.errors import LedgerError

app = typer.Typer(
    help="Governance ledger for federated, accelerated ML models.", no_args_is_help=True
)
chain_app = typer.Typer(help="The chain: local anvil, contracts, deployment.", no_args_is_help=True)
app.add_typer(chain_app, name="chain")
console = Console()


def _fail(exc: LedgerError) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@chain_app.command("up")
def chain_up() -> None:
    """Start the local anvil (state persisted in the data dir) and deploy the contracts once."""
    from service.chain.setup import chain_up as _up

    try:
        up = _up(get_settings())
    except LedgerError as exc:
        _fail(exc)
    d = up.deployment
    console.print(f"anvil pid {up.node.pid} on {up.node.rpc_url} (chain {d.chain_id})")
    console.print(f"Consortium    {d.consortium}\nModelRegistry {d.registry}")
    console.print(f"deployed at block {d.deploy_block}; record: {get_settings().deployment_file}")


@chain_app.command("down")
def chain_down() -> None:
    """Stop the local anvil cleanly (its state is written to the data dir)."""
    from service.chain.setup import local_chain

    stopped = local_chain(get_settings()).stop()
    console.print("anvil stopped" if stopped else "anvil was not running")


@chain_app.command("status")
def chain_status() -> None:
    """Show the local anvil and the deployment record."""
    from service.chain.deploy import Deployment
    from service.chain.setup import local_chain

    settings = get_settings()
    node = local_chain(settings).info()
    table = Table("what", "value")
    table.add_row("anvil", f"pid {node.pid} on {node.rpc_url}" if node else "not running")
    table.add_row("rpc url", settings.rpc_url)
    try:
        d = Deployment.load(settings.deployment_file)
        table.add_row("chain id", str(d.chain_id))
        table.add_row("Consortium", d.consortium)
        table.add_row("ModelRegistry", d.registry)
        table.add_row("deploy block", str(d.deploy_block))
        table.add_row("compiler", d.compiler_version)
    except LedgerError as exc:
        table.add_row("deployment", str(exc))
    console.print(table)


@chain_app.command("deploy")
def chain_deploy(
    force: bool = typer.Option(False, help="Deploy anew even if a deployment is recorded."),
) -> None:
    """Deploy the contracts to GOVLEDGER_RPC_URL and write the deployment record."""
    from service.chain.setup import ensure_deployment

    try:
        d = ensure_deployment(get_settings(), force=force)
    except LedgerError as exc:
        _fail(exc)
    console.print_json(json.dumps(asdict(d)))


@chain_app.command("compile")
def chain_compile() -> None:
    """Compile the contracts (offline, pinned solc-js) into build/contracts.json."""
    from service.chain.compile import compile_contracts, write_build

    try:
        build = compile_contracts()
    except LedgerError as exc:
        _fail(exc)
    path = write_build(build)
    for name, c in sorted(build.contracts.items()):
        console.print(f"{name:14} {len(c.deployed_bytecode):6} bytes  {c.deployed_bytecode_hash}")
    console.print(f"compiler {build.compiler_version}; written to {path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
