// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ballots} from "../utils/Ballots.sol";
import {ISignedActions} from "./ISignedActions.sol";

/**
 * @title IModelRegistry
 * @notice Models, their versions, the members' votes on versions, named aliases and per-model
 * access rights.
 *
 * - A consortium member registers a model under a unique name and becomes its owner. The owner
 *   hands the model over in two steps: it names a pending owner, who accepts (like OpenZeppelin
 *   `Ownable2Step`), so a model cannot be handed to a mistyped address or to an account whose
 *   holder cannot act.
 * - The owner, or an account holding the Maintain right on the model, proposes versions. A
 *   version records the sha2-256 digest inside its artifact's CID, its parent, its kind and a
 *   metadata digest (the detail lives in the content store); none of these ever changes.
 * - Members vote For, Against or Abstain within the voting window (see {Ballots} for the rules,
 *   {IConsortium} for the quorum). Proposed -> Approved | Rejected.
 * - The owner or a maintainer moves named aliases (`production`, `staging`, ...) to Approved
 *   versions of the model; every move is an {AliasMoved} event.
 * - The owner grants and revokes rights per (model, account): SubmitUpdates (1), ReadArtifacts
 *   (2), Maintain (4); a model is open-read or restricted. The owner holds every right.
 */
interface IModelRegistry is ISignedActions {
    enum VersionKind {
        Base,
        Aggregate,
        Accelerated
    }

    struct Model {
        address owner;
        bool restricted; // artifacts readable only by the owner and ReadArtifacts holders
        bytes32 metadataDigest;
        string name;
        address pendingOwner; // named by transferModelOwnership until accepted or cancelled; 0 if none
    }

    struct Version {
        address proposer;
        uint40 modelId;
        uint40 parentId; // 0 when the version has no parent
        VersionKind kind;
        Ballots.Ballot ballot; // ballot.status is the version's stored state
        bytes32 artifactDigest; // sha2-256 digest inside the artifact's CID
        bytes32 metadataDigest;
    }

    // ---------------------------------------------------------------- errors

    error RegistryUnknownModel(uint256 modelId);
    error RegistryUnknownVersion(uint256 versionId);
    /// @notice Names are 1..64 characters of a-z, 0-9, '.', '_' and '-'.
    error RegistryInvalidName(string name);
    error RegistryDuplicateName(string name, uint256 existingModelId);
    /// @notice Only consortium members may do this.
    error RegistryNotMember(address account);
    error RegistryNotModelOwner(uint256 modelId, address account);
    /// @notice Only the model's pending owner may accept it; `pendingOwner` is 0 when no transfer is pending.
    error RegistryNotPendingOwner(uint256 modelId, address account, address pendingOwner);
    /// @notice `account` already owns the model.
    error RegistryAlreadyOwner(uint256 modelId, address account);
    /// @notice There is no pending transfer of the model to cancel.
    error RegistryNoPendingTransfer(uint256 modelId);
    /// @notice Only the owner or a holder of the Maintain right may do this.
    error RegistryNotMaintainer(uint256 modelId, address account);
    error RegistryInvalidAccount(address account);
    error RegistryInvalidDigest(bytes32 digest);
    /// @notice Rights are a bit mask of SubmitUpdates (1), ReadArtifacts (2), Maintain (4), not 0.
    error RegistryInvalidRights(uint256 rights);
    /// @notice Aggregate and Accelerated versions need a parent.
    error RegistryMissingParent(VersionKind kind);
    /// @notice The version `versionId` belongs to model `actualModelId`, not to `modelId`.
    error RegistryVersionOfOtherModel(uint256 versionId, uint256 actualModelId, uint256 modelId);
    error RegistryUnexpectedState(uint256 versionId, Ballots.Status current, Ballots.Status expected);
    error RegistryVotingClosed(uint256 versionId, uint256 deadline, uint256 timestamp);
    error RegistryVotingOpen(uint256 versionId, uint256 deadline);
    error RegistryAlreadyVoted(uint256 versionId, address voter);
    /// @notice `voter` joined at or after the version's snapshot block and may not vote on it.
    error RegistryNotEligible(uint256 versionId, address voter, uint256 memberSince, uint256 snapshotBlock);
    error RegistryInvalidAlias(bytes32 aliasName);
    /// @notice Only the rounds contract (see {rounds}) may record a round's aggregate.
    error RegistryNotRoundsContract(address caller);

