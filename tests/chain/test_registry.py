"""ModelRegistry through the chain adapter, on a real anvil: models, rights, versions, votes,
aliases. Every success asserts its events and the state read back; every revert asserts the
custom error with its arguments and that nothing changed (no block mined, reads unchanged).

Actions go signed and relayed unless a test says ``direct``; the tests parametrized over
``direct`` run both the ``...BySig`` and the plain function."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from service.chain.ledger import ActionReceipt, Ledger
from service.chain.reverts import (
    RegistryAlreadyVoted,
    RegistryDuplicateName,
    RegistryInvalidAccount,
    RegistryInvalidAlias,
    RegistryInvalidDigest,
    RegistryInvalidName,
    RegistryInvalidRights,
    RegistryMissingParent,
    RegistryNotEligible,
    RegistryNotMaintainer,
    RegistryNotMember,
    RegistryNotModelOwner,
    RegistryUnexpectedState,
    RegistryUnknownModel,
    RegistryUnknownVersion,
    RegistryVersionOfOtherModel,
    RegistryVotingClosed,
    RegistryVotingOpen,
)
from service.chain.types import (
    Ballot,
    ChangeKind,
    ModelRecord,
    Rights,
    State,
    Support,
    VersionKind,
    VersionRecord,
    alias_to_bytes32,
)
from tests.chain.conftest import VOTING_PERIOD, increase_time
from tests.chain.helpers import (
    ZERO32,
    ZERO_ADDRESS,
    block_time,
    digest,
    emitted,
    mine_at,
    pass_change,
    reverts,
    set_next_block_time,
)

MODEL_META = digest("model metadata")
PRODUCTION = "production"

both_paths = pytest.mark.parametrize("direct", [False, True], ids=["signed", "direct"])


# ---------------------------------------------------------------- helpers and fixtures


def summary(ledger: Ledger, *accounts: LocalAccount) -> tuple[Any, ...]:
    """Counts and the actors' registry nonces: what any accepted action would change."""
    return (
        ledger.model_count(),
        ledger.version_count(),
        [ledger.nonce_of("ModelRegistry", a.address) for a in accounts],
    )


def propose(
    ledger: Ledger,
    actor: LocalAccount,
    model_id: int,
    label: str,
    *,
    parent_id: int = 0,
    kind: VersionKind = VersionKind.BASE,
    direct: bool = False,
) -> ActionReceipt:
    return ledger.act(
        actor,
        "ProposeVersion",
        {
            "modelId": model_id,
            "parentId": parent_id,
            "kind": int(kind),
            "artifactDigest": digest(f"artifact {label}"),
            "metadataDigest": digest(f"metadata {label}"),
        },
        direct=direct,
    )


def approve(ledger: Ledger, voters: list[LocalAccount], version_id: int) -> None:
    """Two For votes: the quorum of the three founders."""
    assert ledger.cast_vote(voters[0], version_id, Support.FOR) is State.PROPOSED
    assert ledger.cast_vote(voters[1], version_id, Support.FOR) is State.APPROVED


@pytest.fixture
def holder(accounts: list[LocalAccount]) -> LocalAccount:
    """A non-member that the owner grants rights to."""
    return accounts[6]


@pytest.fixture
def newcomer(accounts: list[LocalAccount]) -> LocalAccount:
    """Not a founder; joins the consortium by vote where a test needs it."""
    return accounts[4]


@pytest.fixture
def model_id(ledger: Ledger, owner: LocalAccount) -> int:
    return ledger.register_model(owner, "resnet", metadata_digest=MODEL_META)


@pytest.fixture
def version_id(ledger: Ledger, owner: LocalAccount, model_id: int) -> int:
    """A Proposed base version of ``model_id``."""
    return ledger.propose_version(owner, model_id, digest("artifact v1"))


@pytest.fixture
def approved_id(ledger: Ledger, members: list[LocalAccount], version_id: int) -> int:
    approve(ledger, members, version_id)
    return version_id


@pytest.fixture
def other_model(ledger: Ledger, members: list[LocalAccount]) -> tuple[int, int]:
    """Another member's model with one Approved version: (model id, version id)."""
    other_id = ledger.register_model(members[1], "other-model")
    other_version = ledger.propose_version(members[1], other_id, digest("other artifact"))
    approve(ledger, members, other_version)
    return other_id, other_version


# ---------------------------------------------------------------- registering models


@both_paths
def test_register_model_emits_and_stores_it(ledger: Ledger, owner: LocalAccount, direct: bool):
    name = "resnet-50.v1_b"
    receipt = ledger.act(
        owner,
        "RegisterModel",
        {"name": name, "metadataDigest": MODEL_META, "restricted": True},
        direct=direct,
    )

    assert emitted(receipt) == [
        (
            "ModelRegistered",
            {
                "modelId": 1,
                "owner": owner.address,
                "name": name,
                "metadataDigest": MODEL_META,
                "restricted": True,
            },
        )
    ]
    assert ledger.model(1) == ModelRecord(
        model_id=1,
        name=name,
        owner=owner.address,
        restricted=True,
        metadata_digest=MODEL_META,
        pending_owner=None,
    )
    assert ledger.model_count() == 1
    assert ledger.model_id_by_name(name) == 1
    assert ledger.model_id_by_name("resnet") is None


def test_models_get_consecutive_ids(ledger: Ledger, members: list[LocalAccount]):
    first = ledger.register_model(members[0], "first")
    second = ledger.register_model(members[1], "second", restricted=True)

    assert (first, second) == (1, 2)
    assert ledger.model(2).owner == members[1].address
    assert ledger.model(2).restricted is True
    assert ledger.model(2).metadata_digest == ZERO32
    assert [
        e.args["name"] for e in ledger.events(contract="ModelRegistry", event="ModelRegistered")
    ] == [
        "first",
        "second",
    ]


