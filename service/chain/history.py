"""Reading the ledger's history back from contract events, paged by block range.

Every state change of the contracts emits an event, so the full history (and any state at any
past block, such as an alias's value) is answerable from logs alone. Pages are bounded in blocks
so that public RPC endpoints with getLogs limits work too.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import BlockIdentifier, FilterParams, LogReceipt

from service.chain.types import Event

DEFAULT_PAGE_BLOCKS = 5_000


class EventReader:
    """Decodes and pages the events of a set of contracts."""

    def __init__(
        self,
        *,
        w3: Web3,
        contracts: dict[str, Contract],
        start_block: int,
        page_blocks: int = DEFAULT_PAGE_BLOCKS,
    ) -> None:
        self.w3 = w3
        self.contracts = contracts
        self.start_block = start_block
        self.page_blocks = page_blocks
        self._by_topic: dict[tuple[str, bytes], tuple[Contract, str]] = {}
        for contract in contracts.values():
            for item in contract.abi:
                if item.get("type") == "event":
                    topic = event_abi_to_log_topic(item)  # type: ignore[arg-type]
                    name = str(item["name"])  # type: ignore[typeddict-item]
                    self._by_topic[(contract.address, topic)] = (contract, name)
        self._timestamps: OrderedDict[bytes, int] = OrderedDict()  # block hash -> time
        self._layouts: dict[tuple[str, bytes], _Layout] = {}
        for contract in contracts.values():
            for item in contract.abi:
                if item.get("type") == "event":
                    layout = _Layout.of(item)
                    if layout is not None:
                        topic = event_abi_to_log_topic(item)  # type: ignore[arg-type]
                        self._layouts[(contract.address.lower(), topic)] = layout

    def topic_of(self, contract: str, event: str) -> bytes:
        for (address, topic), (_, name) in self._by_topic.items():
            if address == self.contracts[contract].address and name == event:
                return topic
        raise KeyError(f"{contract} has no event {event}")

    def events(
        self,
        *,
        contract: str | None = None,
        event: str | Sequence[str] | None = None,
        topics: list[Any] | None = None,
        from_block: int | None = None,
        to_block: BlockIdentifier = "latest",
        with_timestamps: bool = True,
    ) -> Iterator[Event]:
        """Events in chain order. ``topics`` are the indexed arguments after the event's topic
        (each a 32-byte value, a list of them for any of these, or None for any); ``event``
        may name several events of the contract (any of them)."""
        addresses = (
            [self.contracts[contract].address]
            if contract
            else [c.address for c in self.contracts.values()]
        )
        topic_filter: list[Any] = []
        if event is not None:
            if contract is None:
                raise ValueError("an event filter needs its contract")
            names = [event] if isinstance(event, str) else list(event)
            first = [self.topic_of(contract, name) for name in names]
            topic_filter = [first[0] if len(first) == 1 else first, *(topics or [])]
        last = self._resolve(to_block)
        start = self.start_block if from_block is None else max(from_block, self.start_block)
        while start <= last:
            end = min(start + self.page_blocks - 1, last)
            params: FilterParams = {
                "address": addresses,
                "fromBlock": start,
                "toBlock": end,
            }
            if topic_filter:
                params["topics"] = topic_filter
            for log in self.w3.eth.get_logs(params):
                yield self._decode(log, with_timestamps=with_timestamps)
            start = end + 1

    def block_timestamp(self, block: int | bytes) -> int:
        """A block's timestamp, by number or by hash. Only hashes are cached: after a reorg (or
        an anvil snapshot revert) a number can name another block, a hash cannot."""
        if isinstance(block, int):
            return int(self.w3.eth.get_block(block)["timestamp"])
        key = bytes(block)
        cached = self._timestamps.get(key)
        if cached is None:
            cached = int(self.w3.eth.get_block(HexBytes(key))["timestamp"])
            self._timestamps[key] = cached
            if len(self._timestamps) > 10_000:
                self._timestamps.popitem(last=False)
        return cached

    def _resolve(self, block: BlockIdentifier) -> int:
        if isinstance(block, int):
            return block
        return int(self.w3.eth.get_block(block)["number"])

    def decode(self, log: LogReceipt, *, timestamp: int | None = None) -> Event:
        """One raw log of these contracts, decoded (the time given, not looked up): with
        eth-abi directly for events of plain static and string types (every event of these
        contracts; several times faster than web3's ``process_log``, and the same arguments),
        through web3 for any other."""
        layout = self._layouts.get((str(log["address"]).lower(), bytes(log["topics"][0])))
        if layout is None:
            event = self._decode(log, with_timestamps=False)
            return event if timestamp is None else replace(event, block_timestamp=timestamp)
        args: dict[str, Any] = {}
        for (name, type_), topic in zip(layout.indexed, log["topics"][1:], strict=True):
            args[name] = _normal(type_, abi_decode([type_], bytes(topic))[0])
        values = abi_decode(layout.data_types, bytes(log["data"]))
        for name, type_, value in zip(layout.data_names, layout.data_types, values, strict=True):
            args[name] = _normal(type_, value)
        return Event(
            name=layout.name,
            args=args,
            block_number=int(log["blockNumber"]),
            block_timestamp=timestamp,
            transaction_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
        )

    def _decode(self, log: LogReceipt, *, with_timestamps: bool) -> Event:
        key = (to_checksum_address(log["address"]), bytes(log["topics"][0]))
        contract, name = self._by_topic[key]
        data = contract.events[name]().process_log(log)
        block = int(log["blockNumber"])
        return Event(
            name=name,
            args=dict(data["args"]),
            block_number=block,
            block_timestamp=(
                self.block_timestamp(bytes(log["blockHash"])) if with_timestamps else None
            ),
            transaction_hash=log["transactionHash"].to_0x_hex(),
            log_index=int(log["logIndex"]),
        )


_PLAIN = re.compile(r"^(u?int\d*|address|bool|bytes\d+|string)$")


@dataclass(frozen=True)
class _Layout:
    """Where an event's arguments are: the indexed ones in the topics, the rest in the data."""

    name: str
    indexed: list[tuple[str, str]]
    data_names: list[str]
    data_types: list[str]

    @classmethod
    def of(cls, item: Any) -> _Layout | None:
        inputs = item["inputs"]
        if not all(_PLAIN.match(i["type"]) for i in inputs):
            return None
        if any(i["indexed"] and i["type"] == "string" for i in inputs):
            return None  # an indexed string is only its hash in the topic
        return cls(
            name=str(item["name"]),
            indexed=[(i["name"], i["type"]) for i in inputs if i["indexed"]],
            data_names=[i["name"] for i in inputs if not i["indexed"]],
            data_types=[i["type"] for i in inputs if not i["indexed"]],
        )


def _normal(type_: str, value: Any) -> Any:
    """A decoded value as web3's event decoding gives it (checksummed addresses)."""
    if type_ == "address":
        return to_checksum_address(value)
    return value


def uint_topic(value: int) -> bytes:
    return value.to_bytes(32, "big")


def address_topic(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(to_checksum_address(address)[2:])
