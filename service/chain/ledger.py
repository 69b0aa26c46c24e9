"""The chain adapter: typed access to the ledger's contracts for the service, CLI and tests.

Writes go through signed actions: ``prepare`` builds the EIP-712 action for an actor (its next
nonce, a deadline), the actor signs it (``sign_action`` with a local key, or a wallet), and
``relay`` checks the signature and submits ``...BySig`` from the relayer account, which pays the
gas. ``send`` runs the plain function from an account's own key instead. Contract custom errors
come back as the typed exceptions of ``service.chain.reverts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
from service.chain.history import EventReader, address_topic, uint_topic
from service.chain.reverts import RevertDecoder, SignedActionExpired, SignedActionInvalidSignature
from service.chain.transactor import Transactor
from service.chain.types import (
    ZERO_DIGEST,
    Ballot,
    ChangeKind,
    Event,
    ModelRecord,
    ProposalRecord,
    Rights,
    State,
    Support,
    VersionKind,
    VersionRecord,
    alias_to_bytes32,
    as_digest,
)
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


class Ledger:
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

    def _contract_accepts(self, signed: SignedAction) -> bool:
        """Whether the actor is a contract account (ERC-1271) that accepts the signature."""
        actor = to_checksum_address(signed.action.actor)
        if not self.w3.eth.get_code(actor):
            return False
        wallet = self.w3.eth.contract(address=actor, abi=_ERC1271_ABI)
        try:
            magic = wallet.functions.isValidSignature(
                typed_data_digest(signed.action), signed.signature
            ).call()
        except Exception:  # a contract without the function, or one that reverts: not accepted
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

    # ---------------------------------------------------------------- typed actions

    def register_model(
        self,
        actor: LocalAccount,
        name: str,
        *,
        metadata_digest: bytes | str = ZERO_DIGEST,
        restricted: bool = False,
        direct: bool = False,
    ) -> int:
        receipt = self.act(
            actor,
            "RegisterModel",
            {"name": name, "metadataDigest": as_digest(metadata_digest, "metadata digest"),
             "restricted": restricted},
            direct=direct,
        )  # fmt: skip
        return int(receipt.event("ModelRegistered").args["modelId"])

    def set_model_metadata(
        self,
        actor: LocalAccount,
        model_id: int,
        metadata_digest: bytes | str,
        *,
        direct: bool = False,
    ) -> ActionReceipt:
        return self.act(
            actor,
            "SetModelMetadata",
            {"modelId": model_id, "metadataDigest": as_digest(metadata_digest, "metadata digest")},
            direct=direct,
        )

    def transfer_model_ownership(
        self, actor: LocalAccount, model_id: int, new_owner: str, *, direct: bool = False
    ) -> ActionReceipt:
        return self.act(
            actor,
            "TransferModelOwnership",
            {"modelId": model_id, "newOwner": _address(new_owner, "new owner")},
            direct=direct,
        )

    def set_read_policy(
        self, actor: LocalAccount, model_id: int, *, restricted: bool, direct: bool = False
    ) -> ActionReceipt:
        return self.act(
            actor, "SetReadPolicy", {"modelId": model_id, "restricted": restricted}, direct=direct
        )

    def grant_rights(
        self,
        actor: LocalAccount,
        model_id: int,
        account: str,
        rights: Rights,
        *,
        direct: bool = False,
    ) -> Rights:
        receipt = self.act(
            actor,
            "GrantRights",
            {"modelId": model_id, "account": _address(account), "rights": int(rights)},
            direct=direct,
        )
        return Rights(receipt.event("RightsGranted").args["current"])

    def revoke_rights(
        self,
        actor: LocalAccount,
        model_id: int,
        account: str,
        rights: Rights,
        *,
        direct: bool = False,
    ) -> Rights:
        receipt = self.act(
            actor,
            "RevokeRights",
            {"modelId": model_id, "account": _address(account), "rights": int(rights)},
            direct=direct,
        )
        return Rights(receipt.event("RightsRevoked").args["current"])

    def propose_version(
        self,
        actor: LocalAccount,
        model_id: int,
        artifact_digest: bytes | str,
        *,
        parent_id: int = 0,
        kind: VersionKind = VersionKind.BASE,
        metadata_digest: bytes | str = ZERO_DIGEST,
        direct: bool = False,
    ) -> int:
        receipt = self.act(
            actor,
            "ProposeVersion",
            {
                "modelId": model_id,
                "parentId": parent_id,
                "kind": int(kind),
                "artifactDigest": as_digest(artifact_digest, "artifact digest"),
                "metadataDigest": as_digest(metadata_digest, "metadata digest"),
            },
            direct=direct,
        )
        return int(receipt.event("VersionProposed").args["versionId"])

    def cast_vote(
        self, actor: LocalAccount, version_id: int, support: Support, *, direct: bool = False
    ) -> State:
        """Vote; returns the version's state after the vote."""
        receipt = self.act(
            actor, "CastVote", {"versionId": version_id, "support": int(support)}, direct=direct
        )
        for e in receipt.events:
            if e.name == "VersionStateChanged":
                return State(e.args["current"])
        return State.PROPOSED

    def move_alias(
        self,
        actor: LocalAccount,
        model_id: int,
        alias: str,
        version_id: int,
        *,
        direct: bool = False,
    ) -> ActionReceipt:
        return self.act(
            actor,
            "MoveAlias",
            {"modelId": model_id, "aliasName": alias_to_bytes32(alias), "versionId": version_id},
            direct=direct,
        )

    def propose_change(
        self,
        actor: LocalAccount,
        kind: ChangeKind,
        *,
        account: str = ZERO_ADDRESS,
        value: int = 0,
        direct: bool = False,
    ) -> int:
        receipt = self.act(
            actor,
            "ProposeChange",
            {"kind": int(kind), "account": _address(account), "value": value},
            direct=direct,
        )
        return int(receipt.event("ChangeProposed").args["proposalId"])

    def vote_on_change(
        self, actor: LocalAccount, proposal_id: int, support: Support, *, direct: bool = False
    ) -> State:
        receipt = self.act(
            actor,
            "VoteOnChange",
            {"proposalId": proposal_id, "support": int(support)},
            direct=direct,
        )
        for e in receipt.events:
            if e.name == "ChangeStatusChanged":
                return State(e.args["current"])
        return State.PROPOSED

    def resign(self, actor: LocalAccount, *, direct: bool = False) -> ActionReceipt:
        return self.act(actor, "Resign", {}, direct=direct)

    def finalize_version(self, version_id: int) -> ActionReceipt:
        """Record that a version's window ended without approval (permissionless)."""
        return self._receipt(
            self.relayer.transact(self.registry.functions.finalizeVersion(version_id))
        )

    def finalize_change(self, proposal_id: int) -> ActionReceipt:
        return self._receipt(
            self.relayer.transact(self.consortium.functions.finalizeChange(proposal_id))
        )

    # ================================================================ reads

    def members(self) -> list[str]:
        return [str(a) for a in self._call(self.consortium.functions.members())]

    def is_member(self, account: str) -> bool:
        return bool(self._call(self.consortium.functions.isMember(_address(account))))

    def member_since(self, account: str) -> int:
        return int(self._call(self.consortium.functions.memberSince(_address(account))))

    def quorum_bps(self) -> int:
        return int(self._call(self.consortium.functions.quorumBps()))

    def voting_period(self) -> int:
        return int(self._call(self.consortium.functions.votingPeriod()))

    def proposal_count(self) -> int:
        return int(self._call(self.consortium.functions.proposalCount()))

    def proposal(self, proposal_id: int) -> ProposalRecord:
        raw = self._call(self.consortium.functions.proposal(proposal_id))
        state = State(self._call(self.consortium.functions.proposalStatus(proposal_id)))
        kind, account, value, proposer, ballot = raw
        return ProposalRecord(
            proposal_id=proposal_id,
            kind=ChangeKind(kind),
            account=str(account),
            value=int(value),
            proposer=str(proposer),
            state=state,
            ballot=_ballot(ballot),
        )

    def change_vote_of(self, proposal_id: int, voter: str) -> Support | None:
        raw = int(self._call(self.consortium.functions.changeVoteOf(proposal_id, _address(voter))))
        return None if raw == 0 else Support(raw - 1)

    def model_count(self) -> int:
        return int(self._call(self.registry.functions.modelCount()))

    def model(self, model_id: int) -> ModelRecord:
        owner, restricted, metadata, name = self._call(self.registry.functions.model(model_id))
        return ModelRecord(
            model_id=model_id,
            name=str(name),
            owner=str(owner),
            restricted=bool(restricted),
            metadata_digest=bytes(metadata),
        )

    def model_id_by_name(self, name: str) -> int | None:
        model_id = int(self._call(self.registry.functions.modelIdByName(name)))
        return model_id or None

    def version_count(self) -> int:
        return int(self._call(self.registry.functions.versionCount()))

    def version(self, version_id: int) -> VersionRecord:
        raw = self._call(self.registry.functions.version(version_id))
        state = State(self._call(self.registry.functions.versionState(version_id)))
        proposer, model_id, parent_id, kind, ballot, artifact, metadata = raw
        b = _ballot(ballot)
        return VersionRecord(
            version_id=version_id,
            model_id=int(model_id),
            parent_id=int(parent_id),
            kind=VersionKind(kind),
            proposer=str(proposer),
            artifact_digest=bytes(artifact),
            metadata_digest=bytes(metadata),
            state=state,
            ballot=b,
            proposed_block=b.snapshot_block,
        )

    def version_state(self, version_id: int) -> State:
        return State(self._call(self.registry.functions.versionState(version_id)))

    def vote_of(self, version_id: int, voter: str) -> Support | None:
        raw = int(self._call(self.registry.functions.voteOf(version_id, _address(voter))))
        return None if raw == 0 else Support(raw - 1)

    def alias_of(self, model_id: int, alias: str) -> int | None:
        version_id = int(
            self._call(self.registry.functions.aliasOf(model_id, alias_to_bytes32(alias)))
        )
        return version_id or None

    def rights_of(self, model_id: int, account: str) -> Rights:
        return Rights(self._call(self.registry.functions.rightsOf(model_id, _address(account))))

    def can_read(self, model_id: int, account: str) -> bool:
        return bool(self._call(self.registry.functions.canRead(model_id, _address(account))))

    def can_submit_updates(self, model_id: int, account: str) -> bool:
        return bool(
            self._call(self.registry.functions.canSubmitUpdates(model_id, _address(account)))
        )

    # ================================================================ history

    def events(self, **kwargs: Any) -> Iterator[Event]:
        """All events, or one contract's / one event's; see EventReader.events."""
        return self.history.events(**kwargs)

    def version_ids_of(self, model_id: int) -> list[int]:
        return [
            int(e.args["versionId"])
            for e in self.history.events(
                contract="ModelRegistry",
                event="VersionProposed",
                topics=[None, uint_topic(model_id)],
                with_timestamps=False,
            )
        ]

    def votes(self, version_id: int) -> list[Event]:
        return list(
            self.history.events(
                contract="ModelRegistry", event="VoteCast", topics=[uint_topic(version_id)]
            )
        )

    def alias_history(self, model_id: int, alias: str) -> list[Event]:
        return list(
            self.history.events(
                contract="ModelRegistry",
                event="AliasMoved",
                topics=[uint_topic(model_id), alias_to_bytes32(alias)],
            )
        )

    def alias_at(self, model_id: int, alias: str, block: int) -> int | None:
        """The version ``alias`` pointed at once block ``block`` was mined, from events alone."""
        current = 0
        for e in self.history.events(
            contract="ModelRegistry",
            event="AliasMoved",
            topics=[uint_topic(model_id), alias_to_bytes32(alias)],
            to_block=block,
            with_timestamps=False,
        ):
            current = int(e.args["versionId"])
        return current or None

    def rights_history(self, model_id: int, account: str | None = None) -> list[Event]:
        topics: list[Any] = [uint_topic(model_id)]
        if account is not None:
            topics.append(address_topic(account))
        granted = self.history.events(
            contract="ModelRegistry", event="RightsGranted", topics=topics
        )
        revoked = self.history.events(
            contract="ModelRegistry", event="RightsRevoked", topics=topics
        )
        return sorted([*granted, *revoked], key=lambda e: (e.block_number, e.log_index))

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


def _address(value: str, what: str = "account") -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{what} {value!r} is not an Ethereum address (0x + 40 hex digits)")
    return to_checksum_address(value)


def _ballot(raw: Any) -> Ballot:
    deadline, snapshot, for_v, against_v, abstain_v, required, eligible, status = raw
    return Ballot(
        deadline=int(deadline),
        snapshot_block=int(snapshot),
        for_votes=int(for_v),
        against_votes=int(against_v),
        abstain_votes=int(abstain_v),
        required=int(required),
        eligible=int(eligible),
        stored_state=State(status),
    )
