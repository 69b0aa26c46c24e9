"""The core of the chain adapter: contracts, signed actions (prepare, verify, relay, send),
receipts. ``Ledger`` (service/chain/ledger.py) adds the typed actions and the reads."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3 import Web3
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
from service.chain.transactor import Transactor
from service.chain.types import Event
from service.errors import InvalidInput

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_ERC1271_MAGIC = bytes.fromhex("1626ba7e")
_ERC1271_ABI = [
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

    def event(self, name: str) -> Event:
        for e in self.events:
            if e.name == name:
                return e
        raise LookupError(f"the transaction emitted no {name} event")


class LedgerCore:
    def __init__(
        self,
        *,
        w3: Web3,
        deployment: Deployment,
        build: Build,
        relayer: LocalAccount,
        signature_ttl_s: int = 3600,
        observer: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.deployment = deployment
        self.signature_ttl_s = signature_ttl_s
        self.contracts: dict[ContractName, Contract] = {
            "Consortium": w3.eth.contract(
                address=to_checksum_address(deployment.consortium), abi=build["Consortium"].abi
            ),
            "ModelRegistry": w3.eth.contract(
                address=to_checksum_address(deployment.registry), abi=build["ModelRegistry"].abi
            ),
        }
        self.decoder = RevertDecoder([build["Consortium"].abi, build["ModelRegistry"].abi])
        self.relayer = Transactor(w3=w3, account=relayer, decoder=self.decoder, observer=observer)
        self._senders: dict[str, Transactor] = {relayer.address: self.relayer}
        self._erc1271_gas_limits: dict[ContractName, int] = {}
        self.history = EventReader(
            w3=w3,
            contracts={str(k): v for k, v in self.contracts.items()},
            start_block=deployment.deploy_block,
        )

    @property
    def consortium(self) -> Contract:
        return self.contracts["Consortium"]

    @property
    def registry(self) -> Contract:
        return self.contracts["ModelRegistry"]

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
        typed errors the contract would, without spending gas."""
        action = signed.action
        now = self.chain_time()  # the contract checks the deadline against block time
        if action.deadline < now:
            raise SignedActionExpired(
                "SignedActionExpired", {"deadline": action.deadline, "timestamp": now}
            )
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

    def erc1271_gas_limit(self, contract: ContractName) -> int:
        """Gas ``contract`` gives an ERC-1271 wallet's ``isValidSignature`` (its public
        ``ERC1271_GAS_LIMIT``), read once."""
        limit = self._erc1271_gas_limits.get(contract)
        if limit is None:
            limit = int(self._call(self.contracts[contract].functions.ERC1271_GAS_LIMIT()))
            self._erc1271_gas_limits[contract] = limit
        return limit

    def _contract_accepts(self, signed: SignedAction) -> bool:
        """Whether the actor is a contract account (ERC-1271) that accepts the signature
        within the gas the contract would give it."""
        actor = to_checksum_address(signed.action.actor)
        if not self.w3.eth.get_code(actor):
            return False
        wallet = self.w3.eth.contract(address=actor, abi=_ERC1271_ABI)
        args = [typed_data_digest(signed.action), signed.signature]
        calldata = bytes.fromhex(wallet.encode_abi("isValidSignature", args=args)[2:])
        # the wallet's code gets exactly the contract's bound: gas = bound + intrinsic gas
        gas = self.erc1271_gas_limit(signed.action.spec.contract) + _intrinsic_gas(calldata)
        try:
            magic = wallet.functions.isValidSignature(*args).call({"gas": gas})
        except Exception:  # no such function, a revert or out of gas: not accepted
            return False
        return bytes(magic) == _ERC1271_MAGIC

    def relay(self, signed: SignedAction, *, verify: bool = True) -> ActionReceipt:
        """Submit a signed action from the relayer account."""
        if verify:
            self.verify(signed)
        spec = signed.action.spec
        fn = self.contracts[spec.contract].functions[spec.by_sig_function](*signed.by_sig_args())
        return self._receipt(self.relayer.transact(fn))

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
            gas_used=int(receipt["gasUsed"]),
            events=events,
        )


def _intrinsic_gas(calldata: bytes) -> int:
    """Gas a call transaction with ``calldata`` pays before its code runs (EIP-2028)."""
    zeros = calldata.count(0)
    return 21_000 + 4 * zeros + 16 * (len(calldata) - zeros)


def _address(value: str, what: str = "account") -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{what} {value!r} is not an Ethereum address (0x + 40 hex digits)")
    return to_checksum_address(value)
