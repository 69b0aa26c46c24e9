"""What to sign: deployment facts and prepared EIP-712 actions."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter

from service.api.deps import LedgerDep, RelayerDep, SettingsDep
from service.api.problems import PROBLEM_RESPONSES
from service.api.schemas import ActionPrepare, ContractInfo, InfoPublic, PreparedAction
from service.chain.actions import DOMAIN_NAMES, DOMAIN_VERSION, ContractName
from service.domain import actions
from service.errors import ChainUnavailable

router = APIRouter(prefix="/v1", tags=["actions"], responses=PROBLEM_RESPONSES)


@router.get("/info", response_model=InfoPublic)
def info(ledger: LedgerDep, settings: SettingsDep) -> InfoPublic:
    """The chain, the contracts and their EIP-712 domains, the relayer."""
    d = ledger.deployment
    try:
        chain_time: int | None = ledger.chain_time()
    except ChainUnavailable:
        chain_time = None
    return InfoPublic(
        chain_id=d.chain_id,
        chain_time=chain_time,
        deploy_block=d.deploy_block,
        relayer=ledger.relayer.account.address,
        contracts={
            name: ContractInfo(
                address=d.address_of(name),
                eip712_name=DOMAIN_NAMES[name],
                eip712_version=DOMAIN_VERSION,
            )
            for name in get_args(ContractName)
        },
        compiler_version=d.compiler_version,
        store_backend="kubo" if settings.ipfs_api_url else "embedded",
        max_upload_bytes=settings.max_upload_bytes,
        siwe_domain=settings.siwe_domain,
    )


@router.post("/actions/prepare", response_model=PreparedAction)
def prepare(body: ActionPrepare, relayer: RelayerDep) -> PreparedAction:
    """Build the typed data an actor signs for an action (its next nonce, a deadline)."""
    action, digest = actions.prepare(relayer, body.action, body.actor, body.args, body.deadline)
    return PreparedAction(
        action=action.spec.name,
        actor=action.actor,
        nonce=action.nonce,
        deadline=action.deadline,
        typed_data=action.typed_data(),
        digest="0x" + digest.hex(),
    )
