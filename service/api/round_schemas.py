"""Request and response models of federated rounds (the rest live in ``schemas.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.api.schemas import (
    Address,
    SignedFields,
    TransactionPublic,
    Uint64,
    Uint256,
    _examples,
    hex32,
)
from service.chain.types import MAX_NORM_BOUND, NORM_SCALE, RoundRecord, RoundState, UpdateRecord

RoundStateName = Literal["open", "closed", "finalized", "cancelled"]
RuleName = Literal["fedavg", "median", "trimmed-mean", "krum", "multi-krum"]


def round_state_name(state: RoundState) -> RoundStateName:
    names: dict[RoundState, RoundStateName] = {
        RoundState.OPEN: "open",
        RoundState.CLOSED: "closed",
        RoundState.FINALIZED: "finalized",
        RoundState.CANCELLED: "cancelled",
    }
    return names[state]


ROUND_STATE_BY_NAME = {round_state_name(s): s for s in RoundState}


class RoundCreate(SignedFields):
    """Open a round (signed OpenRound). The service derives the parameters' digest from ``rule``
    and ``params`` (a canonical JSON document it stores) and the actor signs that digest."""

    model_config = _examples(
        base_version_id=1,
        rule="multi-krum",
        params={"f": 1, "m": 3},
        min_updates=3,
        max_updates=5,
        submission_deadline=1893456000,
        max_norm=10.0,
    )

    base_version_id: Uint256 = Field(description="an Approved version of the model")
    rule: RuleName
    params: dict[str, Any] = Field(default_factory=dict, description="the rule's parameters")
    min_updates: int = Field(ge=1, le=2**32 - 1)
    max_updates: int = Field(ge=1, le=2**32 - 1)
    submission_deadline: Uint64 = Field(description="last unix time an update is accepted")
    max_norm: float = Field(
        gt=0,
        le=MAX_NORM_BOUND,
        allow_inf_nan=False,
        description=f"bound on an update's L2 norm (finite, above 0, at most {MAX_NORM_BOUND:g})",
    )


class RoundAction(SignedFields):
    """Close, cancel or finalize a round (signed CloseRound / CancelRound / FinalizeRound)."""

    model_config = _examples()


class RoundPublic(BaseModel):
    round_id: int
    model_id: int
    base_version_id: int
    base_digest: str
    rule: str
    params_digest: str
    max_norm: float
    submission_deadline: int
    min_updates: int
    max_updates: int
    update_count: int
    state: RoundStateName
    aggregate_version_id: int | None
    inclusion_root: str | None
    included_count: int
    excluded_count: int

    @classmethod
    def of(cls, r: RoundRecord) -> RoundPublic:
        return cls(
            round_id=r.round_id,
            model_id=r.model_id,
            base_version_id=r.base_version_id,
            base_digest=hex32(r.base_digest),
            rule=r.rule_name,
            params_digest=hex32(r.params_digest),
            max_norm=r.max_norm / NORM_SCALE,
            submission_deadline=r.submission_deadline,
            min_updates=r.min_updates,
            max_updates=r.max_updates,
            update_count=r.update_count,
            state=round_state_name(r.state),
            aggregate_version_id=r.aggregate_version_id,
            inclusion_root=hex32(r.inclusion_root) if r.inclusion_root else None,
            included_count=r.included_count,
            excluded_count=r.excluded_count,
        )


class RoundList(BaseModel):
    items: list[RoundPublic]
    total: int
    offset: int
    limit: int


class UpdatePublic(BaseModel):
    round_id: int
    participant: str
    update_digest: str
    update_cid: str
    sample_count: int
    index: int

    @classmethod
    def of(cls, u: UpdateRecord, cid: str) -> UpdatePublic:
        return cls(
            round_id=u.round_id,
            participant=u.participant,
            update_digest=hex32(u.update_digest),
            update_cid=cid,
            sample_count=u.sample_count,
            index=u.index,
        )


ExclusionName = Literal["not_selected", "unavailable", "invalid"]


class UpdateStatusPublic(BaseModel):
    """A participant's update to a round: recorded or not, and once the round is finalized,
    included (with the Merkle proof of its leaf under ``round.inclusion_root``) or excluded."""

    round: RoundPublic
    participant: str
    update: UpdatePublic | None = Field(description="null: the participant submitted none")
    transaction_hash: str | None = Field(description="the transaction that recorded the update")
    outcome: Literal["not_submitted", "pending", "included", "excluded", "cancelled"] = Field(
        description="pending until the round is finalized; cancelled: the round was, and "
        "aggregates nothing"
    )
    reason: ExclusionName | None = None
    code: int | None = Field(default=None, description="the exclusion reason's code on chain")
    leaf: str | None = Field(
        default=None, description="keccak256(abi.encode(participant, updateDigest, sampleCount))"
    )
    proof: list[str] | None = Field(
        default=None,
        description="the leaf's siblings from the bottom up (OpenZeppelin MerkleProof.verify)",
    )


class RoundDetail(BaseModel):
    round: RoundPublic
    base_cid: str | None
    updates: list[UpdatePublic]


class RoundWritten(BaseModel):
    round: RoundPublic
    transaction: TransactionPublic


class UpdateWritten(BaseModel):
    update: UpdatePublic
    round: RoundPublic
    transaction: TransactionPublic


class ExclusionPublic(BaseModel):
    participant: Address
    reason: Literal["not_selected", "unavailable", "invalid"]
    code: int
    detail: str


class IncludedPublic(BaseModel):
    participant: str
    update_cid: str
    update_digest: str
    sample_count: int


class AggregationPublic(BaseModel):
    """A closed round's aggregate as stored, and the FinalizeRound arguments to sign."""

    round_id: int
    rule: str
    params: dict[str, Any]
    base_version_id: int
    aggregate_cid: str
    aggregate_digest: str
    metadata_cid: str
    metadata_digest: str
    inclusion_root: str
    included: list[IncludedPublic]
    excluded: list[ExclusionPublic]
    finalize_args: dict[str, Any] = Field(
        description="the FinalizeRound arguments a maintainer signs (bytes as 0x-hex)"
    )
    evaluation: dict[str, Any] | None = Field(
        default=None,
        description="the held-out accuracy of the base and the aggregate on the evaluation set "
        "the model registers, as the metadata document holds it; null if it registers none",
    )


class RoundFinalized(BaseModel):
    round: RoundPublic
    version_id: int
    transaction: TransactionPublic
