"""Reads of the chain adapter: current state from views, history from events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eth_utils import to_checksum_address

from service.chain.actions import Statement, recover_signer, typed_data_digest
from service.chain.history import address_topic, uint_topic
from service.chain.ledger_core import (
    ERC1271_ABI,
    ERC1271_MAGIC,
    ZERO_ADDRESS,
    _address,
)
from service.chain.ledger_rounds import RoundReads
from service.chain.types import (
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
)
from service.errors import InvalidInput


class LedgerReads(RoundReads):
    """The reads; those of federated rounds come from ``RoundReads``."""

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

    def ballot_parameters(self) -> tuple[int, int, int]:
        """(members now, For votes a ballot opened now needs, voting period in seconds)."""
        eligible, required, period = self._call(self.consortium.functions.ballotParameters())
        return int(eligible), int(required), int(period)

    def contracts_deployed(self) -> bool:
        """Whether the recorded addresses still hold code (a reset chain has none)."""
        return all(self.w3.eth.get_code(c.address) for c in self.contracts.values())

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
        raw = self._call(self.registry.functions.model(model_id))
        owner, restricted, metadata, name, pending_owner = raw
        return ModelRecord(
            model_id=model_id,
            name=str(name),
            owner=str(owner),
            restricted=bool(restricted),
            metadata_digest=bytes(metadata),
            pending_owner=None if pending_owner == ZERO_ADDRESS else str(pending_owner),
        )

    def pending_owner_of(self, model_id: int) -> str | None:
        """The account a transfer of the model names and that has not accepted yet."""
        pending = str(self._call(self.registry.functions.pendingOwnerOf(model_id)))
        return None if pending == ZERO_ADDRESS else pending

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

    def signed_statement(self, statement: Statement, signature: bytes) -> bool:
        """Whether ``signature`` is the statement's actor's, for this deployment: an ordinary
        account's ECDSA signature, or a contract account (ERC-1271) that accepts it."""
        if statement.domain != self.domain(statement.spec.contract):
            return False
        actor = to_checksum_address(statement.values["actor"])
        try:
            if recover_signer(statement, signature) == actor:
                return True
        except InvalidInput:
            pass  # malformed for an ordinary account; a contract wallet may still accept it
        if not self.w3.eth.get_code(actor):
            return False
        wallet = self.w3.eth.contract(address=actor, abi=ERC1271_ABI)
        try:
            magic = wallet.functions.isValidSignature(
                typed_data_digest(statement), signature
            ).call()
        except Exception:  # a contract without the function, or one that reverts: not accepted
            return False
        return bytes(magic) == ERC1271_MAGIC

    # ================================================================ history

    def events(self, **kwargs: Any) -> Iterator[Event]:
        """All events, or one contract's / one event's; see EventReader.events."""
        return self.history.events(**kwargs)

    def version_ids_of(self, model_id: int) -> list[int]:
        """The model's version ids in proposal order (from the event index when it can say)."""
        if self.indexed is not None and (ids := self.indexed.version_ids_of(model_id)) is not None:
            return ids
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
