"""The ``govledger`` command: the local stack, keys, and every endpoint of the service.

Global options go before or after the command: ``govledger --as alice models register digits``
and ``govledger models register digits --as alice`` are the same (see service/cli/group.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli import (
    accelerate,
    aliases,
    artifacts,
    audit,
    ballots,
    chain,
    convert,
    flower,
    history,
    index,
    keys,
    members,
    models,
    rights,
    rounds,
    stack,
    store,
    versions,
)
from service.cli.context import CliState, begin, state
from service.cli.exits import EXIT_CODES_HELP
from service.cli.group import GovledgerGroup
from service.cli.output import command, emit, fields
from service.cli.session import app as sessions_app
from service.cli.session import login, logout

app = typer.Typer(
    cls=GovledgerGroup,
    help="Governance ledger for federated, accelerated ML models.",
    epilog="Signing keys: --as NAME (a keystore from `govledger keys`; its password from "
    "GOVLEDGER_KEY_PASSWORD or a prompt), --dev-account N (local chain), or "
    "GOVLEDGER_PRIVATE_KEY. Global options (--json, --as, --dev-account, --url) go before or "
    "after the command.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
)


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="GOVLEDGER_SERVICE_URL",
            help="The service's base URL (default: http://<service_host>:<service_port>).",
        ),
    ] = None,
    key_name: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="GOVLEDGER_KEY_NAME",
            help="Sign with the keystore <data_dir>/keys/NAME.json (see `govledger keys`).",
        ),
    ] = None,
    dev_account: Annotated[
        int | None,
        typer.Option(
            "--dev-account",
            min=0,
            max=999,
            help="Sign with anvil's public dev account N (local chain only; 1-3 are the founders).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of tables.")
    ] = False,
) -> None:
    """Governance ledger for federated, accelerated ML models."""
    current = begin(
        CliState(
            url_option=url, key_name=key_name, dev_account=dev_account, json_output=json_output
        )
    )
    ctx.call_on_close(current.close)


def info() -> None:
    """Show the chain, the contracts and their EIP-712 domains, and the relayer."""
    s = state()
    i = s.client().info()
    emit(
        i,
        lambda: fields(
            [
                ("service", s.url),
                ("chain id", i.chain_id),
                ("deployed at block", i.deploy_block),
                *((name, c.address) for name, c in i.contracts.items()),
                ("relayer", i.relayer),
                ("compiler", i.compiler_version),
                ("store", i.store_backend),
                ("largest upload", f"{i.max_upload_bytes} bytes"),
                ("sign-in domain", i.siwe_domain),
            ]
        ),
        as_json=s.json_output,
    )


for func, name in (
    (stack.up, "up"),
    (stack.down, "down"),
    (stack.status, "status"),
    (info, "info"),
    (login, "login"),
    (logout, "logout"),
    (versions.vote, "vote"),
    (members.resign, "resign"),
    (accelerate.accelerate, "accelerate"),
    (accelerate.predict, "predict"),
    (ballots.ballots, "ballots"),
    (convert.convert, "convert"),
    (history.history, "history"),
    (audit.audit, "audit"),
):
    command(app, name)(func)

for sub, name in (
    (keys.app, "keys"),
    (models.app, "models"),
    (versions.app, "versions"),
    (versions.votes_app, "votes"),
    (aliases.app, "alias"),
    (rights.app, "rights"),
    (members.members_app, "members"),
    (members.consortium_app, "consortium"),
    (members.membership_app, "membership"),
    (artifacts.app, "artifacts"),
    (sessions_app, "sessions"),
    (chain.app, "chain"),
    (store.app, "store"),
    (index.app, "index"),
    (rounds.app, "rounds"),
    (accelerate.builds_app, "builds"),
    (accelerate.evaluation_app, "evaluation"),
    (flower.app, "flower"),
):
    app.add_typer(sub, name=name)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
