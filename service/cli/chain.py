"""``govledger chain``: the local anvil, compilation and deployment."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from service.cli.context import state
from service.cli.output import command, stdout, table

app = typer.Typer(help="The chain: local anvil, contracts, deployment.", no_args_is_help=True)


@command(app, "up")
def chain_up() -> None:
    """Start the local anvil (state persisted in the data dir) and deploy the contracts once."""
    from service.chain.setup import chain_up as _up

    settings = state().settings
    up = _up(settings)
    d = up.deployment
    console = stdout()
    console.print(f"anvil pid {up.node.pid} on {up.node.rpc_url} (chain {d.chain_id})")
    console.print(f"Consortium    {d.consortium}\nModelRegistry {d.registry}")
    console.print(f"deployed at block {d.deploy_block}; record: {settings.deployment_file}")


@command(app, "down")
def chain_down() -> None:
    """Stop the local anvil cleanly (its state is written to the data dir)."""
    from service.chain.setup import local_chain

    stopped = local_chain(state().settings).stop()
    stdout().print("anvil stopped" if stopped else "anvil was not running")


@command(app, "status")
def chain_status() -> None:
    """Show the local anvil and the deployment record."""
    from service.chain.deploy import Deployment
    from service.chain.setup import local_chain
    from service.errors import LedgerError

    settings = state().settings
    node = local_chain(settings).info()
    rows: list[tuple[str, str]] = [
        ("anvil", f"pid {node.pid} on {node.rpc_url}" if node else "not running"),
        ("rpc url", settings.rpc_url),
    ]
    try:
        d = Deployment.load(settings.deployment_file)
        rows += [
            ("chain id", str(d.chain_id)),
            ("Consortium", d.consortium),
            ("ModelRegistry", d.registry),
            ("deploy block", str(d.deploy_block)),
            ("compiler", d.compiler_version),
        ]
    except LedgerError as exc:
        rows.append(("deployment", str(exc)))
    stdout().print(table("what", "value", rows=rows))


@command(app, "deploy")
def chain_deploy(
    force: Annotated[
        bool, typer.Option(help="Deploy anew even if a deployment is recorded.")
    ] = False,
) -> None:
    """Deploy the contracts to GOVLEDGER_RPC_URL and write the deployment record."""
    from service.chain.setup import ensure_deployment

    d = ensure_deployment(state().settings, force=force)
    stdout().print_json(json.dumps(asdict(d)))


@command(app, "compile")
def chain_compile() -> None:
    """Compile the contracts (offline, pinned solc-js) into build/contracts.json."""
    from service.chain.compile import compile_contracts, write_build

    build = compile_contracts()
    path = write_build(build)
    console = stdout()
    for name, c in sorted(build.contracts.items()):
        console.print(f"{name:14} {len(c.deployed_bytecode):6} bytes  {c.deployed_bytecode_hash}")
    console.print(f"compiler {build.compiler_version}; written to {path}")
