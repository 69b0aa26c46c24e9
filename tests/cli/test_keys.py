"""``govledger keys``: encrypted keystore files created, imported, listed, shown and used."""

from __future__ import annotations

import json
import stat

from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.client import GovLedgerClient
from tests.cli.conftest import Cli, unique

PASSWORD = "correct horse battery staple"


def test_new_key_is_a_standard_encrypted_keystore(cli: Cli) -> None:
    result = cli("--json", "keys", "new", "alice", GOVLEDGER_KEY_PASSWORD=PASSWORD)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    path = cli.home / "keys" / "alice.json"
    assert shown["name"] == "alice" and shown["path"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keystore = json.loads(path.read_text())
    assert keystore["version"] == 3 and "ciphertext" in keystore["crypto"]
    key = Account.decrypt(keystore, PASSWORD)
    assert Account.from_key(key).address == shown["address"]

    listed = cli("keys", "list")
    assert listed.exit_code == 0 and "alice" in listed.stdout and shown["address"] in listed.stdout
    one = cli("keys", "show", "alice")
    assert one.exit_code == 0 and shown["address"] in one.stdout and str(path) in one.stdout

    again = cli("keys", "new", "alice", GOVLEDGER_KEY_PASSWORD=PASSWORD)
    assert again.exit_code == 2 and "a key named 'alice' exists already" in again.stderr


def test_password_from_a_hidden_prompt(cli: Cli) -> None:
    result = cli("keys", "new", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.stdout
    address = json.loads((cli.home / "keys" / "bob.json").read_text())["address"]
    assert address.lower() in result.stdout.lower()
    mismatch = cli("keys", "new", "carol", input=f"{PASSWORD}\nother\n")
    assert mismatch.exit_code != 0
    assert not (cli.home / "keys" / "carol.json").exists()


def test_imported_key_signs_and_a_wrong_password_is_refused(
    cli: Cli, client: GovLedgerClient, accounts: list[LocalAccount]
) -> None:
    founder = accounts[1]
    imported = cli(
        "keys", "import", "founder",
        GOVLEDGER_PRIVATE_KEY=founder.key.hex(), GOVLEDGER_KEY_PASSWORD=PASSWORD,
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert founder.address in imported.stdout

    name = unique("keystore")
    registered = cli(
        "--as", "founder", "--json", "models", "register", name, GOVLEDGER_KEY_PASSWORD=PASSWORD
    )
    assert registered.exit_code == 0, registered.output
    assert json.loads(registered.stdout)["model"]["owner"] == founder.address
    assert client.get_model_by_name(name).owner == founder.address

    wrong = cli("--as", "founder", "models", "register", unique("no"), GOVLEDGER_KEY_PASSWORD="x")
    assert wrong.exit_code == 5  # the key
    assert "cannot decrypt" in wrong.stderr and "wrong password" in wrong.stderr

    prompted = cli("--as", "founder", "models", "register", unique("p"), input=f"{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output


def test_key_from_the_environment(cli: Cli, accounts: list[LocalAccount]) -> None:
    name = unique("envkey")
    result = cli("--json", "models", "register", name, GOVLEDGER_PRIVATE_KEY=accounts[2].key.hex())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"]["owner"] == accounts[2].address


def test_key_errors(cli: Cli) -> None:
    missing = cli("--as", "nobody", "models", "register", unique("x"))
    assert missing.exit_code == 3 and "no key named 'nobody'" in missing.stderr
    bad_name = cli("keys", "new", "../escape", GOVLEDGER_KEY_PASSWORD=PASSWORD)
    assert bad_name.exit_code == 2 and "key name '../escape' is invalid" in bad_name.stderr
    bad_key = cli("keys", "import", "k", GOVLEDGER_PRIVATE_KEY="0x1234", GOVLEDGER_KEY_PASSWORD="p")
    assert bad_key.exit_code == 5 and "not a 32-byte hex string" in bad_key.stderr
    empty = cli("keys", "new", "k", GOVLEDGER_KEY_PASSWORD="")
    assert empty.exit_code == 2 and "empty password" in empty.stderr
    no_key = cli("models", "register", unique("x"))
    assert no_key.exit_code == 5 and "this command signs: choose a key" in no_key.stderr
    both = cli("--as", "a", "--dev-account", "1", "models", "register", unique("x"))
    assert both.exit_code == 2 and "either --dev-account or --as" in both.stderr