@pytest.mark.parametrize("name", ["a", "a" * 64, "0.9_a-z"])
def test_register_model_accepts_names_at_the_edges(ledger: Ledger, owner: LocalAccount, name: str):
    model_id = ledger.register_model(owner, name)

    assert ledger.model(model_id).name == name
    assert ledger.model_id_by_name(name) == model_id


@pytest.mark.parametrize(
    "name",
    ["Bad Name", "", "a" * 65, "Resnet", "a/b", "naïve", "tab\t", "a b"],
    ids=["space", "empty", "65-chars", "upper-case", "slash", "non-ascii", "tab", "inner-space"],
)
def test_register_model_rejects_invalid_name(ledger: Ledger, owner: LocalAccount, name: str):
    with reverts(
        ledger, RegistryInvalidName, {"name": name}, unchanged=lambda: summary(ledger, owner)
    ):
        ledger.register_model(owner, name)


@both_paths
def test_register_model_rejects_duplicate_name(
    ledger: Ledger, members: list[LocalAccount], model_id: int, direct: bool
):
    with reverts(
        ledger,
        RegistryDuplicateName,
        {"name": "resnet", "existingModelId": model_id},
        unchanged=lambda: (summary(ledger, *members), ledger.model(model_id)),
    ):
        ledger.register_model(members[1], "resnet", direct=direct)


@both_paths
def test_register_model_needs_a_member(ledger: Ledger, outsider: LocalAccount, direct: bool):
    with reverts(
        ledger,
        RegistryNotMember,
        {"account": outsider.address},
        unchanged=lambda: summary(ledger, outsider),
    ):
        ledger.register_model(outsider, "mine", direct=direct)
    assert ledger.model_id_by_name("mine") is None


def test_register_model_refused_once_member_resigned(ledger: Ledger, members: list[LocalAccount]):
    ledger.resign(members[2])

    with reverts(ledger, RegistryNotMember, {"account": members[2].address}):
        ledger.register_model(members[2], "late")


@pytest.mark.parametrize("model_id", [0, 1, 99])
def test_reads_of_unknown_model_revert(ledger: Ledger, owner: LocalAccount, model_id: int):
    for read in (
        lambda: ledger.model(model_id),
        lambda: ledger.rights_of(model_id, owner.address),
        lambda: ledger.can_read(model_id, owner.address),
        lambda: ledger.can_submit_updates(model_id, owner.address),
        lambda: ledger.alias_of(model_id, PRODUCTION),
    ):
        with reverts(ledger, RegistryUnknownModel, {"modelId": model_id}):
            read()


# ---------------------------------------------------------------- metadata, ownership, read policy


@both_paths
def test_set_model_metadata(ledger: Ledger, owner: LocalAccount, model_id: int, direct: bool):
    new = digest("new metadata")
    receipt = ledger.set_model_metadata(owner, model_id, new, direct=direct)

    assert emitted(receipt) == [
        (
            "ModelMetadataChanged",
            {
                "modelId": model_id,
                "previousDigest": MODEL_META,
                "metadataDigest": new,
                "by": owner.address,
            },
        )
    ]
    assert ledger.model(model_id).metadata_digest == new


@both_paths
def test_set_model_metadata_needs_the_owner(
    ledger: Ledger, members: list[LocalAccount], model_id: int, direct: bool
):
    ledger.grant_rights(members[0], model_id, members[1].address, Rights.ALL)  # even a maintainer

    with reverts(
        ledger,
        RegistryNotModelOwner,
        {"modelId": model_id, "account": members[1].address},
        unchanged=lambda: ledger.model(model_id),
    ):
        ledger.set_model_metadata(members[1], model_id, digest("x"), direct=direct)


def test_set_model_metadata_of_unknown_model(ledger: Ledger, owner: LocalAccount):
    with reverts(
        ledger, RegistryUnknownModel, {"modelId": 7}, unchanged=lambda: summary(ledger, owner)
    ):
        ledger.set_model_metadata(owner, 7, digest("x"))


@both_paths
def test_set_read_policy(
    ledger: Ledger, owner: LocalAccount, outsider: LocalAccount, model_id: int, direct: bool
):
    assert ledger.can_read(model_id, outsider.address) is True

    receipt = ledger.set_read_policy(owner, model_id, restricted=True, direct=direct)
    assert emitted(receipt) == [
        ("ReadPolicyChanged", {"modelId": model_id, "restricted": True, "by": owner.address})
    ]
    assert ledger.model(model_id).restricted is True
    assert ledger.can_read(model_id, outsider.address) is False
    assert ledger.can_read(model_id, owner.address) is True

    receipt = ledger.set_read_policy(owner, model_id, restricted=False, direct=direct)
    assert emitted(receipt) == [
        ("ReadPolicyChanged", {"modelId": model_id, "restricted": False, "by": owner.address})
    ]
    assert ledger.model(model_id).restricted is False
    assert ledger.can_read(model_id, outsider.address) is True


def test_set_read_policy_needs_the_owner(
    ledger: Ledger, members: list[LocalAccount], model_id: int
):
    with reverts(
        ledger,
        RegistryNotModelOwner,
        {"modelId": model_id, "account": members[2].address},
        unchanged=lambda: ledger.model(model_id),
    ):
        ledger.set_read_policy(members[2], model_id, restricted=True)


# ---------------------------------------------------------------- rights


