"""The core of the chain adapter: contracts, signed actions (prepare, verify, relay, send),
receipts. ``Ledger`` (service/chain/ledger.py) adds the typed actions and the reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3 import Web3
from web3._utils.method_formatters import receipt_formatter
from web3.contract import Contract
from web3.types import TxReceipt

from service.chain.actions import (
    DOMAIN_NAMES,
    Action,
    ContractName,
    Domain,
    SignedAction,
    action_spec,
    recover_signer,
    sign_action,
    typed_data_digest,
)
from service.chain.compile import Build
from service.chain.deploy import Deployment
from service.chain.history import EventReader
from service.chain.reverts import RevertDecoder, SignedActionExpired, SignedActionInvalidSignature
from service.chain.transactor import PreparedTx, Transactor
from service.chain.types import Event
from service.errors import InvalidInput

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ERC1271_MAGIC = bytes.fromhex("1626ba7e")
ERC1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]


@dataclass(frozen=True, kw_only=True)
class ActionReceipt:
    """What a successful action left on chain."""

    transaction_hash: str
    block_number: int
    gas_used: int
    events: list[Event]
    block_hash: str = ""

    def event(self, name: str) -> Event:
        for e in self.events:
            if e.name == name:
                return e
        raise LookupError(f"the transaction emitted no {name} event")


class IndexedReads(Protocol):
    """What an event index answers for the ledger (``service/domain/indexed.py``)."""

    def version_ids_of(self, model_id: int) -> list[int] | None:
        """The model's version ids in proposal order at the latest block; None: ask the chain."""


