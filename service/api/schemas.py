"""Request and response models of the REST API (pydantic families per resource)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

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
)

if TYPE_CHECKING:  # the ledger pulls in web3; clients of these models need not load it
    from service.chain.ledger import ActionReceipt

Address = Annotated[
    str,
    Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]),
]
Digest = Annotated[
    str,
    Field(
        pattern=r"^0x[0-9a-fA-F]{64}$",
        examples=["0x" + "ab" * 32],
        description="32 bytes as 0x + 64 hex digits",
    ),
]
SignatureHex = Annotated[
    str,
    Field(
        pattern=r"^0x([0-9a-fA-F]{2}){1,2048}$",
        description="the actor's signature of the action's EIP-712 typed data, 0x-hex "
        "(65 bytes r, s, v for an ordinary account)",
    ),
]
UINT256_MAX = 2**256 - 1
UINT64_MAX = 2**64 - 1
EXACT_FLOAT_MAX = 2**53


def integral(value: Any) -> Any:
    """JSON numbers with a zero fraction (``961.0``) are integers under the JSON Schema the
    OpenAPI publishes: take them as ints, exactly (up to 2**53, where every such number is
    exact), and refuse the rest with a message saying why. Booleans stay refused."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"must be an integer, not {value!r}")
        if abs(value) > EXACT_FLOAT_MAX:
            raise ValueError(
                f"{value!r} has a fraction or exponent and is above 2**53, where such numbers "
                "are not exact: write the integer with digits only"
            )
        return int(value)
    return value


def _model_name(value: str) -> str:
    """The registry's name rule, said in words (a regular expression helps nobody)."""
    from service.chain.types import validate_model_name
    from service.errors import InvalidInput

    try:
        return validate_model_name(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


ModelName = Annotated[
    str,
    AfterValidator(_model_name),
    Field(
        description="unique; 1 to 64 characters, each a lower-case letter a-z, a digit 0-9, "
        "'.', '_' or '-'",
        json_schema_extra={"minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9._-]+$"},
        examples=["digits-mlp"],
    ),
]

Uint256 = Annotated[int, Field(ge=0, le=UINT256_MAX), BeforeValidator(integral)]
"""A Solidity uint256: 0 to 2**256 - 1 (larger numbers are refused with 422, not sent on)."""
Uint64 = Annotated[int, Field(ge=0, le=UINT64_MAX), BeforeValidator(integral)]

SupportName = Literal["against", "for", "abstain"]
StateName = Literal["proposed", "approved", "rejected"]
KindName = Literal["base", "aggregate", "accelerated"]
RightName = Literal["submit_updates", "read_artifacts", "maintain"]
ChangeKindName = Literal["add_member", "remove_member", "set_quorum", "set_voting_period"]
ZERO_DIGEST_HEX = "0x" + "00" * 32

_SIG_EXAMPLE: dict[str, Any] = {
    "actor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "nonce": 0,
    "deadline": 1893456000,
    "signature": "0x" + "11" * 65,
}


def support_name(s: Support) -> SupportName:
    return s.name.lower()  # type: ignore[return-value]


def state_name(s: State) -> StateName:
    return s.name.lower()  # type: ignore[return-value]


def kind_name(k: VersionKind) -> KindName:
    return k.name.lower()  # type: ignore[return-value]


def rights_names(mask: Rights) -> list[RightName]:
    names: dict[Rights, RightName] = {
        Rights.SUBMIT_UPDATES: "submit_updates",
        Rights.READ_ARTIFACTS: "read_artifacts",
        Rights.MAINTAIN: "maintain",
    }
    return [name for right, name in names.items() if mask & right]


def rights_mask(names: list[RightName]) -> Rights:
    mask = Rights.NONE
    for n in names:
        mask |= Rights[n.upper()]
    return mask


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


# ---------------------------------------------------------------- signed requests


class SignedFields(BaseModel):
    """Who acts and their EIP-712 signature of the action (see POST /v1/actions/prepare)."""

    # strict: JSON types as documented (no "1" or false for an integer)
    model_config = ConfigDict(extra="forbid", strict=True)

    actor: Address = Field(description="the account that acts and signed")
    nonce: Uint256 = Field(description="the actor's next nonce on the contract (uint256)")
    deadline: Uint256 = Field(description="unix time after which the signature is void (uint256)")
    signature: SignatureHex


def _examples(**fields: Any) -> ConfigDict:
    return ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{**fields, **_SIG_EXAMPLE}]}
    )


