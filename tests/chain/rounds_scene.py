"""The state the federated-round tests start from, and the calls they repeat (no fixtures here).

A model owned by founder 1 with an approved base version, a maintainer (account 4), four
contributors holding SubmitUpdates (accounts 6 to 9) and a stranger with no right (account 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from service.chain.actions import SignedAction, sign_action
from service.chain.ledger import Ledger
from service.chain.types import NORM_SCALE, Rights, Support, rule_to_bytes32
from tests.chain.helpers import digest, mine_at

BASE_DIGEST = digest("base weights")
PARAMS_DIGEST = digest("fedavg parameters")
ROUND_PERIOD = 3600


@dataclass(frozen=True)
class RoundScene:
    model_id: int
    base_id: int
    owner: LocalAccount
    maintainer: LocalAccount
    stranger: LocalAccount
    contributors: list[LocalAccount]
    members: list[LocalAccount]


def make_scene(ledger: Ledger, accounts: list[LocalAccount]) -> RoundScene:
    owner, members = accounts[1], accounts[1:4]
    model_id = ledger.register_model(owner, "federated-model")
    base_id = ledger.propose_version(owner, model_id, BASE_DIGEST)
    ledger.cast_vote(members[0], base_id, Support.FOR)
    ledger.cast_vote(members[1], base_id, Support.FOR)
    maintainer, contributors = accounts[4], accounts[6:10]
    ledger.grant_rights(owner, model_id, maintainer.address, Rights.MAINTAIN)
    for c in contributors:
        ledger.grant_rights(owner, model_id, c.address, Rights.SUBMIT_UPDATES)
    return RoundScene(
        model_id=model_id,
        base_id=base_id,
        owner=owner,
        maintainer=maintainer,
        stranger=accounts[5],
        contributors=contributors,
        members=members,
    )


def open_args(ledger: Ledger, scene: RoundScene, **overrides: Any) -> dict[str, Any]:
    """OpenRound arguments: fedavg, 2 to 4 updates, an hour from now, norm bound 5.0."""
    args = {
        "modelId": scene.model_id,
        "baseVersionId": scene.base_id,
        "rule": rule_to_bytes32("fedavg"),
        "paramsDigest": PARAMS_DIGEST,
        "minUpdates": 2,
        "maxUpdates": 4,
        "submissionDeadline": ledger.chain_time() + ROUND_PERIOD,
        "maxNorm": 5 * NORM_SCALE,
    }
    return {**args, **overrides}


def open_round(ledger: Ledger, scene: RoundScene, **overrides: Any) -> int:
    receipt = ledger.act(scene.owner, "OpenRound", open_args(ledger, scene, **overrides))
    return int(receipt.event("RoundOpened").args["roundId"])


def update_digest(participant: LocalAccount, round_id: int) -> bytes:
    return digest(f"update of {participant.address} to round {round_id}")


def submit(ledger: Ledger, participant: LocalAccount, round_id: int, *, samples: int = 100) -> None:
    ledger.submit_update(
        participant,
        round_id,
        base_digest=BASE_DIGEST,
        update_digest=update_digest(participant, round_id),
        sample_count=samples,
    )


def signed_update(
    ledger: Ledger,
    participant: LocalAccount,
    round_id: int,
    *,
    nonce: int | None = None,
    samples: int = 100,
) -> SignedAction:
    """``participant``'s SubmitUpdate for ``round_id``, signed (its next nonce by default)."""
    action = ledger.prepare(
        "SubmitUpdate",
        participant.address,
        {
            "roundId": round_id,
            "baseDigest": BASE_DIGEST,
            "updateDigest": update_digest(participant, round_id),
            "sampleCount": samples,
        },
        nonce=nonce,
    )
    return sign_action(action, participant.key)


def past_deadline(ledger: Ledger, round_id: int) -> None:
    """Mine a block one second after the round's submission deadline."""
    mine_at(ledger.w3, ledger.round(round_id).submission_deadline + 1)


def ascending(accounts: list[LocalAccount]) -> list[LocalAccount]:
    return sorted(accounts, key=lambda a: int(a.address, 16))