@both_paths
def test_grant_and_revoke_rights_report_rights_and_current_mask(
    ledger: Ledger, owner: LocalAccount, holder: LocalAccount, model_id: int, direct: bool
):
    def change(action: str, rights: int) -> ActionReceipt:
        return ledger.act(
            owner,
            action,
            {"modelId": model_id, "account": holder.address, "rights": rights},
            direct=direct,
        )

    def event(name: str, rights: int, current: int) -> tuple[str, dict[str, Any]]:
        return (
            name,
            {
                "modelId": model_id,
                "account": holder.address,
                "rights": rights,
                "current": current,
                "by": owner.address,
            },
        )

    assert ledger.rights_of(model_id, holder.address) == Rights.NONE
    steps = [
        ("GrantRights", 1, event("RightsGranted", 1, 1), Rights.SUBMIT_UPDATES),
        (
            "GrantRights",
            2,
            event("RightsGranted", 2, 3),
            Rights.SUBMIT_UPDATES | Rights.READ_ARTIFACTS,
        ),
        (
            "GrantRights",
            3,
            event("RightsGranted", 3, 3),
            Rights.SUBMIT_UPDATES | Rights.READ_ARTIFACTS,
        ),
        ("RevokeRights", 1, event("RightsRevoked", 1, 2), Rights.READ_ARTIFACTS),
        ("RevokeRights", 4, event("RightsRevoked", 4, 2), Rights.READ_ARTIFACTS),  # not held
        ("GrantRights", 7, event("RightsGranted", 7, 7), Rights.ALL),
        ("RevokeRights", 7, event("RightsRevoked", 7, 0), Rights.NONE),
    ]
    for action, rights, expected_event, expected_mask in steps:
        assert emitted(change(action, rights)) == [expected_event]
        assert ledger.rights_of(model_id, holder.address) == expected_mask

    history = ledger.rights_history(model_id, holder.address)
    assert [(e.name, e.args["rights"], e.args["current"]) for e in history] == [
        (name, args["rights"], args["current"]) for _, _, (name, args), _ in steps
    ]


def test_typed_grant_and_revoke_return_the_current_mask(
    ledger: Ledger, owner: LocalAccount, holder: LocalAccount, model_id: int
):
    assert ledger.grant_rights(owner, model_id, holder.address, Rights.MAINTAIN) == Rights.MAINTAIN
    assert (
        ledger.grant_rights(owner, model_id, holder.address, Rights.READ_ARTIFACTS)
        == Rights.MAINTAIN | Rights.READ_ARTIFACTS
    )
    assert (
        ledger.revoke_rights(owner, model_id, holder.address, Rights.MAINTAIN)
        == Rights.READ_ARTIFACTS
    )


def test_rights_are_per_model_and_per_account(
    ledger: Ledger, owner: LocalAccount, holder: LocalAccount, outsider: LocalAccount, model_id: int
):
    second = ledger.register_model(owner, "second")
    ledger.grant_rights(owner, model_id, holder.address, Rights.SUBMIT_UPDATES)

    assert ledger.rights_of(model_id, holder.address) == Rights.SUBMIT_UPDATES
    assert ledger.rights_of(second, holder.address) == Rights.NONE
    assert ledger.rights_of(model_id, outsider.address) == Rights.NONE


@pytest.mark.parametrize("restricted", [False, True], ids=["open", "restricted"])
def test_access_of_owner_holders_and_outsider(
    ledger: Ledger,
    owner: LocalAccount,
    accounts: list[LocalAccount],
    outsider: LocalAccount,
    restricted: bool,
):
    model_id = ledger.register_model(owner, "access", restricted=restricted)
    submitter, reader, maintainer = accounts[6], accounts[7], accounts[8]
    ledger.grant_rights(owner, model_id, submitter.address, Rights.SUBMIT_UPDATES)
    ledger.grant_rights(owner, model_id, reader.address, Rights.READ_ARTIFACTS)
    ledger.grant_rights(owner, model_id, maintainer.address, Rights.MAINTAIN)
    open_read = not restricted

    expected = {  # account: (rights, can read, can submit updates)
        owner: (Rights.ALL, True, True),
        submitter: (Rights.SUBMIT_UPDATES, open_read, True),
        reader: (Rights.READ_ARTIFACTS, True, False),
        maintainer: (Rights.MAINTAIN, open_read, False),
        outsider: (Rights.NONE, open_read, False),
    }
    for account, (rights, can_read, can_submit) in expected.items():
        assert (
            ledger.rights_of(model_id, account.address),
            ledger.can_read(model_id, account.address),
            ledger.can_submit_updates(model_id, account.address),
        ) == (rights, can_read, can_submit), account.address


def test_revoked_read_right_closes_a_restricted_model(
    ledger: Ledger, owner: LocalAccount, holder: LocalAccount
):
    model_id = ledger.register_model(owner, "closed", restricted=True)
    ledger.grant_rights(
        owner, model_id, holder.address, Rights.READ_ARTIFACTS | Rights.SUBMIT_UPDATES
    )
    assert ledger.can_read(model_id, holder.address) is True

    ledger.revoke_rights(owner, model_id, holder.address, Rights.READ_ARTIFACTS)

    assert ledger.can_read(model_id, holder.address) is False
    assert ledger.can_submit_updates(model_id, holder.address) is True


@pytest.mark.parametrize("rights", [0, 8, 255])
@pytest.mark.parametrize("action", ["GrantRights", "RevokeRights"])
def test_invalid_rights_mask(
    ledger: Ledger,
    owner: LocalAccount,
    holder: LocalAccount,
    model_id: int,
    action: str,
    rights: int,
):
    with reverts(
        ledger,
        RegistryInvalidRights,
        {"rights": rights},
        unchanged=lambda: ledger.rights_of(model_id, holder.address),
    ):
        ledger.act(
            owner, action, {"modelId": model_id, "account": holder.address, "rights": rights}
        )


