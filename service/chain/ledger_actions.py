"""Typed actions of the chain adapter: one method per contract action, signed by the actor and
relayed (or, with ``direct=True``, sent from the actor's own account)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from service.chain.ledger_core import ZERO_ADDRESS, ActionReceipt, _address
from service.chain.ledger_rounds import RoundActions
from service.chain.types import (
    ZERO_DIGEST,
    ChangeKind,
    Rights,
    State,
    Support,
    VersionKind,
    alias_to_bytes32,
    as_digest,
)


class LedgerActions(RoundActions):
    """The typed actions; those of federated rounds come from ``RoundActions``."""

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
        """Name ``new_owner`` the model's pending owner (the zero address cancels a pending
        transfer); the owner stays owner until ``new_owner`` accepts."""
        return self.act(
            actor,
            "TransferModelOwnership",
            {"modelId": model_id, "newOwner": _address(new_owner, "new owner")},
            direct=direct,
        )

    def accept_model_ownership(
        self, actor: LocalAccount, model_id: int, *, direct: bool = False
    ) -> ActionReceipt:
        """Take over a model whose pending owner ``actor`` is."""
        return self.act(actor, "AcceptModelOwnership", {"modelId": model_id}, direct=direct)

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
        return self._change_rights(actor, "Grant", model_id, account, rights, direct=direct)

    def revoke_rights(
        self,
        actor: LocalAccount,
        model_id: int,
        account: str,
        rights: Rights,
        *,
        direct: bool = False,
    ) -> Rights:
        return self._change_rights(actor, "Revoke", model_id, account, rights, direct=direct)

    def _change_rights(
        self,
        actor: LocalAccount,
        verb: str,
        model_id: int,
        account: str,
        rights: Rights,
        *,
        direct: bool,
    ) -> Rights:
        """GrantRights / RevokeRights; returns the account's rights afterwards."""
        receipt = self.act(
            actor,
            f"{verb}Rights",
            {"modelId": model_id, "account": _address(account), "rights": int(rights)},
            direct=direct,
        )
        event = "RightsGranted" if verb == "Grant" else "RightsRevoked"
        return Rights(receipt.event(event).args["current"])

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
