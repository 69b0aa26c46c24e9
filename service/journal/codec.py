"""JSON forms of what the journal keeps: action arguments and receipts (pure; no I/O).

Values are tagged so that they come back with their Python types: bytes as ``{"$bytes": hex}``,
everything else as JSON already holds it (integers of any size, strings, booleans, lists).
"""

from __future__ import annotations

from typing import Any

from service.chain.ledger_core import ActionReceipt
from service.chain.types import Event


def encode_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum -> int
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    raise TypeError(f"the journal cannot keep a {type(value).__name__}")


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def encode_receipt(receipt: ActionReceipt) -> dict[str, Any]:
    return {
        "transaction_hash": receipt.transaction_hash,
        "block_number": receipt.block_number,
        "block_hash": receipt.block_hash,
        "gas_used": receipt.gas_used,
        "events": [
            {
                "name": e.name,
                "args": encode_value(e.args),
                "block_number": e.block_number,
                "transaction_hash": e.transaction_hash,
                "log_index": e.log_index,
            }
            for e in receipt.events
        ],
    }


def decode_receipt(data: dict[str, Any]) -> ActionReceipt:
    return ActionReceipt(
        transaction_hash=str(data["transaction_hash"]),
        block_number=int(data["block_number"]),
        block_hash=str(data["block_hash"]),
        gas_used=int(data["gas_used"]),
        events=[
            Event(
                name=str(e["name"]),
                args=decode_value(e["args"]),
                block_number=int(e["block_number"]),
                block_timestamp=None,
                transaction_hash=str(e["transaction_hash"]),
                log_index=int(e["log_index"]),
            )
            for e in data["events"]
        ],
    )
