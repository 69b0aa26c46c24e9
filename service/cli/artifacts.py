"""``govledger artifacts download``: content by CID or by version, verified on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from service.cli.context import state, version_of
from service.cli.output import CliError, command, emit, fields, stderr, transfer_progress
from service.cli.session import signed_in_if_asked
from service.client import Download

app = typer.Typer(help="Artifacts: verified downloads.", no_args_is_help=True)


@command(app, "download")
def download(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The file to write (or a directory: the CID is the name)."
        ),
    ],
    cid: Annotated[str | None, typer.Argument(help="The content's CID.")] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="A version's artifact: digits-mlp@3, digits-mlp:production or its id.",
        ),
    ] = None,
) -> None:
    """Download an artifact, verify its CID (and the chain's digest), then write it.

    Restricted models need a session: `govledger login` first, or give a key (--as,
    --dev-account) and the command signs in when the service asks for it."""
    if (cid is None) == (version is None):
        raise CliError("give either a CID or --version ID")
    s = state()
    client = s.client(session=True)
    version_id = version_of(client, version).version_id if version is not None else None

    def fetch() -> Download:
        with transfer_progress() as progress:
            if version_id is not None:
                return client.download_version(version_id, output, progress=progress)
            assert cid is not None
            return client.download_artifact(cid, output, progress=progress)

    done = signed_in_if_asked(fetch)
    warning = done.warning
    if warning is not None:
        stderr().print(Text(f"warning: {warning}", style="yellow"))
    emit(
        {
            "path": str(done.path),
            "cid": done.cid,
            "size": done.size,
            "verified": True,
            "warning": warning,
        },
        lambda: fields(
            [
                ("written", str(done.path)),
                ("cid", done.cid),
                ("size", f"{done.size} bytes"),
                (
                    "verified",
                    "yes: the bytes hash to this CID"
                    + (" and to the digest on chain" if version is not None else ""),
                ),
            ]
        ),
        as_json=s.json_output,
    )