@pytest.mark.parametrize("action", ["GrantRights", "RevokeRights"])
def test_rights_for_zero_address(ledger: Ledger, owner: LocalAccount, model_id: int, action: str):
    with reverts(ledger, RegistryInvalidAccount, {"account": ZERO_ADDRESS}):
        ledger.act(owner, action, {"modelId": model_id, "account": ZERO_ADDRESS, "rights": 1})


@both_paths
@pytest.mark.parametrize("action", ["GrantRights", "RevokeRights"])
def test_rights_change_needs_the_owner(
    ledger: Ledger,
    owner: LocalAccount,
    members: list[LocalAccount],
    holder: LocalAccount,
    model_id: int,
    action: str,
    direct: bool,
):
    maintainer = members[1]
    ledger.grant_rights(owner, model_id, maintainer.address, Rights.MAINTAIN)
    ledger.grant_rights(owner, model_id, holder.address, Rights.READ_ARTIFACTS)

    with reverts(
        ledger,
        RegistryNotModelOwner,
        {"modelId": model_id, "account": maintainer.address},
        unchanged=lambda: ledger.rights_of(model_id, holder.address),
    ):
        ledger.act(
            maintainer,
            action,
            {"modelId": model_id, "account": holder.address, "rights": 2},
            direct=direct,
        )


def test_rights_on_unknown_model(ledger: Ledger, owner: LocalAccount, holder: LocalAccount):
    with reverts(
        ledger, RegistryUnknownModel, {"modelId": 3}, unchanged=lambda: summary(ledger, owner)
    ):
        ledger.grant_rights(owner, 3, holder.address, Rights.READ_ARTIFACTS)


# ---------------------------------------------------------------- proposing versions


@both_paths
def test_propose_base_version_without_parent(
    ledger: Ledger, owner: LocalAccount, model_id: int, direct: bool
):
    receipt = propose(ledger, owner, model_id, "v1", direct=direct)
    deadline = block_time(ledger.w3, receipt.block_number) + VOTING_PERIOD

    assert emitted(receipt) == [
        (
            "VersionProposed",
            {
                "versionId": 1,
                "modelId": model_id,
                "proposer": owner.address,
                "parentId": 0,
                "kind": VersionKind.BASE,
                "artifactDigest": digest("artifact v1"),
                "metadataDigest": digest("metadata v1"),
                "deadline": deadline,
                "requiredVotes": 2,
                "eligibleVoters": 3,
            },
        )
    ]
    assert ledger.version(1) == VersionRecord(
        version_id=1,
        model_id=model_id,
        parent_id=0,
        kind=VersionKind.BASE,
        proposer=owner.address,
        artifact_digest=digest("artifact v1"),
        metadata_digest=digest("metadata v1"),
        state=State.PROPOSED,
        ballot=Ballot(
            deadline=deadline,
            snapshot_block=receipt.block_number,
            for_votes=0,
            against_votes=0,
            abstain_votes=0,
            required=2,
            eligible=3,
            stored_state=State.PROPOSED,
        ),
        proposed_block=receipt.block_number,
    )
    assert ledger.version_count() == 1
    assert ledger.version_state(1) is State.PROPOSED
    assert ledger.version_ids_of(model_id) == [1]


@pytest.mark.parametrize("kind", list(VersionKind), ids=lambda k: k.name.lower())
def test_propose_version_with_approved_parent(
    ledger: Ledger, owner: LocalAccount, model_id: int, approved_id: int, kind: VersionKind
):
    receipt = propose(ledger, owner, model_id, "child", parent_id=approved_id, kind=kind)

    args = receipt.event("VersionProposed").args
    assert (args["versionId"], args["parentId"], args["kind"]) == (
        approved_id + 1,
        approved_id,
        kind,
    )
    child = ledger.version(approved_id + 1)
    assert (child.parent_id, child.kind, child.state) == (approved_id, kind, State.PROPOSED)
    assert ledger.version_ids_of(model_id) == [approved_id, approved_id + 1]


def test_versions_are_listed_per_model(
    ledger: Ledger, owner: LocalAccount, model_id: int, other_model: tuple[int, int]
):
    other_id, other_version = other_model
    mine = [ledger.propose_version(owner, model_id, digest(f"a{i}")) for i in range(3)]

    assert ledger.version_ids_of(model_id) == mine
    assert ledger.version_ids_of(other_id) == [other_version]
    assert ledger.version_count() == 4


@pytest.mark.parametrize(
    "kind", [VersionKind.AGGREGATE, VersionKind.ACCELERATED], ids=["aggregate", "accelerated"]
)
def test_derived_version_needs_a_parent(
    ledger: Ledger, owner: LocalAccount, model_id: int, kind: VersionKind
):
    with reverts(
        ledger, RegistryMissingParent, {"kind": kind}, unchanged=lambda: summary(ledger, owner)
    ):
        propose(ledger, owner, model_id, "orphan", kind=kind)


def test_parent_of_another_model(
    ledger: Ledger, owner: LocalAccount, model_id: int, other_model: tuple[int, int]
):
    other_id, other_version = other_model
    with reverts(
        ledger,
        RegistryVersionOfOtherModel,
        {"versionId": other_version, "actualModelId": other_id, "modelId": model_id},
        unchanged=lambda: summary(ledger, owner),
    ):
        propose(ledger, owner, model_id, "x", parent_id=other_version, kind=VersionKind.AGGREGATE)


def test_parent_not_approved(ledger: Ledger, owner: LocalAccount, model_id: int, version_id: int):
    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": version_id, "current": State.PROPOSED, "expected": State.APPROVED},
        unchanged=lambda: summary(ledger, owner),
    ):
        propose(ledger, owner, model_id, "x", parent_id=version_id, kind=VersionKind.AGGREGATE)


