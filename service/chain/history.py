"""Reading the ledger's history back from contract events, paged by block range.

Every state change of the contracts emits an event, so the full history (and any state at any
past block, such as an alias's value) is answerable from logs alone. Pages are bounded in blocks
so that public RPC endpoints with getLogs limits work too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

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
        """One raw log of these contracts, decoded (the time given, not looked up)."""
        event = self._decode(log, with_timestamps=False)
        if timestamp is None:
            return event
        return replace(event, block_timestamp=timestamp)

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


def uint_topic(value: int) -> bytes:
    return value.to_bytes(32, "big")


def address_topic(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(to_checksum_address(address)[2:])
