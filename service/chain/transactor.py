"""Sends transactions from one local account: nonces, fees, receipts and revert decoding.

The relayer of the service and the deployer use one Transactor each. A send is two steps:

1. ``prepare`` simulates exactly what will be sent: the same sender, call data, fee fields and
   gas limit, in the pending block (the one the transaction lands in), first with
   ``eth_estimateGas`` for the limit, then with ``eth_call`` at that limit. A call that would
   revert raises its typed error here and costs nothing. Outside any lock, so concurrent callers
   overlap.
2. ``submit`` assigns the account nonce, signs and sends, under a lock. Before each send it asks
   the chain for the account's pending nonce: a chain that is *behind* the local count has lost
   transactions this process sent (it restarted from an older state, or dropped them), and
   ``NonceBehind`` is raised instead of sending a transaction that would wait forever behind the
   gap. ``reset`` (after recovery) re-reads the nonce and starts a new *epoch*: a transaction
   prepared before it is simulated again before it is sent.

Every wait is bounded: the node's answers by the provider's timeout, the lock by
``lock_timeout_s``, the receipt by ``receipt_timeout_s``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from service.errors import ChainError, ChainUnavailable, Conflict, DeploymentError
from service.failpoints import reach

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


class NonceBehind(ChainError):
    """The chain counts fewer transactions from the account than this process sent: it lost
    some (restarted from an older state, reorganised, or dropped them from its pool)."""

    def __init__(self, account: str, chain_nonce: int, local_nonce: int) -> None:
        self.chain_nonce = chain_nonce
        self.local_nonce = local_nonce
        super().__init__(
            f"the chain counts {chain_nonce} transactions from {account}, but {local_nonce} were "
            "sent: it lost some (restarted from an older state?); the journal re-applies them"
        )


class TransactionReverted(Conflict):
    """A transaction passed its simulation and then reverted on chain (its sender paid the gas).
    ``revert`` is the contract error a replay at its block found, if any."""

    def __init__(self, message: str, *, tx_hash: str, revert: ContractRevert | None) -> None:
        self.tx_hash = tx_hash
        self.revert = revert
        super().__init__(message)


@dataclass(frozen=True, kw_only=True)
class PreparedTx:
    """A simulated transaction, complete but for its nonce. ``epoch`` is the sender's epoch at
    simulation time: one prepared before a ``reset`` is simulated again before it is sent."""

    tx: dict[str, Any]
    epoch: int
    fn: ContractFunction


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
        lock_timeout_s: float = 60.0,
        observer: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.decoder = decoder
        self.receipt_timeout_s = receipt_timeout_s
        self.lock_timeout_s = lock_timeout_s
        self.observer = observer
        self._lock = threading.RLock()
        self._nonce: int | None = None
        self.epoch = 0
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
        if isinstance(fn, ContractFunction):
            return self.submit(self.prepare(fn))
        start = time.perf_counter()
        try:
            receipt = self._deploy(fn)
        except Exception:
            self._observe("transaction", "error", start)
            raise
        self._observe("transaction", "ok", start)
        return receipt

    def prepare(self, fn: ContractFunction) -> PreparedTx:
        """Simulate ``fn`` exactly as it will be sent (see the module docstring); raise the
        contract's typed error if it would revert."""
        epoch = self.epoch
        try:
            fees = self._fee_fields()
            call: dict[str, Any] = {
                "from": self.account.address,
                "to": fn.address,
                "data": fn._encode_transaction_data(),
                "value": "0x0",
                **{k: hex(v) for k, v in fees.items()},
            }
            gas = int(self._rpc("eth_estimateGas", [call, "pending"]), 16)
            limit = int(gas * _GAS_HEADROOM)
            # the exact transaction at its own gas limit: what estimateGas's search never runs
            self._rpc("eth_call", [{**call, "gas": hex(limit)}, "pending"])
        except Exception as exc:
            raise self._translate(exc) from exc
        tx = {
            "to": call["to"],
            "data": call["data"],
            "value": 0,
            "gas": limit,
            "chainId": self.chain_id,
            **fees,
        }
        return PreparedTx(tx=tx, epoch=epoch, fn=fn)

    def submit(
        self,
        prepared: PreparedTx,
        *,
        on_signed: Callable[[str, int], None] | None = None,
    ) -> TxReceipt:
        """Send a prepared transaction and wait for its receipt. ``on_signed(tx_hash, nonce)``
        runs after the transaction is signed and before it is sent (the journal records it
        there). Raises ``TransactionReverted`` if it reverts on chain."""
        start = time.perf_counter()
        try:
            receipt = self._submit(prepared, on_signed)
        except Exception:
            self._observe("transaction", "error", start)
            raise
        self._observe("transaction", "ok", start)
        return receipt

    def _submit(
        self, prepared: PreparedTx, on_signed: Callable[[str, int], None] | None
    ) -> TxReceipt:
        with self.exclusive():
            if prepared.epoch != self.epoch:  # a recovery ran since the simulation
                prepared = self.prepare(prepared.fn)
            try:
                nonce = self._checked_nonce()
                tx = {**prepared.tx, "nonce": nonce}
                signed = self.account.sign_transaction(tx)
                tx_hash = "0x" + bytes(signed.hash).hex()
            except Exception as exc:
                raise self._translate(exc) from exc
            if on_signed is not None:
                on_signed(tx_hash, nonce)
            reach("transaction-journaled")
            try:
                self._rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
            except Exception as exc:
                # the transaction may or may not have reached the node: keep the local count
                # (the next send compares it with the chain's, which tells)
                raise self._translate(exc) from exc
            reach("transaction-sent")
            self._nonce = nonce + 1
        try:
            receipt = self._wait_for_receipt(tx_hash)
        except Exception as exc:
            raise self._translate(exc) from exc
        if receipt["status"] != 1:
            raise self._replay_failure(tx, receipt)
        return receipt

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the send lock (re-entrant): nothing else is sent from the account meanwhile."""
        if not self._lock.acquire(timeout=self.lock_timeout_s):
            raise ChainUnavailable(
                f"no transaction could be sent from {self.account.address} for "
                f"{self.lock_timeout_s:.0f}s (the chain is slow or the journal is recovering); "
                "retry later"
            )
        try:
            yield
        finally:
            self._lock.release()

    def reset(self) -> None:
        """Forget the local nonce and start a new epoch (after a recovery)."""
        with self.exclusive():
            self._nonce = None
            self.epoch += 1

    def chain_nonce(self, block: str = "pending") -> int:
        return int(self._rpc("eth_getTransactionCount", [self.account.address, block]), 16)

    def _checked_nonce(self) -> int:
        """The nonce to send with: the chain's pending count, which must not be behind the
        local one (the count of transactions this process knows it sent)."""
        chain = self.chain_nonce()
        if self._nonce is None or chain > self._nonce:
            # the first send, a send whose failure was not one, or the key used elsewhere
            self._nonce = chain
        elif chain < self._nonce:
            raise NonceBehind(self.account.address, chain, self._nonce)
        return self._nonce

    def _deploy(self, fn: ContractConstructor) -> TxReceipt:
        try:
            params: TxParams = {"from": self.account.address, "chainId": self.chain_id}
            gas = fn.estimate_gas(params)
            tx = dict(fn.build_transaction(params))
            tx.pop("from", None)
            tx.update(gas=int(gas * _GAS_HEADROOM), chainId=self.chain_id, value=0)
            tx.update(self._fee_fields())
        except Exception as exc:
            raise self._translate(exc) from exc
        with self.exclusive():
            try:
                tx["nonce"] = self._checked_nonce()
                signed = self.account.sign_transaction(tx)
                tx_hash = self._rpc(
                    "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()]
                )
            except Exception as exc:
                raise self._translate(exc) from exc
            self._nonce = int(tx["nonce"]) + 1
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
        """Re-run a transaction that failed on chain to learn why, at its own block, with its
        own sender, gas and fee fields: that block's time is what it met, and its own revert
        changed no state. A replay that passes means the outcome depended on something the
        simulation could not reproduce (a wallet that looks at the gas price or the block)."""
        fields = ("to", "data", "value", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
        call: dict[str, Any] = {
            "from": self.account.address,
            **{k: hex(v) if isinstance(v, int) else v for k, v in tx.items() if k in fields},
        }
        tx_hash = receipt["transactionHash"].to_0x_hex()
        revert: ContractRevert | None = None
        try:
            self._rpc("eth_call", [call, hex(int(receipt["blockNumber"]))])
        except Exception as exc:
            translated = self._translate(exc)
            if isinstance(translated, ContractRevert):
                revert = translated
        reason = f" ({revert})" if revert is not None else ""
        return TransactionReverted(
            f"transaction {tx_hash} passed its simulation, then reverted on chain at block "
            f"{int(receipt['blockNumber'])}{reason}; the sender paid its gas",
            tx_hash=tx_hash,
            revert=revert,
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