def test_parent_rejected(
    ledger: Ledger, owner: LocalAccount, members: list[LocalAccount], model_id: int, version_id: int
):
    ledger.cast_vote(members[0], version_id, Support.AGAINST)
    assert ledger.cast_vote(members[1], version_id, Support.AGAINST) is State.REJECTED

    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": version_id, "current": State.REJECTED, "expected": State.APPROVED},
    ):
        propose(ledger, owner, model_id, "x", parent_id=version_id)


def test_parent_whose_window_ended_reads_rejected(
    ledger: Ledger, owner: LocalAccount, model_id: int, version_id: int
):
    increase_time(ledger.w3, VOTING_PERIOD + 1)

    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": version_id, "current": State.REJECTED, "expected": State.APPROVED},
    ):
        propose(ledger, owner, model_id, "x", parent_id=version_id, kind=VersionKind.ACCELERATED)


@pytest.mark.parametrize("parent_id", [2, 99])
def test_unknown_parent(
    ledger: Ledger, owner: LocalAccount, model_id: int, version_id: int, parent_id: int
):
    with reverts(
        ledger,
        RegistryUnknownVersion,
        {"versionId": parent_id},
        unchanged=lambda: summary(ledger, owner),
    ):
        propose(ledger, owner, model_id, "x", parent_id=parent_id, kind=VersionKind.AGGREGATE)


@both_paths
def test_propose_version_rejects_zero_artifact_digest(
    ledger: Ledger, owner: LocalAccount, model_id: int, direct: bool
):
    with reverts(
        ledger, RegistryInvalidDigest, {"digest": ZERO32}, unchanged=lambda: summary(ledger, owner)
    ):
        ledger.propose_version(owner, model_id, ZERO32, direct=direct)


def test_propose_version_of_unknown_model(ledger: Ledger, owner: LocalAccount):
    with reverts(
        ledger, RegistryUnknownModel, {"modelId": 5}, unchanged=lambda: summary(ledger, owner)
    ):
        ledger.propose_version(owner, 5, digest("x"))


@both_paths
@pytest.mark.parametrize("who", ["member", "outsider"])
def test_propose_version_needs_owner_or_maintainer(
    ledger: Ledger,
    members: list[LocalAccount],
    outsider: LocalAccount,
    model_id: int,
    who: str,
    direct: bool,
):
    actor = members[1] if who == "member" else outsider
    ledger.grant_rights(
        members[0], model_id, actor.address, Rights.SUBMIT_UPDATES | Rights.READ_ARTIFACTS
    )

    with reverts(
        ledger,
        RegistryNotMaintainer,
        {"modelId": model_id, "account": actor.address},
        unchanged=lambda: summary(ledger, actor),
    ):
        ledger.propose_version(actor, model_id, digest("x"), direct=direct)


def test_maintainer_proposes_and_moves_aliases(
    ledger: Ledger, owner: LocalAccount, members: list[LocalAccount], model_id: int
):
    maintainer = members[2]
    ledger.grant_rights(owner, model_id, maintainer.address, Rights.MAINTAIN)

    receipt = propose(ledger, maintainer, model_id, "by maintainer")
    version_id = receipt.event("VersionProposed").args["versionId"]
    assert receipt.event("VersionProposed").args["proposer"] == maintainer.address
    assert ledger.version(version_id).proposer == maintainer.address
    approve(ledger, members, version_id)

    receipt = ledger.move_alias(maintainer, model_id, PRODUCTION, version_id)
    assert receipt.event("AliasMoved").args["by"] == maintainer.address
    assert ledger.alias_of(model_id, PRODUCTION) == version_id


def test_revoked_maintain_right_stops_proposals_and_alias_moves(
    ledger: Ledger,
    owner: LocalAccount,
    members: list[LocalAccount],
    model_id: int,
    approved_id: int,
):
    maintainer = members[1]
    ledger.grant_rights(
        owner, model_id, maintainer.address, Rights.MAINTAIN | Rights.SUBMIT_UPDATES
    )
    ledger.propose_version(maintainer, model_id, digest("while allowed"))
    ledger.move_alias(maintainer, model_id, PRODUCTION, approved_id)

    receipt = ledger.act(
        owner, "RevokeRights", {"modelId": model_id, "account": maintainer.address, "rights": 4}
    )
    assert emitted(receipt) == [
        (
            "RightsRevoked",
            {
                "modelId": model_id,
                "account": maintainer.address,
                "rights": 4,
                "current": 1,
                "by": owner.address,
            },
        )
    ]

    not_maintainer = {"modelId": model_id, "account": maintainer.address}
    with reverts(
        ledger, RegistryNotMaintainer, not_maintainer, unchanged=lambda: summary(ledger, maintainer)
    ):
        ledger.propose_version(maintainer, model_id, digest("after revoke"))
    with reverts(
        ledger,
        RegistryNotMaintainer,
        not_maintainer,
        unchanged=lambda: ledger.alias_of(model_id, PRODUCTION),
    ):
        ledger.move_alias(maintainer, model_id, PRODUCTION, 0)
    assert ledger.can_submit_updates(model_id, maintainer.address) is True  # the other right stays


# ---------------------------------------------------------------- votes


