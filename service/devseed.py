"""Seeding a local anvil fast, for tests and benchmarks: the contracts' plain functions (not the
signed ``…BySig`` ones, not through the service) sent from anvil's dev accounts as raw
transactions, many per JSON-RPC batch, with automatic mining off and one ``evm_mine`` per batch,
so a block holds up to ``per_block`` transactions. The base fee is reset before each block
(full blocks would otherwise raise it 12.5% a block until the fixed gas price falls short).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3

from service.chain.compile import load_build
from service.chain.deploy import Deployment

GAS_PRICE = 10**10  # 10 gwei, above the base fee reset before every block
BASE_FEE = 10**9


@dataclass(frozen=True, kw_only=True)
class Call:
    sender: LocalAccount
    contract: str  # Consortium | ModelRegistry | FederatedRounds
    function: str
    args: Sequence[Any]
    gas: int = 400_000


class Seeder:
    """Sends batches of plain contract calls to a local anvil and mines them."""

    def __init__(self, *, rpc_url: str, deployment: Deployment, per_block: int = 100) -> None:
        self.rpc_url = rpc_url
        self.per_block = per_block
        self.w3 = Web3(Web3.HTTPProvider(rpc_url))
        build = load_build()
        self.contracts = {
            name: self.w3.eth.contract(
                address=to_checksum_address(deployment.address_of(name)), abi=build[name].abi
            )
            for name in ("Consortium", "ModelRegistry", "FederatedRounds")
        }
        self.chain_id = deployment.chain_id
        self._nonces: dict[str, int] = {}
        self._http = httpx.Client(timeout=120)
        self._ids = 0

    def close(self) -> None:
        self._http.close()

    def rpc(self, method: str, *params: Any) -> Any:
        return self._batch([(method, list(params))])[0]

    def send(self, calls: Sequence[Call]) -> None:
        """Send every call and mine them, ``per_block`` to a block; raise if any reverted."""
        self.rpc("evm_setAutomine", False)
        try:
            for i in range(0, len(calls), self.per_block):
                chunk = calls[i : i + self.per_block]
                hashes = self._batch([("eth_sendRawTransaction", [self._signed(c)]) for c in chunk])
                receipts: list[Any] = [None] * len(hashes)
                for _ in range(len(hashes) + 1):  # a block takes what its gas limit holds
                    self.rpc("anvil_setNextBlockBaseFeePerGas", hex(BASE_FEE))
                    self.rpc("evm_mine")
                    receipts = self._batch([("eth_getTransactionReceipt", [h]) for h in hashes])
                    if all(receipts):
                        break
                failed = [
                    (c.function, r and r["status"])
                    for c, r in zip(chunk, receipts, strict=True)
                    if not r or int(r["status"], 16) != 1
                ]
                if failed:
                    raise RuntimeError(f"{len(failed)} seeded calls failed, first: {failed[0]}")
        finally:
            self.rpc("evm_setAutomine", True)

    def _signed(self, call: Call) -> str:
        address = call.sender.address
        if address not in self._nonces:
            self._nonces[address] = int(self.rpc("eth_getTransactionCount", address, "pending"), 16)
        nonce = self._nonces[address]
        self._nonces[address] = nonce + 1
        data = self.contracts[call.contract].encode_abi(call.function, args=list(call.args))
        tx = {
            "to": self.contracts[call.contract].address,
            "data": data,
            "gas": call.gas,
            "gasPrice": GAS_PRICE,
            "nonce": nonce,
            "chainId": self.chain_id,
            "value": 0,
        }
        return "0x" + bytes(call.sender.sign_transaction(tx).raw_transaction).hex()

    def _batch(self, requests: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        body = []
        for method, params in requests:
            self._ids += 1
            body.append({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        answers = self._http.post(self.rpc_url, json=body).json()
        by_id = {a["id"]: a for a in answers}
        results = []
        for request in body:
            answer = by_id[request["id"]]
            if "error" in answer:
                raise RuntimeError(f"{request['method']}: {answer['error']}")
            results.append(answer["result"])
        return results


def random_digest() -> bytes:
    return os.urandom(32)