    // ---------------------------------------------------------------- events

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        string name,
        bytes32 metadataDigest,
        bool restricted
    );
    event ModelMetadataChanged(uint256 indexed modelId, bytes32 previousDigest, bytes32 metadataDigest, address by);
    /// @notice The owner named `newOwner` as pending owner; `newOwner` 0 cancels a pending transfer.
    event ModelOwnershipTransferStarted(
        uint256 indexed modelId,
        address indexed previousOwner,
        address indexed newOwner
    );
    /// @notice The pending owner accepted the model; no transfer is pending any more.
    event ModelOwnershipTransferred(uint256 indexed modelId, address indexed previousOwner, address indexed newOwner);
    event ReadPolicyChanged(uint256 indexed modelId, bool restricted, address by);
    event VersionProposed(
        uint256 indexed versionId,
        uint256 indexed modelId,
        address indexed proposer,
        uint256 parentId,
        VersionKind kind,
        bytes32 artifactDigest,
        bytes32 metadataDigest,
        uint256 deadline,
        uint256 requiredVotes,
        uint256 eligibleVoters
    );
    event VoteCast(uint256 indexed versionId, address indexed voter, Ballots.Support support);
    event VersionStateChanged(uint256 indexed versionId, Ballots.Status previous, Ballots.Status current);
    event AliasMoved(
        uint256 indexed modelId,
        bytes32 indexed aliasName,
        uint256 indexed versionId,
        uint256 previousVersionId,
        address by
    );
    event RightsGranted(uint256 indexed modelId, address indexed account, uint8 rights, uint8 current, address by);
    event RightsRevoked(uint256 indexed modelId, address indexed account, uint8 rights, uint8 current, address by);

    // ---------------------------------------------------------------- actions
    // Each action has a `...BySig` twin: same arguments, then (actor, nonce, deadline, signature),
    // signed as the EIP-712 struct named after the action (see docs/ARCHITECTURE.md).

    /// @notice Register a model owned by the caller, who must be a member.
    function registerModel(string calldata name, bytes32 metadataDigest, bool restricted)
        external
        returns (uint256 modelId);

    function registerModelBySig(
        string calldata name,
        bytes32 metadataDigest,
        bool restricted,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 modelId);

    /// @notice Replace the model's metadata digest (owner only).
    function setModelMetadata(uint256 modelId, bytes32 metadataDigest) external;

    function setModelMetadataBySig(
        uint256 modelId,
        bytes32 metadataDigest,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Start handing the model to `newOwner`, who becomes its pending owner until it calls
    /// {acceptModelOwnership} (owner only). Naming another account replaces a pending transfer;
    /// `newOwner` 0 cancels it. The owner keeps every right until the transfer is accepted.
    function transferModelOwnership(uint256 modelId, address newOwner) external;

    function transferModelOwnershipBySig(
        uint256 modelId,
        address newOwner,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Take over the model whose pending owner the caller is; the transfer completes.
    function acceptModelOwnership(uint256 modelId) external;

    function acceptModelOwnershipBySig(
        uint256 modelId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Make the model's artifacts open to all or restricted to read-right holders (owner only).
    function setReadPolicy(uint256 modelId, bool restricted) external;

    function setReadPolicyBySig(
        uint256 modelId,
        bool restricted,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Add `rights` (a bit mask) to what `account` holds on the model (owner only).
    function grantRights(uint256 modelId, address account, uint8 rights) external;

    function grantRightsBySig(
        uint256 modelId,
        address account,
        uint8 rights,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Remove `rights` (a bit mask) from what `account` holds on the model (owner only).
    function revokeRights(uint256 modelId, address account, uint8 rights) external;

    function revokeRightsBySig(
        uint256 modelId,
        address account,
        uint8 rights,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Propose a version of the model (owner or maintainer). `parentId` 0 means none; a
    /// parent must be an Approved version of the same model.
    function proposeVersion(
        uint256 modelId,
        uint256 parentId,
        VersionKind kind,
        bytes32 artifactDigest,
        bytes32 metadataDigest
    ) external returns (uint256 versionId);

    function proposeVersionBySig(
        uint256 modelId,
        uint256 parentId,
        VersionKind kind,
        bytes32 artifactDigest,
        bytes32 metadataDigest,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 versionId);

    /// @notice Vote on a proposed version (members who joined before the proposal).
    function castVote(uint256 versionId, Ballots.Support support) external;

    function castVoteBySig(
        uint256 versionId,
        Ballots.Support support,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Point `aliasName` of the model at an Approved version of it, or clear it with 0
    /// (owner or maintainer).
    function moveAlias(uint256 modelId, bytes32 aliasName, uint256 versionId) external;

    function moveAliasBySig(
        uint256 modelId,
        bytes32 aliasName,
        uint256 versionId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Record that a version's window ended without approval. Anyone may call it.
    function finalizeVersion(uint256 versionId) external;

    /// @notice Propose the aggregate of a finalized federated round as a version of kind
    /// Aggregate whose parent is the round's base, proposed by `proposer` (the account that
    /// finalized the round, which must be the owner or a maintainer), under the same rules and
    /// ballot as {proposeVersion}. Callable only by the rounds contract ({rounds}), which checks
    /// the round and signs nothing itself: the finalizing account signed `FinalizeRound` there,
    /// so this function has no `...BySig` twin.
    function proposeRoundAggregate(
        uint256 modelId,
        uint256 baseVersionId,
        bytes32 artifactDigest,
        bytes32 metadataDigest,
        address proposer
    ) external returns (uint256 versionId);

    // ---------------------------------------------------------------- views

    function consortium() external view returns (address);

    /// @notice The {IFederatedRounds} contract this registry deployed in its constructor: the
    /// only account that may call {proposeRoundAggregate}.
    function rounds() external view returns (address);

    function modelCount() external view returns (uint256);

    function model(uint256 modelId) external view returns (Model memory);

    /// @notice The account the model is being handed to, 0 if no transfer is pending.
    function pendingOwnerOf(uint256 modelId) external view returns (address);

    /// @notice The id of the model with this name, 0 if none.
    function modelIdByName(string calldata name) external view returns (uint256);

    function versionCount() external view returns (uint256);

    function version(uint256 versionId) external view returns (Version memory);

    /// @notice The version's state, Rejected once its window ended without approval.
    function versionState(uint256 versionId) external view returns (Ballots.Status);

    /// @notice 0 if `voter` has not voted on the version, else 1 + its Support value.
    function voteOf(uint256 versionId, address voter) external view returns (uint8);

    /// @notice The version `aliasName` points at, 0 if unset.
    function aliasOf(uint256 modelId, bytes32 aliasName) external view returns (uint256);

    /// @notice The rights `account` holds on the model as a bit mask (the owner holds all).
    function rightsOf(uint256 modelId, address account) external view returns (uint8);

    /// @notice Whether `account` may read the model's artifacts.
    function canRead(uint256 modelId, address account) external view returns (bool);

    /// @notice Whether `account` may submit federated updates for the model.
    function canSubmitUpdates(uint256 modelId, address account) external view returns (bool);
}