@both_paths
def test_votes_reach_quorum_and_approve(
    ledger: Ledger, members: list[LocalAccount], version_id: int, direct: bool
):
    first = ledger.act(
        members[0],
        "CastVote",
        {"versionId": version_id, "support": int(Support.FOR)},
        direct=direct,
    )
    assert emitted(first) == [
        ("VoteCast", {"versionId": version_id, "voter": members[0].address, "support": Support.FOR})
    ]
    assert ledger.version_state(version_id) is State.PROPOSED
    assert ledger.vote_of(version_id, members[0].address) is Support.FOR
    assert ledger.vote_of(version_id, members[1].address) is None

    second = ledger.act(
        members[1],
        "CastVote",
        {"versionId": version_id, "support": int(Support.FOR)},
        direct=direct,
    )
    assert emitted(second) == [
        (
            "VoteCast",
            {"versionId": version_id, "voter": members[1].address, "support": Support.FOR},
        ),
        (
            "VersionStateChanged",
            {"versionId": version_id, "previous": State.PROPOSED, "current": State.APPROVED},
        ),
    ]
    version = ledger.version(version_id)
    assert version.state is State.APPROVED
    assert version.ballot.stored_state is State.APPROVED
    assert (
        version.ballot.for_votes,
        version.ballot.against_votes,
        version.ballot.abstain_votes,
    ) == (2, 0, 0)
    assert [(e.args["voter"], e.args["support"]) for e in ledger.votes(version_id)] == [
        (members[0].address, Support.FOR),
        (members[1].address, Support.FOR),
    ]
    # approval is final even after the window
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    assert ledger.version_state(version_id) is State.APPROVED


def test_one_against_does_not_block_approval(
    ledger: Ledger, members: list[LocalAccount], version_id: int
):
    assert ledger.cast_vote(members[0], version_id, Support.AGAINST) is State.PROPOSED
    assert ledger.cast_vote(members[1], version_id, Support.FOR) is State.PROPOSED
    assert ledger.cast_vote(members[2], version_id, Support.FOR) is State.APPROVED


def test_two_against_of_three_reject_at_once(
    ledger: Ledger, members: list[LocalAccount], version_id: int
):
    assert ledger.cast_vote(members[0], version_id, Support.AGAINST) is State.PROPOSED

    receipt = ledger.act(
        members[1], "CastVote", {"versionId": version_id, "support": int(Support.AGAINST)}
    )
    assert emitted(receipt) == [
        (
            "VoteCast",
            {"versionId": version_id, "voter": members[1].address, "support": Support.AGAINST},
        ),
        (
            "VersionStateChanged",
            {"versionId": version_id, "previous": State.PROPOSED, "current": State.REJECTED},
        ),
    ]
    version = ledger.version(version_id)
    assert (version.state, version.ballot.stored_state) == (State.REJECTED, State.REJECTED)
    assert version.ballot.against_votes == 2


def test_abstentions_count_as_cast_without_approving(
    ledger: Ledger, members: list[LocalAccount], version_id: int
):
    assert ledger.cast_vote(members[0], version_id, Support.ABSTAIN) is State.PROPOSED
    assert ledger.cast_vote(members[1], version_id, Support.FOR) is State.PROPOSED
    # For 1 + nobody left to vote < 2 required
    assert ledger.cast_vote(members[2], version_id, Support.AGAINST) is State.REJECTED
    ballot = ledger.version(version_id).ballot
    assert (ballot.for_votes, ballot.against_votes, ballot.abstain_votes) == (1, 1, 1)
    assert ledger.vote_of(version_id, members[0].address) is Support.ABSTAIN


@pytest.mark.parametrize(
    ("votes", "state"),
    [
        ((Support.FOR, Support.FOR), State.APPROVED),
        ((Support.AGAINST, Support.AGAINST), State.REJECTED),
    ],
    ids=["approved", "rejected"],
)
def test_vote_on_decided_version(
    ledger: Ledger,
    members: list[LocalAccount],
    version_id: int,
    votes: tuple[Support, Support],
    state: State,
):
    for voter, support in zip(members, votes, strict=False):
        ledger.cast_vote(voter, version_id, support)

    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": version_id, "current": state, "expected": State.PROPOSED},
        unchanged=lambda: ledger.version(version_id),
    ):
        ledger.cast_vote(members[2], version_id, Support.FOR)
    assert ledger.vote_of(version_id, members[2].address) is None


@both_paths
def test_double_vote(ledger: Ledger, members: list[LocalAccount], version_id: int, direct: bool):
    ledger.cast_vote(members[0], version_id, Support.FOR, direct=direct)

    for support in Support:
        with reverts(
            ledger,
            RegistryAlreadyVoted,
            {"versionId": version_id, "voter": members[0].address},
            unchanged=lambda: (ledger.version(version_id), summary(ledger, members[0])),
        ):
            ledger.cast_vote(members[0], version_id, support, direct=direct)
    assert ledger.vote_of(version_id, members[0].address) is Support.FOR


@both_paths
def test_vote_after_the_window(
    ledger: Ledger, members: list[LocalAccount], version_id: int, direct: bool
):
    deadline = ledger.version(version_id).ballot.deadline
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    now = block_time(ledger.w3)
    assert now > deadline

    with reverts(
        ledger,
        RegistryVotingClosed,
        {"versionId": version_id, "deadline": deadline, "timestamp": now},
        unchanged=lambda: (ledger.version(version_id), summary(ledger, members[0])),
    ):
        ledger.cast_vote(members[0], version_id, Support.FOR, direct=direct)


def test_window_includes_its_deadline(ledger: Ledger, members: list[LocalAccount], version_id: int):
    deadline = ledger.version(version_id).ballot.deadline
    set_next_block_time(ledger.w3, deadline)

    receipt = ledger.act(
        members[0], "CastVote", {"versionId": version_id, "support": 1}, direct=True
    )

    assert block_time(ledger.w3, receipt.block_number) == deadline
    mine_at(ledger.w3, deadline + 1)
    with reverts(
        ledger,
        RegistryVotingClosed,
        {"versionId": version_id, "deadline": deadline, "timestamp": deadline + 1},
    ):
        ledger.cast_vote(members[1], version_id, Support.FOR, direct=True)


