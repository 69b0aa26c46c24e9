"""Sends transactions from one local account: nonces, fees, receipts and revert decoding.

The relayer of the service and the deployer use one Transactor each. Sends are serialised under
a lock and the account nonce is tracked locally, so concurrent callers never collide on a nonce.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import get_abi_output_types
from web3 import Web3
from web3._utils.method_formatters import receipt_formatter
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import RPCEndpoint, TxParams, TxReceipt

from service.chain.abi import checksummed
from service.chain.reverts import ContractRevert, RevertDecoder
from service.errors import ChainError, ChainUnavailable, DeploymentError

_FEE_TTL_S = 2.0
_GAS_HEADROOM = 1.15  # estimates miss refunds-then-charges in a few paths; 15% is ample here


class _RpcError(Exception):
    """A JSON-RPC error object, with the revert data of a failed call if it carries any."""

    def __init__(self, error: Any) -> None:
        self.error = error if isinstance(error, dict) else {"message": str(error)}
        self.message = str(self.error.get("message", ""))
        super().__init__(self.message)

    @property
    def revert_data(self) -> str | None:
        data = self.error.get("data")
        if isinstance(data, dict):  # some nodes nest it: {"data": {"data": "0x..."}}
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            return data
        return None


def lean_middleware(w3: Web3) -> None:
    """Drop web3's request middleware this adapter does not need: validation (it asks the node
    for the chain id on every transaction-shaped call), ENS name resolution, gas price strategy
    and buffered gas estimates (transactions are built and estimated here). Idempotent."""
    for name in ("validation", "ens_name_to_address", "gas_price_strategy", "gas_estimate"):
        with contextlib.suppress(ValueError):
            w3.middleware_onion.remove(name)


class Transactor:
    def __init__(
        self,
        *,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder,
        receipt_timeout_s: float = 120.0,
        observer: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.receipt_timeout_s = receipt_timeout_s
        self.observer = observer
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._fees: tuple[float, dict[str, int]] | None = None
        lean_middleware(w3)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def call(self, fn: ContractFunction, *, sender: str | None = None) -> Any:
        """Run a view (or dry-run a state change) and decode any revert. One raw ``eth_call``,
        decoded with eth-abi (addresses checksummed), as web3's ``call`` returns it."""
        start = time.perf_counter()
        try:
            call: dict[str, Any] = {"to": fn.address, "data": fn._encode_transaction_data()}
            if sender:
                call["from"] = sender
            raw = bytes.fromhex(self._rpc("eth_call", [call, "latest"])[2:])
            types = get_abi_output_types(fn.abi)
            if types and not raw:
                raise DeploymentError(
                    f"the contract at {fn.address} returned nothing for {fn.fn_name}: no code "
                    "there? check the deployment record and the RPC URL"
                )
            values = checksummed(types, abi_decode(types, raw))
            result = values[0] if len(values) == 1 else list(values)
        except Exception as exc:
            self._observe("read", "error", start)
            raise self._translate(exc) from exc
        self._observe("read", "ok", start)
        return result

    def _observe(self, kind: str, outcome: str, start: float) -> None:
        if self.observer is not None:
            self.observer(kind, outcome, time.perf_counter() - start)

    def transact(self, fn: ContractFunction | ContractConstructor) -> TxReceipt:
        """Send ``fn`` from the account; return the receipt of a successful transaction."""
        start = time.perf_counter()
        try:
            receipt = self._transact(fn)
        except Exception:
            self._observe("transaction", "error", start)
            raise
        self._observe("transaction", "ok", start)
        return receipt

    def _transact(self, fn: ContractFunction | ContractConstructor) -> TxReceipt:
        try:
            tx = self._build(fn)  # simulated outside the lock: concurrent relays overlap here
        except Exception as exc:
            raise self._translate(exc) from exc
        with self._lock:  # only the nonce and the send are ordered
            try:
                tx["nonce"] = self._next_nonce()
                signed = self.account.sign_transaction(tx)
                tx_hash = self._rpc(
                    "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]
                )
            except Exception as exc:
                self._nonce = None  # re-read from the chain next time
                raise self._translate(exc) from exc
            assert self._nonce is not None
            self._nonce += 1
        try:
            receipt = self._wait_for_receipt(str(tx_hash))
        except Exception as exc:
            raise self._translate(exc) from exc
        if receipt["status"] != 1:
            raise self._replay_failure(tx, receipt)
        return receipt

    def latest_block_time(self) -> int:
        """The latest block's timestamp (one raw JSON-RPC call)."""
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["timestamp"], 16)

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call without web3's method machinery (request and result formatters,
        middleware): the relaying hot path makes three of these per action."""
        response = self.w3.provider.make_request(RPCEndpoint(method), params)
        error = response.get("error")
        if error:
            raise _RpcError(error)
        return response["result"]

    def _wait_for_receipt(self, tx_hash: str) -> TxReceipt:
        deadline = time.monotonic() + self.receipt_timeout_s
        delay = 0.002  # a dev chain mines at once; a real one takes seconds: back off to 0.5 s
        while True:
            raw = self._rpc("eth_getTransactionReceipt", [tx_hash])
            if raw is not None:
                formatted: TxReceipt = receipt_formatter(raw)
                return formatted
            if time.monotonic() > deadline:
                raise ChainUnavailable(
                    f"transaction {tx_hash} was sent but not mined within "
                    f"{self.receipt_timeout_s:.0f}s; check the node, the action may still land"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    # ---------------------------------------------------------------- internals

    def _build(self, fn: ContractFunction | ContractConstructor) -> dict[str, Any]:
        """The transaction but for its nonce: simulated first (``eth_estimateGas``), so that a call
        that would revert raises here and costs nothing. The call data is encoded once."""
        if isinstance(fn, ContractFunction):
            call: dict[str, Any] = {
                "from": self.account.address,
                "to": fn.address,
                "data": fn._encode_transaction_data(),
            }
            # simulated in the pending block: the one the transaction will land in (its time is
            # what deadlines and voting windows are checked against)
            gas = int(self._rpc("eth_estimateGas", [call, "pending"]), 16)
            tx = {k: v for k, v in call.items() if k != "from"}
        else:
            params: TxParams = {"from": self.account.address, "chainId": self.chain_id}
            gas = fn.estimate_gas(params)
            tx = dict(fn.build_transaction(params))
            tx.pop("from", None)
        tx.update(
            gas=int(gas * _GAS_HEADROOM),
            chainId=self.chain_id,
            value=0,
            **self._fee_fields(),
        )
        return tx

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self.w3.eth.get_transaction_count(self.account.address, "pending"))
        return self._nonce

    def _fee_fields(self) -> dict[str, int]:
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > _FEE_TTL_S:
            block = self.w3.eth.get_block("latest")
            base = int(block.get("baseFeePerGas", 0) or 0)
            if base:
                tip = int(self.w3.eth.max_priority_fee)
                fees = {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}
            else:
                fees = {"gasPrice": int(self.w3.eth.gas_price)}
            self._fees = (now, fees)
        return dict(self._fees[1])

    def _replay_failure(self, tx: dict[str, Any], receipt: TxReceipt) -> Exception:
        """Re-run a transaction that failed on chain to learn why, at its own block: that
        block's time is what it met, and its own revert changed no state."""
        call: dict[str, Any] = {
            "from": self.account.address,
            **{k: v for k, v in tx.items() if k in ("to", "data", "value", "gas")},
        }
        try:
            self.w3.eth.call(call, receipt["blockNumber"])  # type: ignore[arg-type]
        except Exception as exc:
            return self._translate(exc)
        return ChainError(
            f"transaction {receipt['transactionHash'].hex()} failed on chain without a reason "
            "(out of gas?); retry"
        )

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, ContractRevert | ChainError):
            return exc
        if isinstance(exc, _RpcError):
            data = exc.revert_data
            if data:
                return self.decoder.decode(data)
            if "revert" in exc.message.lower():
                return ChainError(f"the contract reverted: {exc.message}")
            return ChainError(f"the chain node refused the request: {exc.message}")
        if isinstance(exc, ContractCustomError):
            data = exc.data if isinstance(exc.data, str) else str(exc.args[0])
            return self.decoder.decode(data)
        if isinstance(exc, ContractPanicError):
            return ChainError(f"the contract panicked: {exc}")
        if isinstance(exc, ContractLogicError):
            return ChainError(f"the contract reverted: {exc}")
        name = type(exc).__name__
        if "Connection" in name or "Timeout" in name or isinstance(exc, OSError):
            return ChainUnavailable(
                f"the chain node did not answer ({name}: {exc}); check that it runs "
                "(`govledger status`) and retry"
            )
        return exc
