"""Check (b): every relayed action was signed by the actor its event names (and every action
called directly was sent by it).

For each transaction that emitted the contracts' events and called a ``…BySig`` function, the
calldata is decoded with the compiled ABI, the EIP-712 struct is rebuilt from it
(``chain/actions.py``) in the domain the contract itself reports (ERC-5267 ``eip712Domain()``),
and the signer recovered from the signature must be the ``actor`` argument, and the ``actor``
the account the action's event names (``by``, ``voter``, ``proposer``, ...). An ``actor`` that
is a contract (an ERC-1271 wallet) is asked ``isValidSignature`` at the transaction's block.

A ``…BySig`` call made from inside another contract (a wallet relaying for itself) is not in any
transaction's calldata; its event is still checked by the state check, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector

from service.audit.context import CONTRACTS, AuditContext
from service.audit.findings import Finding, failed, passed
from service.chain.abi import checksummed
from service.chain.actions import (
    ACTIONS,
    Action,
    ActionSpec,
    Domain,
    recover_signer,
    typed_data_digest,
)
from service.chain.ledger_core import ERC1271_ABI, ERC1271_MAGIC
from service.chain.types import Event
from service.errors import InvalidInput

#: the event each action emits and its argument that names the acting account
ACTOR_EVENTS: dict[str, tuple[str, str]] = {
    "ProposeChange": ("ChangeProposed", "proposer"),
    "VoteOnChange": ("ChangeVoteCast", "voter"),
    "Resign": ("MemberRemoved", "account"),
    "RegisterModel": ("ModelRegistered", "owner"),
    "SetModelMetadata": ("ModelMetadataChanged", "by"),
    "TransferModelOwnership": ("ModelOwnershipTransferStarted", "previousOwner"),
    "AcceptModelOwnership": ("ModelOwnershipTransferred", "newOwner"),
    "SetReadPolicy": ("ReadPolicyChanged", "by"),
    "GrantRights": ("RightsGranted", "by"),
    "RevokeRights": ("RightsRevoked", "by"),
    "ProposeVersion": ("VersionProposed", "proposer"),
    "CastVote": ("VoteCast", "voter"),
    "MoveAlias": ("AliasMoved", "by"),
    "OpenRound": ("RoundOpened", "by"),
    "SubmitUpdate": ("UpdateSubmitted", "participant"),
    "CloseRound": ("RoundClosed", "by"),
    "FinalizeRound": ("RoundFinalized", "by"),
    "CancelRound": ("RoundCancelled", "by"),
}


@dataclass(frozen=True)
class _Function:
    contract: str
    name: str
    types: list[str]


@dataclass(frozen=True)
class _Signed:
    """One signed action found in calldata."""

    spec: ActionSpec
    args: dict[str, Any]
    actor: str
    nonce: int
    deadline: int
    signature: bytes


class SignatureCheck:
    name = "signatures"
    title = "actions were signed (or sent) by the actors their events name"

    def run(self, ctx: AuditContext) -> Iterator[Finding]:
        selectors = _by_sig_selectors(ctx)
        plain = _plain_selectors(ctx)
        addresses = {to_checksum_address(ctx.deployment.address_of(c)): c for c in CONTRACTS}
        domains: dict[str, Domain] = {}
        for tx_hash, events in ctx.transactions():
            if not ctx.in_scope(events[0]):
                continue
            tx = ctx.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            to = tx.get("to")
            contract = addresses.get(to_checksum_address(to)) if to else None
            data = bytes(tx["input"])
            function = selectors.get((contract or "", data[:4]))
            direct = plain.get((contract or "", data[:4]))
            if contract is not None and direct is not None:  # sent by the actor itself
                yield self._direct(tx_hash, direct, str(tx["from"]), events)
                continue
            if contract is None or function is None:
                continue  # not an action (a deployment, finalizeVersion, a call from a wallet)
            if contract not in domains:
                domains[contract] = _domain(ctx, contract)
            record = f"{function.name} in {tx_hash}"
            try:
                signed = _decode(function, data[4:])
            except (ValueError, InvalidInput) as exc:
                yield failed(self.name, record, f"the calldata does not decode: {exc}")
                continue
            block = int(tx["blockNumber"])
            yield from self._check(ctx, record, signed, domains[contract], events, block)

    def _check(
        self,
        ctx: AuditContext,
        record: str,
        signed: list[_Signed],
        domain: Domain,
        events: list[Event],
        block: int,
    ) -> Iterator[Finding]:
        for index, s in enumerate(signed):
            label = record if len(signed) == 1 else f"{record} (entry {index})"
            action = Action(
                spec=s.spec,
                args=s.args,
                actor=s.actor,
                nonce=s.nonce,
                deadline=s.deadline,
                domain=domain,
            )
            signer_ok, how = _signed_by(ctx, action, s.signature, block)
            event_name, field = ACTOR_EVENTS[s.spec.name]
            candidates = [e for e in events if e.name == event_name]
            # a batch emits one UpdateSubmitted per entry, in order
            named = candidates[index] if len(candidates) > index else None
            if len(signed) == 1:
                named = candidates[0] if candidates else None
            if not signer_ok:
                yield failed(
                    self.name,
                    label,
                    f"{s.spec.name} names actor {s.actor}, but {how} "
                    f"(domain {domain.name!r} of {domain.verifying_contract})",
                )
                continue
            if named is None:
                yield failed(
                    self.name, label, f"no {event_name} event of this action names its actor"
                )
                continue
            in_event = to_checksum_address(named.args[field])
            if in_event != s.actor:
                yield failed(
                    self.name,
                    label,
                    f"signed by {s.actor}, but its {event_name} event names {field} {in_event}",
                )
                continue
            yield passed(
                self.name,
                label,
                f"{s.spec.name} {how}, whom its {event_name} event names as {field}",
            )

    def _direct(self, tx_hash: str, spec: ActionSpec, sender: str, events: list[Event]) -> Finding:
        """A plain call of an action: its actor is the sender, whom its event must name."""
        record = f"{spec.function} in {tx_hash}"
        event_name, field = ACTOR_EVENTS[spec.name]
        named = [to_checksum_address(e.args[field]) for e in events if e.name == event_name]
        sender = to_checksum_address(sender)
        if not named:
            return failed(self.name, record, f"no {event_name} event names its actor")
        if any(n != sender for n in named):
            return failed(
                self.name,
                record,
                f"sent by {sender}, but its {event_name} event names {field} {named[0]}",
            )
        return passed(
            self.name,
            record,
            f"{spec.name} sent directly by {sender}, whom its {event_name} event names as {field}",
        )


def _plain_selectors(ctx: AuditContext) -> dict[tuple[str, bytes], ActionSpec]:
    """The plain (not signed) functions of the actions, by contract and selector."""
    found: dict[tuple[str, bytes], ActionSpec] = {}
    for spec in ACTIONS.values():
        for item in ctx.build[spec.contract].abi:
            if item.get("type") == "function" and item["name"] == spec.function:
                selector = bytes(function_abi_to_4byte_selector(item))  # type: ignore[arg-type]
                found[(spec.contract, selector)] = spec
    return found


def _by_sig_selectors(ctx: AuditContext) -> dict[tuple[str, bytes], _Function]:
    found: dict[tuple[str, bytes], _Function] = {}
    for contract in CONTRACTS:
        for item in ctx.build[contract].abi:
            if item.get("type") != "function" or not str(item["name"]).endswith("BySig"):
                continue
            selector = bytes(function_abi_to_4byte_selector(item))  # type: ignore[arg-type]
            types = [collapse_if_tuple(dict(i)) for i in item["inputs"]]
            found[(contract, selector)] = _Function(contract, str(item["name"]), types)
    return found


def _decode(function: _Function, calldata: bytes) -> list[_Signed]:
    values = checksummed(function.types, abi_decode(function.types, calldata))
    if function.name == "submitUpdatesBySig":  # a batch of signed SubmitUpdate actions
        spec = ACTIONS["SubmitUpdate"]
        return [
            _Signed(
                spec=spec,
                args=dict(zip([n for n, _ in spec.fields], entry[:4], strict=True)),
                actor=entry[4],
                nonce=int(entry[5]),
                deadline=int(entry[6]),
                signature=bytes(entry[7]),
            )
            for entry in values[0]
        ]
    base = function.name.removesuffix("BySig")
    spec = next(s for s in ACTIONS.values() if s.function == base)
    *head, actor, nonce, deadline, signature = values
    fields = list(head[0]) if spec.struct_argument else head
    names = [n for n, _ in spec.fields]
    if len(fields) != len(names):
        raise ValueError(
            f"{function.name} carries {len(fields)} arguments, {spec.name} has {names}"
        )
    args = {n: _plain(v) for n, v in zip(names, fields, strict=True)}
    return [_Signed(spec, args, actor, int(nonce), int(deadline), bytes(signature))]


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _domain(ctx: AuditContext, contract: str) -> Domain:
    """The EIP-712 domain the contract reports (ERC-5267), not the one this code expects."""
    _, name, version, chain_id, verifying, _, _ = ctx.call(
        ctx.contract(contract).functions.eip712Domain()
    )
    return Domain(
        name=str(name),
        version=str(version),
        chain_id=int(chain_id),
        verifying_contract=str(verifying),
    )


def _signed_by(ctx: AuditContext, action: Action, signature: bytes, block: int) -> tuple[bool, str]:
    """Whether ``action.actor`` signed; and a phrase saying how (or who did)."""
    try:
        signer = recover_signer(action, signature)
    except InvalidInput:
        signer = None
    if signer == action.actor:
        return True, f"was signed by {signer}"
    if ctx.w3.eth.get_code(action.actor, block_identifier=block):  # type: ignore[arg-type]
        wallet = ctx.w3.eth.contract(
            address=to_checksum_address(action.actor),
            abi=ERC1271_ABI,
        )
        try:
            answer = wallet.functions.isValidSignature(typed_data_digest(action), signature).call(
                block_identifier=block
            )
        except Exception as exc:  # any failure of the wallet's call means no
            return False, f"the wallet {action.actor} did not accept the signature ({exc})"
        if bytes(answer)[:4] == ERC1271_MAGIC:
            return True, f"was accepted by the ERC-1271 wallet {action.actor}"
        return False, f"the wallet {action.actor} does not accept the signature"
    return False, f"the signature recovers to {signer or 'nobody'}"