@both_paths
def test_vote_by_non_member(ledger: Ledger, outsider: LocalAccount, version_id: int, direct: bool):
    with reverts(
        ledger,
        RegistryNotMember,
        {"account": outsider.address},
        unchanged=lambda: (ledger.version(version_id), summary(ledger, outsider)),
    ):
        ledger.cast_vote(outsider, version_id, Support.FOR, direct=direct)


def test_vote_by_member_who_resigned(ledger: Ledger, members: list[LocalAccount], version_id: int):
    ledger.resign(members[2])

    with reverts(ledger, RegistryNotMember, {"account": members[2].address}):
        ledger.cast_vote(members[2], version_id, Support.FOR)


@both_paths
def test_vote_by_member_who_joined_after_the_proposal(
    ledger: Ledger,
    members: list[LocalAccount],
    newcomer: LocalAccount,
    version_id: int,
    direct: bool,
):
    joined = pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=newcomer.address)
    assert joined.event("MemberAdded").args["account"] == newcomer.address
    since = ledger.member_since(newcomer.address)
    snapshot = ledger.version(version_id).ballot.snapshot_block
    assert since == joined.block_number > snapshot

    with reverts(
        ledger,
        RegistryNotEligible,
        {
            "versionId": version_id,
            "voter": newcomer.address,
            "memberSince": since,
            "snapshotBlock": snapshot,
        },
        unchanged=lambda: (ledger.version(version_id), summary(ledger, newcomer)),
    ):
        ledger.cast_vote(newcomer, version_id, Support.FOR, direct=direct)


def test_new_member_votes_on_versions_proposed_after_joining(
    ledger: Ledger,
    owner: LocalAccount,
    members: list[LocalAccount],
    newcomer: LocalAccount,
    model_id: int,
):
    pass_change(ledger, members, ChangeKind.ADD_MEMBER, account=newcomer.address)

    receipt = propose(ledger, owner, model_id, "after join")
    args = receipt.event("VersionProposed").args
    assert (args["requiredVotes"], args["eligibleVoters"]) == (3, 4)  # 5001 bps of 4 members
    version_id = args["versionId"]
    assert ledger.cast_vote(newcomer, version_id, Support.FOR) is State.PROPOSED
    assert ledger.cast_vote(members[0], version_id, Support.FOR) is State.PROPOSED
    assert ledger.cast_vote(members[1], version_id, Support.FOR) is State.APPROVED


@pytest.mark.parametrize("version_id", [0, 1, 42])
def test_vote_on_unknown_version(ledger: Ledger, members: list[LocalAccount], version_id: int):
    with reverts(ledger, RegistryUnknownVersion, {"versionId": version_id}):
        ledger.cast_vote(members[0], version_id, Support.FOR)
    with reverts(ledger, RegistryUnknownVersion, {"versionId": version_id}):
        ledger.version(version_id)
    with reverts(ledger, RegistryUnknownVersion, {"versionId": version_id}):
        ledger.version_state(version_id)


# ---------------------------------------------------------------- the end of the window


def test_window_end_rejects_and_finalize_records_it(
    ledger: Ledger, members: list[LocalAccount], version_id: int
):
    ledger.cast_vote(members[0], version_id, Support.FOR)
    increase_time(ledger.w3, VOTING_PERIOD + 1)

    # read as Rejected at once; stored as Proposed until someone records it
    version = ledger.version(version_id)
    assert (version.state, version.ballot.stored_state) == (State.REJECTED, State.PROPOSED)
    assert ledger.version_state(version_id) is State.REJECTED

    receipt = ledger.finalize_version(version_id)

    assert emitted(receipt) == [
        (
            "VersionStateChanged",
            {"versionId": version_id, "previous": State.PROPOSED, "current": State.REJECTED},
        )
    ]
    version = ledger.version(version_id)
    assert (version.state, version.ballot.stored_state) == (State.REJECTED, State.REJECTED)


def test_finalize_while_open(ledger: Ledger, version_id: int):
    deadline = ledger.version(version_id).ballot.deadline
    with reverts(
        ledger,
        RegistryVotingOpen,
        {"versionId": version_id, "deadline": deadline},
        unchanged=lambda: ledger.version(version_id),
    ):
        ledger.finalize_version(version_id)


def test_finalize_approved_version(ledger: Ledger, approved_id: int):
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": approved_id, "current": State.APPROVED, "expected": State.PROPOSED},
        unchanged=lambda: ledger.version(approved_id),
    ):
        ledger.finalize_version(approved_id)


def test_finalize_twice(ledger: Ledger, version_id: int):
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    ledger.finalize_version(version_id)

    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": version_id, "current": State.REJECTED, "expected": State.PROPOSED},
    ):
        ledger.finalize_version(version_id)


def test_finalize_unknown_version(ledger: Ledger):
    with reverts(ledger, RegistryUnknownVersion, {"versionId": 9}):
        ledger.finalize_version(9)


# ---------------------------------------------------------------- aliases


