"""Signed actions the chain would accept but that are almost surely mistakes, refused before
anything is sent: the same bytes proposed again as a new version of the same model, a right
granted to an account that holds it, or revoked from one that does not.

Each check applies to a fresh action only (its nonce is not below the actor's nonce on chain).
A request sent again after it was recorded -- a client retrying an answer it lost -- carries a
used nonce, so it passes through to the relayer, which answers with the first result (or the
chain refuses the stale nonce); the check cannot turn a retry of a success into a refusal.
"""

from __future__ import annotations

from eth_utils import to_checksum_address

from service.chain.history import uint_topic
from service.chain.ledger import Ledger
from service.chain.types import Rights
from service.errors import Conflict


class DuplicateArtifact(Conflict):
    """The artifact's bytes are already a version of the same model (HTTP 409)."""


class NothingToChange(Conflict):
    """The rights change would leave the account's rights as they are (HTTP 409)."""


_RIGHT_NAMES = {
    Rights.SUBMIT_UPDATES: "submit_updates",
    Rights.READ_ARTIFACTS: "read_artifacts",
    Rights.MAINTAIN: "maintain",
}


def fresh(ledger: Ledger, contract: str, actor: str, nonce: int) -> bool:
    """Whether an action with ``nonce`` could still be new (not a replay of a recorded one)."""
    return nonce >= ledger.nonce_of(contract, to_checksum_address(actor))  # type: ignore[arg-type]


def refuse_duplicate_artifact(
    ledger: Ledger, *, model_id: int, digest: bytes, actor: str, nonce: int
) -> None:
    """DuplicateArtifact if a version of ``model_id`` already has the artifact ``digest``."""
    if not fresh(ledger, "ModelRegistry", actor, nonce):
        return
    model = ledger.model(model_id)
    proposed = ledger.events(
        contract="ModelRegistry",
        event="VersionProposed",
        topics=[None, uint_topic(model_id)],
        with_timestamps=False,
    )
    for number, event in enumerate(proposed, start=1):
        if bytes(event.args["artifactDigest"]) == digest:
            version_id = int(event.args["versionId"])
            state = ledger.version(version_id).state.name.lower()
            raise DuplicateArtifact(duplicate_message(model.name, number, version_id, state))


def duplicate_message(model: str, number: int, version_id: int, state: str) -> str:
    return (
        f"these bytes are already {model}@{number} (version {version_id}, {state}): proposing "
        "them again would make a copy of it; propose a file with other weights, or ask for the "
        "copy explicitly (allow_duplicate=true; the CLI's --allow-duplicate), e.g. to vote "
        "again on rejected bytes"
    )


def refuse_no_op_rights_change(
    ledger: Ledger, *, grant: bool, model_id: int, account: str, rights: Rights, actor: str,
    nonce: int,
) -> None:  # fmt: skip
    """NothingToChange if granting rights the account holds, or revoking rights it does not
    (only for the owner's own actions: anyone else is refused by the chain anyway)."""
    model = ledger.model(model_id)
    if to_checksum_address(actor) != to_checksum_address(model.owner):
        return
    if not fresh(ledger, "ModelRegistry", actor, nonce):
        return
    account = to_checksum_address(account)
    if account == to_checksum_address(model.owner):
        raise NothingToChange(
            f"{account} owns model {model.name!r} and so holds every right on it; "
            + ("granting" if grant else "revoking")
            + " rights changes nothing (to take them away, transfer the model)"
        )
    held = ledger.rights_of(model_id, account)
    if grant:
        redundant = [n for r, n in _RIGHT_NAMES.items() if rights & r and held & r]
        if redundant:
            missing = [n for r, n in _RIGHT_NAMES.items() if rights & r and not held & r]
            rest = f"; grant only {', '.join(missing)}" if missing else ""
            raise NothingToChange(
                f"{account} already holds {', '.join(redundant)} on model {model.name!r}; "
                f"nothing was sent{rest}"
            )
    else:
        absent = [n for r, n in _RIGHT_NAMES.items() if rights & r and not held & r]
        if absent:
            kept = [n for r, n in _RIGHT_NAMES.items() if held & r]
            has = f"it holds {', '.join(kept)}" if kept else "it holds no rights on it"
            raise NothingToChange(
                f"{account} does not hold {', '.join(absent)} on model {model.name!r} ({has}); "
                "nothing was sent"
            )