class ModelCreate(SignedFields):
    model_config = _examples(name="digits-mlp", metadata_digest=ZERO_DIGEST_HEX, restricted=False)

    name: ModelName
    metadata_digest: Digest = ZERO_DIGEST_HEX
    restricted: bool = False


class ModelMetadataUpdate(SignedFields):
    model_config = _examples(metadata_digest="0x" + "ab" * 32)

    metadata_digest: Digest


class ModelOwnerUpdate(SignedFields):
    model_config = _examples(new_owner="0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")

    new_owner: Address = Field(
        description="the account that becomes pending owner until it accepts; "
        "the zero address cancels a pending transfer"
    )


class ModelOwnerAccept(SignedFields):
    """The pending owner's signed AcceptModelOwnership."""

    model_config = _examples()


class ReadPolicyUpdate(SignedFields):
    model_config = _examples(restricted=True)

    restricted: bool


class RightsChange(SignedFields):
    model_config = _examples(rights=["read_artifacts"])

    rights: list[RightName] = Field(min_length=1)


class VoteCreate(SignedFields):
    model_config = _examples(support="for")

    support: SupportName


class AliasMove(SignedFields):
    model_config = _examples(version_id=1)

    version_id: Uint256 = Field(description="an Approved version of the model; 0 clears the alias")


class ChangeProposalCreate(SignedFields):
    model_config = _examples(
        kind="add_member", account="0x90F79bf6EB2c4f870365E785982E1f101E93b906", value=0
    )

    kind: ChangeKindName
    account: Address | None = Field(default=None, description="for add_member / remove_member")
    value: Uint64 = Field(
        default=0, description="basis points (set_quorum) or seconds (set_voting_period); uint64"
    )


class Resignation(SignedFields):
    model_config = _examples()


class ActionPrepare(BaseModel):
    """What to sign: the action's name, the actor and the action's arguments (ABI names)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "action": "CastVote",
                    "actor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "args": {"versionId": 1, "support": 1},
                }
            ]
        },
    )

    action: str = Field(description="RegisterModel, ProposeVersion, CastVote, MoveAlias, ...")
    actor: Address
    args: dict[str, Any] = Field(default_factory=dict)
    deadline: Uint256 | None = Field(
        default=None, description="default: now + the service's TTL (uint256)"
    )


class SiweLogin(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "message": "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n"
                    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8\n\nSign in to govledger\n\n"
                    "URI: http://127.0.0.1:8000\nVersion: 1\nChain ID: 31337\n"
                    "Nonce: 32891756abcd1234\nIssued At: 2026-11-22T01:00:00Z",
                    "signature": "0x" + "11" * 65,
                }
            ]
        },
    )

    message: str = Field(min_length=1, max_length=1024, description="an EIP-4361 message")
    signature: SignatureHex


# ---------------------------------------------------------------- responses


class TransactionPublic(BaseModel):
    transaction_hash: str
    block_number: int
    gas_used: int

    @classmethod
    def of(cls, r: ActionReceipt) -> TransactionPublic:
        return cls(
            transaction_hash=r.transaction_hash, block_number=r.block_number, gas_used=r.gas_used
        )


class ModelPublic(BaseModel):
    model_id: int
    name: str
    owner: str
    restricted: bool
    metadata_digest: str
    pending_owner: str | None = Field(
        default=None, description="the account a transfer names until it accepts; null if none"
    )

    @classmethod
    def of(cls, m: ModelRecord) -> ModelPublic:
        return cls(
            model_id=m.model_id,
            name=m.name,
            owner=m.owner,
            restricted=m.restricted,
            metadata_digest=hex32(m.metadata_digest),
            pending_owner=m.pending_owner,
        )


class ModelWritten(BaseModel):
    model: ModelPublic
    transaction: TransactionPublic


class ModelList(BaseModel):
    items: list[ModelPublic]
    total: int
    offset: int
    limit: int
    indexed_to_block: int | None = Field(
        default=None,
        description="the event index answered up to this block and the chain after it, to the "
        "latest block; null: read from the chain alone (index off, behind or rebuilding)",
    )


class BallotPublic(BaseModel):
    deadline: int
    snapshot_block: int
    for_votes: int
    against_votes: int
    abstain_votes: int
    required: int
    eligible: int

    @classmethod
    def of(cls, b: Ballot) -> BallotPublic:
        return cls(
            deadline=b.deadline,
            snapshot_block=b.snapshot_block,
            for_votes=b.for_votes,
            against_votes=b.against_votes,
            abstain_votes=b.abstain_votes,
            required=b.required,
            eligible=b.eligible,
        )


class VersionDecisionPublic(BaseModel):
    """When and how a version's ballot was decided: the VersionStateChanged event's block, time
    and transaction; an expired ballot that nobody recorded yet has no event (block null) and
    is Rejected from its deadline on, by the contract's rule."""

    state: StateName
    how: Literal["quorum_reached", "quorum_unreachable", "expired"] = Field(
        description="quorum_reached / quorum_unreachable: decided by the vote in the same "
        "transaction; expired: the voting window ended without approval"
    )
    block_number: int | None = Field(description="null for an expired ballot not yet recorded")
    timestamp: int | None
    time: datetime | None = Field(description="the block's time, ISO 8601 in UTC")
    transaction_hash: str | None
    deadline: int = Field(description="the ballot's last second for votes (inclusive)")
    expired_at: datetime | None = Field(
        default=None, description="for a ballot that ran out: its deadline, ISO 8601 in UTC"
    )