@both_paths
def test_alias_moves_clears_and_has_a_history(
    ledger: Ledger,
    owner: LocalAccount,
    members: list[LocalAccount],
    model_id: int,
    approved_id: int,
    direct: bool,
):
    v1 = approved_id
    v2 = (
        propose(ledger, owner, model_id, "v2", parent_id=v1, kind=VersionKind.AGGREGATE)
        .event("VersionProposed")
        .args["versionId"]
    )
    approve(ledger, members, v2)
    name = alias_to_bytes32(PRODUCTION)

    def moved(version_id: int, previous: int) -> list[tuple[str, dict[str, Any]]]:
        return [
            (
                "AliasMoved",
                {
                    "modelId": model_id,
                    "aliasName": name,
                    "versionId": version_id,
                    "previousVersionId": previous,
                    "by": owner.address,
                },
            )
        ]

    assert ledger.alias_of(model_id, PRODUCTION) is None
    first = ledger.move_alias(owner, model_id, PRODUCTION, v1, direct=direct)
    assert emitted(first) == moved(v1, 0)
    assert ledger.alias_of(model_id, PRODUCTION) == v1

    second = ledger.move_alias(owner, model_id, PRODUCTION, v2, direct=direct)
    assert emitted(second) == moved(v2, v1)
    assert ledger.alias_of(model_id, PRODUCTION) == v2

    cleared = ledger.move_alias(owner, model_id, PRODUCTION, 0, direct=direct)
    assert emitted(cleared) == moved(0, v2)
    assert ledger.alias_of(model_id, PRODUCTION) is None
    assert ledger.alias_of(model_id, "staging") is None

    history = ledger.alias_history(model_id, PRODUCTION)
    assert [e.args for e in history] == [emitted(r)[0][1] for r in (first, second, cleared)]
    assert [e.block_number for e in history] == [r.block_number for r in (first, second, cleared)]
    assert all(e.block_timestamp == block_time(ledger.w3, e.block_number) for e in history)

    # "which version was production at block B", from events alone, agrees with the contract
    expected_at = {
        first.block_number - 1: None,
        first.block_number: v1,
        second.block_number - 1: v1,
        second.block_number: v2,
        cleared.block_number: None,
    }
    for block, expected in expected_at.items():
        assert ledger.alias_at(model_id, PRODUCTION, block) == expected, block
        on_chain = ledger.registry.functions.aliasOf(model_id, name).call(block_identifier=block)
        assert (on_chain or None) == expected, block


def test_aliases_are_per_model_and_per_name(
    ledger: Ledger,
    owner: LocalAccount,
    members: list[LocalAccount],
    model_id: int,
    approved_id: int,
    other_model: tuple[int, int],
):
    other_id, other_version = other_model
    ledger.move_alias(owner, model_id, PRODUCTION, approved_id)
    ledger.move_alias(owner, model_id, "staging", approved_id)
    ledger.move_alias(members[1], other_id, PRODUCTION, other_version)

    ledger.move_alias(owner, model_id, "staging", 0)

    assert ledger.alias_of(model_id, PRODUCTION) == approved_id
    assert ledger.alias_of(model_id, "staging") is None
    assert ledger.alias_of(other_id, PRODUCTION) == other_version
    assert [e.args["versionId"] for e in ledger.alias_history(model_id, "staging")] == [
        approved_id,
        0,
    ]
    assert [e.args["versionId"] for e in ledger.alias_history(other_id, PRODUCTION)] == [
        other_version
    ]


@both_paths
def test_alias_to_unapproved_version(
    ledger: Ledger, owner: LocalAccount, model_id: int, approved_id: int, direct: bool
):
    ledger.move_alias(owner, model_id, PRODUCTION, approved_id)
    proposed = ledger.propose_version(owner, model_id, digest("candidate"))

    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": proposed, "current": State.PROPOSED, "expected": State.APPROVED},
        unchanged=lambda: (ledger.alias_of(model_id, PRODUCTION), summary(ledger, owner)),
    ):
        ledger.move_alias(owner, model_id, PRODUCTION, proposed, direct=direct)
    assert ledger.alias_of(model_id, PRODUCTION) == approved_id


def test_alias_to_version_rejected_by_window(
    ledger: Ledger, owner: LocalAccount, model_id: int, version_id: int
):
    increase_time(ledger.w3, VOTING_PERIOD + 1)
    with reverts(
        ledger,
        RegistryUnexpectedState,
        {"versionId": version_id, "current": State.REJECTED, "expected": State.APPROVED},
    ):
        ledger.move_alias(owner, model_id, PRODUCTION, version_id)


def test_alias_to_version_of_another_model(
    ledger: Ledger, owner: LocalAccount, model_id: int, other_model: tuple[int, int]
):
    other_id, other_version = other_model
    with reverts(
        ledger,
        RegistryVersionOfOtherModel,
        {"versionId": other_version, "actualModelId": other_id, "modelId": model_id},
        unchanged=lambda: ledger.alias_of(model_id, PRODUCTION),
    ):
        ledger.move_alias(owner, model_id, PRODUCTION, other_version)


@both_paths
def test_zero_alias_name(
    ledger: Ledger, owner: LocalAccount, model_id: int, approved_id: int, direct: bool
):
    with reverts(
        ledger,
        RegistryInvalidAlias,
        {"aliasName": ZERO32},
        unchanged=lambda: summary(ledger, owner),
    ):
        ledger.act(
            owner,
            "MoveAlias",
            {"modelId": model_id, "aliasName": ZERO32, "versionId": approved_id},
            direct=direct,
        )


def test_alias_to_unknown_version(ledger: Ledger, owner: LocalAccount, model_id: int):
    with reverts(ledger, RegistryUnknownVersion, {"versionId": 77}):
        ledger.move_alias(owner, model_id, PRODUCTION, 77)


def test_alias_of_unknown_model(ledger: Ledger, owner: LocalAccount):
    with reverts(ledger, RegistryUnknownModel, {"modelId": 4}):
        ledger.move_alias(owner, 4, PRODUCTION, 0)


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_alias_move_needs_owner_or_maintainer(
    ledger: Ledger,
    owner: LocalAccount,
    members: list[LocalAccount],
    outsider: LocalAccount,
    model_id: int,
    approved_id: int,
    who: str,
):
    actor = members[1] if who == "member" else outsider
    ledger.move_alias(owner, model_id, PRODUCTION, approved_id)

    with reverts(
        ledger,
        RegistryNotMaintainer,
        {"modelId": model_id, "account": actor.address},
        unchanged=lambda: ledger.alias_of(model_id, PRODUCTION),
    ):
        ledger.move_alias(actor, model_id, PRODUCTION, 0)
