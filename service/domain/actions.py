"""Signed actions arriving over the API: rebuild what the actor signed, check it, relay it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from eth_utils import is_address, to_checksum_address

from service.chain.actions import Action, SignedAction, action_spec, typed_data_digest
from service.chain.ledger import ActionReceipt, Ledger
from service.errors import InvalidInput
from service.journal.relayer import Relayer


class SignedFieldsLike(Protocol):
    actor: str
    nonce: int
    deadline: int
    signature: str


@dataclass
class SignedFields:
    """The signed fields of a request that carries them in its query (a streamed upload)."""

    actor: str
    nonce: int
    deadline: int
    signature: str


def signed_action(
    ledger: Ledger, name: str, args: dict[str, Any], fields: SignedFieldsLike
) -> SignedAction:
    """The SignedAction the request claims: ``args`` are the action's ABI-named arguments."""
    spec = action_spec(name)
    action = Action(
        spec=spec,
        args=args,
        actor=to_checksum_address(fields.actor),
        nonce=fields.nonce,
        deadline=fields.deadline,
        domain=ledger.domain(spec.contract),
    )
    try:
        signature = bytes.fromhex(fields.signature.removeprefix("0x"))
    except ValueError:
        raise InvalidInput(
            "signature is not hex; give 0x followed by the signature's hex digits"
        ) from None
    return SignedAction(action=action, signature=signature)


def relay(
    relayer: Relayer, name: str, args: dict[str, Any], fields: SignedFieldsLike
) -> ActionReceipt:
    """Verify the actor's signature (before any work) and relay the action to the chain,
    journaled (see service/journal/relayer.py)."""
    return relayer.relay(signed_action(relayer.ledger, name, args, fields))


def finalize(relayer: Relayer, contract: str, function: str, item_id: int) -> ActionReceipt:
    """A permissionless ``finalize…`` call from the relayer, journaled like signed actions."""
    return relayer.send_call(contract, function, [item_id])


def prepare(
    relayer: Relayer, name: str, actor: str, args: dict[str, Any], deadline: int | None
) -> tuple[Action, bytes]:
    """The action an actor should sign now (next nonce, deadline) and its EIP-712 digest. The
    nonce is the chain's, or past the journal's if it holds later ones (a chain that lost
    journaled actions gets them back before anything else is sent)."""
    abi_args = _abi_args(name, args)
    ledger = relayer.ledger
    action = ledger.prepare(name, actor, abi_args, deadline=deadline)
    nonce = relayer.next_nonce(action.spec.contract, action.actor, action.nonce)
    if nonce != action.nonce:
        action = ledger.prepare(name, actor, abi_args, nonce=nonce, deadline=action.deadline)
    return action, typed_data_digest(action)


def _abi_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """JSON arguments to ABI values: bytes32 fields may come as 0x-hex strings, arrays as JSON
    lists of their elements."""
    spec = action_spec(name)
    out: dict[str, Any] = {}
    for field, typ in spec.fields:
        if field not in args:
            raise InvalidInput(f"{name} needs the argument {field!r} ({typ})")
        out[field] = _abi_value(field, typ, args[field])
    extra = set(args) - {f for f, _ in spec.fields}
    if extra:
        raise InvalidInput(f"{name} takes no arguments {sorted(extra)}")
    return out


_MAX_ARRAY = 10_000


def _abi_value(field: str, typ: str, value: Any) -> Any:
    if typ.endswith("[]"):
        if not isinstance(value, list) or len(value) > _MAX_ARRAY:
            raise InvalidInput(
                f"{field} must be a list of {typ[:-2]} (at most {_MAX_ARRAY}), not {value!r:.80}"
            )
        return [_abi_value(f"{field}[{i}]", typ[:-2], v) for i, v in enumerate(value)]
    if typ == "bytes32" and isinstance(value, str):
        text = value.removeprefix("0x")
        if len(text) != 64:
            raise InvalidInput(f"{field} must be 32 bytes as 0x + 64 hex digits")
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise InvalidInput(f"{field} is not hex") from None
    if typ.startswith("uint"):
        bits = int(typ[4:])
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
            value = int(value)  # 961.0 is an integer in JSON (exact up to 2**53)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**bits:
            raise InvalidInput(f"{field} must be an integer from 0 to 2**{bits} - 1, not {value!r}")
        return value
    if typ == "address":
        if not isinstance(value, str) or not is_address(value):
            raise InvalidInput(f"{field} must be an address (0x + 40 hex digits), not {value!r}")
        return to_checksum_address(value)
    if typ == "bool" and not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false, not {value!r}")
    if typ == "string" and not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, not {value!r}")
    return value