class VersionPublic(BaseModel):
    version_id: int = Field(description="the version's id on chain, unique across models")
    model_id: int
    number: int | None = Field(
        default=None,
        description="the version's number within its model (1, 2, 3 ... in proposal order): "
        "model_name@number names it",
    )
    model_name: str | None = None
    parent_id: int | None
    parent_number: int | None = Field(
        default=None, description="the parent's number within the model"
    )
    kind: KindName
    state: StateName
    artifact_digest: str
    artifact_cid: str | None = Field(description="the artifact's CID, if the store holds it")
    metadata_digest: str
    proposer: str
    proposed_block: int
    ballot: BallotPublic
    decision: VersionDecisionPublic | None = Field(
        default=None,
        description="when and how the ballot was decided (null while it is open); given by the "
        "single-version reads (by id, number or reference), null in lists",
    )

    @classmethod
    def of(
        cls,
        v: VersionRecord,
        cid: str | None,
        *,
        number: int | None = None,
        model_name: str | None = None,
        numbers: dict[int, int] | None = None,
    ) -> VersionPublic:
        """``v`` with its CID (None if the store lacks it); ``numbers`` (the model's version
        ids to their numbers) gives its number and its parent's."""
        if numbers is not None and number is None:
            number = numbers.get(v.version_id)
        return cls(
            version_id=v.version_id,
            model_id=v.model_id,
            number=number,
            model_name=model_name,
            parent_id=v.parent_id or None,
            parent_number=(numbers or {}).get(v.parent_id),
            kind=kind_name(v.kind),
            state=state_name(v.state),
            artifact_digest=hex32(v.artifact_digest),
            artifact_cid=cid,
            metadata_digest=hex32(v.metadata_digest),
            proposer=v.proposer,
            proposed_block=v.proposed_block,
            ballot=BallotPublic.of(v.ballot),
        )


class VersionSearchList(BaseModel):
    items: list[VersionPublic]
    total: int
    offset: int
    limit: int
    unreadable: int = Field(
        description="versions whose metadata the caller may not read (restricted models), "
        "so not searched; sign in as an account with the read right to search them"
    )


class VersionWritten(BaseModel):
    version: VersionPublic
    artifact_size: int
    transaction: TransactionPublic


class VersionList(BaseModel):
    items: list[VersionPublic]
    total: int
    offset: int
    limit: int


class EventRef(BaseModel):
    block_number: int
    timestamp: int | None
    transaction_hash: str


def event_ref(e: Event) -> dict[str, Any]:
    return {
        "block_number": e.block_number,
        "timestamp": e.block_timestamp,
        "transaction_hash": e.transaction_hash,
    }


class VoteReasonPublic(BaseModel):
    """Why a member voted as it did: a metadata document the voter signed (StoreMetadata over
    its digest, in the ModelRegistry's EIP-712 domain), checked against the vote on chain."""

    version_id: int
    voter: str
    support: SupportName
    reason: str
    cid: str = Field(description="the reason document's CID in the content store")
    deadline: int = Field(description="the StoreMetadata signature's deadline")
    signature: str = Field(description="the voter's StoreMetadata signature over its digest")


class VotePublic(EventRef):
    version_id: int
    voter: str
    support: SupportName
    reason: VoteReasonPublic | None = Field(
        default=None, description="the voter's signed reason, if it gave one"
    )


class VoteWritten(BaseModel):
    vote: VotePublic
    state: StateName
    transaction: TransactionPublic