class LedgerCore:
    def __init__(
        self,
        *,
        w3: Web3,
        deployment: Deployment,
        build: Build,
        relayer: LocalAccount,
        signature_ttl_s: int = 3600,
        max_deadline_s: int | None = None,
        receipt_timeout_s: float = 120.0,
        observer: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.signature_ttl_s = signature_ttl_s
        self.max_deadline_s = max_deadline_s
        self.contracts: dict[ContractName, Contract] = {
            "Consortium": w3.eth.contract(
                address=to_checksum_address(deployment.consortium), abi=build["Consortium"].abi
            ),
            "ModelRegistry": w3.eth.contract(
                address=to_checksum_address(deployment.registry), abi=build["ModelRegistry"].abi
            ),
            "FederatedRounds": w3.eth.contract(
                address=to_checksum_address(deployment.rounds), abi=build["FederatedRounds"].abi
            ),
        }
        self.decoder = RevertDecoder([build[name].abi for name in self.contracts])
        self.relayer = Transactor(
            w3=w3,
            account=relayer,
            decoder=self.decoder,
            observer=observer,
            receipt_timeout_s=receipt_timeout_s,
        )
        self._senders: dict[str, Transactor] = {relayer.address: self.relayer}
        self._erc1271_gas_limits: dict[ContractName, int] = {}
        self.history = EventReader(
            w3=w3,
            contracts={str(k): v for k, v in self.contracts.items()},
            start_block=deployment.deploy_block,
        )
        #: reads a derived index may answer instead of scanning the chain's logs (set by the
        #: service when its event index is on); each answers None when it cannot, and the
        #: chain answers as without it
        self.indexed: IndexedReads | None = None

    @property
    def consortium(self) -> Contract:
        return self.contracts["Consortium"]

    @property
    def registry(self) -> Contract:
        return self.contracts["ModelRegistry"]

    @property
    def rounds(self) -> Contract:
        return self.contracts["FederatedRounds"]

    # ================================================================ signed actions

    def domain(self, contract: ContractName) -> Domain:
        return Domain(
            name=DOMAIN_NAMES[contract],
            chain_id=self.deployment.chain_id,
            verifying_contract=self.deployment.address_of(contract),
        )

    def chain_time(self) -> int:
        """The earliest timestamp the next block can carry: what the contracts compare
        deadlines with (a dev chain's clock may run ahead of the wall clock)."""
        latest = self.relayer.latest_block_time()
        return max(int(time.time()), latest + 1)

    def nonce_of(self, contract: ContractName, account: str) -> int:
        return int(self._call(self.contracts[contract].functions.nonces(_address(account))))

    def prepare(
        self,
        name: str,
        actor: str,
        args: dict[str, Any],
        *,
        nonce: int | None = None,
        deadline: int | None = None,
    ) -> Action:
        """The action ``name`` with ABI-named ``args`` for ``actor``, ready to be signed."""
        spec = action_spec(name)
        actor = _address(actor, "actor")
        return Action(
            spec=spec,
            args=args,
            actor=actor,
            nonce=self.nonce_of(spec.contract, actor) if nonce is None else nonce,
            deadline=self.chain_time() + self.signature_ttl_s if deadline is None else deadline,
            domain=self.domain(spec.contract),
        )

    def verify(self, signed: SignedAction) -> None:
        """Check an action before relaying it: its domain, deadline and signer. Raises the same
        typed errors the contract would, without spending gas; a deadline further out than
        ``max_deadline_s`` is refused too (a signature usable for years is a liability)."""
        action = signed.action
        now = self.chain_time()  # the contract checks the deadline against block time
        self.check_deadline(action.deadline, now)
        try:
            signer = recover_signer(action, signed.signature)
        except InvalidInput:  # malformed: the contract rejects it as not the actor's signature
            signer = None
        if action.domain != self.domain(action.spec.contract) or (
            signer != action.actor and not self._contract_accepts(signed)
        ):
            raise SignedActionInvalidSignature(
                "SignedActionInvalidSignature", {"actor": action.actor}
            )

    def check_deadline(self, deadline: int, now: int | None = None) -> None:
        """SignedActionExpired for a past deadline; InvalidInput for one further out than the
        service accepts."""
        now = self.chain_time() if now is None else now
        if deadline < now:
            raise SignedActionExpired(
                "SignedActionExpired", {"deadline": deadline, "timestamp": now}
            )
        if self.max_deadline_s is not None and deadline > now + self.max_deadline_s:
            raise InvalidInput(
                f"the signature's deadline {deadline} is {deadline - now}s after chain time "
                f"{now}; this service relays signatures valid for at most {self.max_deadline_s}s "
                "(GOVLEDGER_MAX_DEADLINE_S): sign again with an earlier deadline"
            )

    def erc1271_gas_limit(self, contract: ContractName) -> int:
        """Gas ``contract`` gives an ERC-1271 wallet's ``isValidSignature`` (its public
        ``ERC1271_GAS_LIMIT``), read once."""
        limit = self._erc1271_gas_limits.get(contract)
        if limit is None:
            limit = int(self._call(self.contracts[contract].functions.ERC1271_GAS_LIMIT()))
            self._erc1271_gas_limits[contract] = limit
        return limit

    def _contract_accepts(self, signed: SignedAction) -> bool:
        """Whether the actor is a contract account (ERC-1271) that accepts the signature, asked
        the way the relayed transaction will ask it: from the relayer, at the gas price it
        pays, in the pending block, within the gas the contract gives the wallet."""
        actor = to_checksum_address(signed.action.actor)
        if not self.w3.eth.get_code(actor):
            return False
        wallet = self.w3.eth.contract(address=actor, abi=ERC1271_ABI)
        args = [typed_data_digest(signed.action), signed.signature]
        calldata = bytes.fromhex(wallet.encode_abi("isValidSignature", args=args)[2:])
        # the wallet's code gets exactly the contract's bound: gas = bound + intrinsic gas
        gas = self.erc1271_gas_limit(signed.action.spec.contract) + _intrinsic_gas(calldata)
        call: dict[str, Any] = {
            "from": self.relayer.account.address,
            "to": actor,
            "data": "0x" + calldata.hex(),
            "gas": hex(gas),
            **{k: hex(v) for k, v in self.relayer._fee_fields().items()},
        }
        try:
            raw = self.relayer._rpc("eth_call", [call, "pending"])
        except Exception:  # no such function, a revert, or out of gas: not accepted
            return False
        return bytes.fromhex(str(raw)[2:10]) == ERC1271_MAGIC if len(str(raw)) >= 10 else False

    def relay_call(self, signed: SignedAction) -> Any:
        """The ``...BySig`` contract call that carries ``signed``."""
        spec = signed.action.spec
        return self.contracts[spec.contract].functions[spec.by_sig_function](*signed.by_sig_args())

    def simulate(self, signed: SignedAction) -> PreparedTx:
        """The relayer's transaction for ``signed``, simulated exactly as it will be sent."""
        return self.relayer.prepare(self.relay_call(signed))

    def submit(
        self, prepared: PreparedTx, *, on_signed: Callable[[str, int], None] | None = None
    ) -> ActionReceipt:
        """Send a simulated transaction from the relayer (see ``Transactor.submit``)."""
        return self._receipt(self.relayer.submit(prepared, on_signed=on_signed))

    def relay(self, signed: SignedAction, *, verify: bool = True) -> ActionReceipt:
        """Submit a signed action from the relayer account (unjournaled: the service relays
        through ``service.journal.Relayer``, which journals every action before sending it)."""
        if verify:
            self.verify(signed)
        return self.submit(self.simulate(signed))

    def send(self, name: str, sender: LocalAccount, args: dict[str, Any]) -> ActionReceipt:
        """Run the plain function of action ``name`` from ``sender``'s own account."""
        spec = action_spec(name)
        action = Action(
            spec=spec, args=args, actor=sender.address, nonce=0, deadline=0,
            domain=self.domain(spec.contract),
        )  # fmt: skip
        fn = self.contracts[spec.contract].functions[spec.function](*action.call_args())
        return self._receipt(self._sender(sender).transact(fn))

    def act(
        self, actor: LocalAccount, name: str, args: dict[str, Any], *, direct: bool = False
    ) -> ActionReceipt:
        """Do action ``name`` as ``actor``: signed and relayed, or sent directly."""
        if direct:
            return self.send(name, actor, args)
        action = self.prepare(name, actor.address, args)
        return self.relay(sign_action(action, actor.key))

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    # ================================================================ internals

    def _call(self, fn: Any) -> Any:
        return self.relayer.call(fn)

    def _sender(self, account: LocalAccount) -> Transactor:
        sender = self._senders.get(account.address)
        if sender is None:
            sender = Transactor(w3=self.w3, account=account, decoder=self.decoder)
            self._senders[account.address] = sender
        return sender

    def _receipt(self, receipt: TxReceipt) -> ActionReceipt:
        events: list[Event] = []
        for log in receipt["logs"]:
            try:
                events.append(self.history._decode(log, with_timestamps=False))
            except KeyError:  # a log of another contract
                continue
        return ActionReceipt(
            transaction_hash=receipt["transactionHash"].to_0x_hex(),
            block_number=int(receipt["blockNumber"]),
            block_hash=receipt["blockHash"].to_0x_hex(),
            gas_used=int(receipt["gasUsed"]),
            events=events,
        )

    def receipt_of(self, tx_hash: str) -> tuple[ActionReceipt, bool] | None:
        """The receipt of a transaction and whether it succeeded; None if the chain does not
        know it as mined."""
        raw = self.relayer._rpc("eth_getTransactionReceipt", [tx_hash])
        if raw is None:
            return None
        formatted: TxReceipt = receipt_formatter(raw)
        return self._receipt(formatted), int(formatted["status"]) == 1

    def transaction_known(self, tx_hash: str) -> bool:
        """Whether the node knows the transaction (mined or waiting in its pool)."""
        return self.relayer._rpc("eth_getTransactionByHash", [tx_hash]) is not None

    def block_hash(self, number: int) -> str | None:
        """The hash of block ``number`` on the chain now, None past its head."""
        block = self.relayer._rpc("eth_getBlockByNumber", [hex(number), False])
        return None if block is None else str(block["hash"])


def _intrinsic_gas(calldata: bytes) -> int:
    """Gas a call transaction with ``calldata`` pays before its code runs (EIP-2028)."""
    zeros = calldata.count(0)
    return 21_000 + 4 * zeros + 16 * (len(calldata) - zeros)


def _address(value: str, what: str = "account") -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{what} {value!r} is not an Ethereum address (0x + 40 hex digits)")
    return to_checksum_address(value)
