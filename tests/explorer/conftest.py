"""A ledger to explore, made on the session's stack through the service (an accelerated build
relayed straight to the chain, as the audit's scenario does), and a real headless Chromium
(Debian's, driven by Playwright) to look at it.

The open model: a base approved by two members (one giving a reason with markup in it), aliased
production; a Krum round on it whose three updates leave two excluded, finalized into an
aggregate the members approve; an accelerated build of the aggregate; a second round on the
aggregate with one update, still open; a second base with one vote against, still proposed.
The restricted model: one approved version whose artifact and metadata document only a signed-in
reader may see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from service.chain.ledger import Ledger
from service.chain.types import VersionKind
from service.client import GovLedgerClient
from service.store.embedded import EmbeddedStore
from tests import scenes
from tests.cli.conftest import unique
from tests.scenes import PARTICIPANTS, krum_round, relayed_ledger, weights
from tests.stack import Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # and a fresh profile directory, which Playwright makes for every launch
REASON = 'beats the baseline <img src=x id="injected"> & more'
SECRET = "restricted-secret-" + unique("s")


@dataclass(frozen=True)
class Explored:
    model_id: int
    model_name: str
    base: int
    aggregate: int
    build: int
    pending: int  # the second base, still proposed
    round_id: int  # finalized
    open_round: int
    restricted_id: int
    restricted_name: str
    restricted_version: int
    restricted_bytes: bytes
    open_bytes: bytes  # the base's artifact


accounts = scenes.accounts
client = scenes.client


@pytest.fixture(scope="package")
def ledger(stack: Stack) -> Ledger:
    return relayed_ledger(stack, 8)


@pytest.fixture(scope="package")
def explored(
    stack: Stack,
    client: GovLedgerClient,
    ledger: Ledger,
    accounts: list[LocalAccount],
    tmp_path_factory: pytest.TempPathFactory,
) -> Explored:
    tmp = tmp_path_factory.mktemp("explorer")
    owner, voters = accounts[1], accounts[2:4]
    name = unique("lineage")
    model_id = client.register_model(owner, name).model.model_id
    open_bytes = weights(1)
    (tmp / "base.safetensors").write_bytes(open_bytes)
    base = client.propose_version(
        owner, model_id, tmp / "base.safetensors", artifact_format="safetensors"
    ).version.version_id
    for voter in voters:
        client.cast_vote(voter, base, "for")
    client.attach_vote_reason(voters[0], base, "for", REASON)
    client.move_alias(owner, model_id, "production", base)
    for i in PARTICIPANTS:
        client.grant_rights(owner, model_id, accounts[i].address, ["submit_updates"])

    round_id = krum_round(
        client, accounts, stack, tmp, model_id, base, min_updates=1, max_updates=3
    )
    aggregate = int(client.finalize_round(owner, round_id).version_id)
    for voter in voters:
        client.cast_vote(voter, aggregate, "for")

    with EmbeddedStore(stack.settings.store_dir) as store:  # an ONNX build's bytes stand here
        artifact = store.put(b"an onnx graph stands here " + unique("b").encode())
    build = ledger.propose_version(
        owner, model_id, artifact.cid.digest, parent_id=aggregate, kind=VersionKind.ACCELERATED
    )
    client.cast_vote(voters[1], build, "for")

    open_round = krum_round(
        client,
        accounts,
        stack,
        tmp,
        model_id,
        aggregate,
        participants=PARTICIPANTS[:1],
        min_updates=1,
        max_updates=3,
    )
    (tmp / "second.safetensors").write_bytes(weights(2))
    pending = client.propose_version(
        owner, model_id, tmp / "second.safetensors", artifact_format="safetensors"
    ).version.version_id
    client.cast_vote(voters[1], pending, "against")

    secret_name = unique("restricted")
    restricted_id = client.register_model(owner, secret_name, restricted=True).model.model_id
    restricted_bytes = weights(3)
    (tmp / "secret.safetensors").write_bytes(restricted_bytes)
    document = client.store_metadata(owner, json.dumps({"description": SECRET}).encode())
    restricted_version = client.propose_version(
        owner,
        restricted_id,
        tmp / "secret.safetensors",
        artifact_format="safetensors",
        metadata_digest=document.digest,
    ).version.version_id
    for voter in voters:
        client.cast_vote(voter, restricted_version, "for")
    return Explored(
        model_id=model_id,
        model_name=name,
        base=base,
        aggregate=aggregate,
        build=build,
        pending=pending,
        round_id=round_id,
        open_round=open_round,
        restricted_id=restricted_id,
        restricted_name=secret_name,
        restricted_version=restricted_version,
        restricted_bytes=restricted_bytes,
        open_bytes=open_bytes,
    )


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (never a browser Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: scripts/setup.sh installs it (apt-get install chromium)"
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