class AliasPublic(BaseModel):
    model_id: int
    alias: str
    version_id: int | None
    version_number: int | None = Field(
        default=None, description="the version's number within the model"
    )
    at_block: int | None = Field(
        default=None, description="the block the value is given at, if asked"
    )


class AliasMovePublic(EventRef):
    alias: str
    version_id: int | None
    previous_version_id: int | None
    by: str
    version_number: int | None = None
    previous_version_number: int | None = None


class AliasWritten(BaseModel):
    alias: AliasPublic
    transaction: TransactionPublic


class RightsPublic(BaseModel):
    model_id: int
    account: str
    rights: list[RightName]
    is_owner: bool
    can_read: bool
    can_submit_updates: bool


class RightsWritten(BaseModel):
    rights: RightsPublic
    transaction: TransactionPublic


class MemberPublic(BaseModel):
    address: str
    member_since_block: int


class ConsortiumPublic(BaseModel):
    members: list[MemberPublic]
    quorum_bps: int
    voting_period_s: int
    required_votes: int


class ProposalPublic(BaseModel):
    proposal_id: int
    kind: ChangeKindName
    account: str | None
    value: int
    proposer: str
    state: StateName
    ballot: BallotPublic

    @classmethod
    def of(cls, p: ProposalRecord) -> ProposalPublic:
        zero = p.account == "0x0000000000000000000000000000000000000000"
        return cls(
            proposal_id=p.proposal_id,
            kind=ChangeKind(p.kind).name.lower(),  # type: ignore[arg-type]
            account=None if zero else p.account,
            value=p.value,
            proposer=p.proposer,
            state=state_name(p.state),
            ballot=BallotPublic.of(p.ballot),
        )


class ProposalWritten(BaseModel):
    proposal: ProposalPublic
    transaction: TransactionPublic


class OpenBallotPublic(BaseModel):
    """A ballot still open: a version or a membership change, with the voter's part if a
    voter was named."""

    kind: Literal["version", "membership"]
    version: VersionPublic | None = None
    proposal: ProposalPublic | None = None
    deadline: int = Field(description="unix time (chain) until which votes are taken")
    vote: SupportName | None = Field(default=None, description="the voter's vote, if cast")
    may_vote: bool | None = Field(
        default=None, description="whether the voter may vote on it (null without a voter)"
    )


class Written(BaseModel):
    transaction: TransactionPublic


class PreparedAction(BaseModel):
    action: str
    actor: str
    nonce: int
    deadline: int
    typed_data: dict[str, Any] = Field(description="sign with eth_signTypedData_v4")
    digest: str = Field(description="the EIP-712 digest the signature covers")


class ContractInfo(BaseModel):
    address: str
    eip712_name: str
    eip712_version: str


class InfoPublic(BaseModel):
    chain_id: int
    chain_time: int | None = Field(
        description="the latest block's timestamp when answered (unix seconds): deadlines and "
        "submission windows are compared with it, not with the caller's clock; null while the "
        "chain does not answer (the rest of this answer is the deployment record's)"
    )
    deploy_block: int
    relayer: str
    contracts: dict[str, ContractInfo]
    compiler_version: str
    store_backend: str
    max_upload_bytes: int
    siwe_domain: str


class StoredContent(BaseModel):
    cid: str
    digest: str
    size: int


class NoncePublic(BaseModel):
    nonce: str
    domain: str
    uri: str
    chain_id: int
    statement: str
    expires_at: str


class SessionPublic(BaseModel):
    token: str
    address: str
    expires_at: int


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    ready: bool
    chain: str
    store: str
    contracts: str
    journal: str = Field(
        default="ok",
        description="ok, or what the journal of signed actions still owes the chain (a "
        "rollback to repair, interrupted actions to finish)",
    )
    index: str = Field(
        default="off",
        description="whether reads use the event index (ok: at block N, K behind the latest), "
        "or why not (off, not yet written, not used: catching up or rolled back): "
        "informational, readiness does not depend on it",
    )


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    contract_error: dict[str, Any] | None = None
    errors: list[dict[str, Any]] | None = None
    cid: str | None = None


SUPPORT_BY_NAME = {s.name.lower(): s for s in Support}
KIND_BY_NAME = {k.name.lower(): k for k in VersionKind}
STATE_BY_NAME = {s.name.lower(): s for s in State}
CHANGE_BY_NAME = {k.name.lower(): k for k in ChangeKind}


class VersionUpdated(BaseModel):
    version: VersionPublic
    transaction: TransactionPublic
