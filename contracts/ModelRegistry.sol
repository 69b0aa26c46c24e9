// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {FederatedRounds} from "./FederatedRounds.sol";
import {IConsortium} from "./interfaces/IConsortium.sol";
import {IFederatedRounds} from "./interfaces/IFederatedRounds.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {Ballots} from "./utils/Ballots.sol";
import {SignedActions} from "./utils/SignedActions.sol";

/**
 * @title ModelRegistry
 * @notice Models, versions, votes, aliases and access rights. See {IModelRegistry}.
 * @dev Membership, quorum and voting period are read from the {IConsortium} given at deployment.
 * The constructor deploys the {FederatedRounds} contract of this registry (no admin key wires the
 * two together); only that contract may record a round's aggregate ({proposeRoundAggregate}).
 */
contract ModelRegistry is IModelRegistry, SignedActions {
    using Ballots for Ballots.Ballot;

    uint8 public constant RIGHT_SUBMIT_UPDATES = 1;
    uint8 public constant RIGHT_READ_ARTIFACTS = 2;
    uint8 public constant RIGHT_MAINTAIN = 4;
    uint8 private constant _ALL_RIGHTS = 7;
    uint256 private constant _MAX_NAME_LENGTH = 64;

    bytes32 private constant _REGISTER_MODEL_TYPEHASH = keccak256(
        "RegisterModel(string name,bytes32 metadataDigest,bool restricted,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _SET_MODEL_METADATA_TYPEHASH = keccak256(
        "SetModelMetadata(uint256 modelId,bytes32 metadataDigest,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _TRANSFER_MODEL_OWNERSHIP_TYPEHASH = keccak256(
        "TransferModelOwnership(uint256 modelId,address newOwner,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _ACCEPT_MODEL_OWNERSHIP_TYPEHASH =
        keccak256("AcceptModelOwnership(uint256 modelId,address actor,uint256 nonce,uint256 deadline)");
    bytes32 private constant _SET_READ_POLICY_TYPEHASH = keccak256(
        "SetReadPolicy(uint256 modelId,bool restricted,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _GRANT_RIGHTS_TYPEHASH = keccak256(
        "GrantRights(uint256 modelId,address account,uint8 rights,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _REVOKE_RIGHTS_TYPEHASH = keccak256(
        "RevokeRights(uint256 modelId,address account,uint8 rights,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _PROPOSE_VERSION_TYPEHASH = keccak256(
        "ProposeVersion(uint256 modelId,uint256 parentId,uint8 kind,bytes32 artifactDigest,bytes32 metadataDigest,"
        "address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _CAST_VOTE_TYPEHASH =
        keccak256("CastVote(uint256 versionId,uint8 support,address actor,uint256 nonce,uint256 deadline)");
    bytes32 private constant _MOVE_ALIAS_TYPEHASH = keccak256(
        "MoveAlias(uint256 modelId,bytes32 aliasName,uint256 versionId,address actor,uint256 nonce,uint256 deadline)"
    );

    IConsortium private immutable _consortium;
    IFederatedRounds private immutable _rounds;

    Model[] private _models; // model id = index + 1
    mapping(bytes32 nameHash => uint256 modelId) private _modelIdByName;
    Version[] private _versions; // version id = index + 1
    mapping(uint256 versionId => mapping(address voter => uint8)) private _votes;
    mapping(uint256 modelId => mapping(bytes32 aliasName => uint256 versionId)) private _aliases;
    mapping(uint256 modelId => mapping(address account => uint8)) private _rights;

    constructor(IConsortium consortium_) SignedActions("GovLedger ModelRegistry") {
        _consortium = consortium_;
        _rounds = new FederatedRounds(this);
    }

    // ---------------------------------------------------------------- models

    /// @inheritdoc IModelRegistry
    function registerModel(string calldata name, bytes32 metadataDigest, bool restricted) external returns (uint256) {
        return _registerModel(msg.sender, name, metadataDigest, restricted);
    }

    /// @inheritdoc IModelRegistry
    function registerModelBySig(
        string calldata name,
        bytes32 metadataDigest,
        bool restricted,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256) {
        bytes32 structHash = keccak256(
            abi.encode(
                _REGISTER_MODEL_TYPEHASH, keccak256(bytes(name)), metadataDigest, restricted, actor, nonce, deadline
            )
        );
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        return _registerModel(actor, name, metadataDigest, restricted);
    }

    /// @inheritdoc IModelRegistry
    function setModelMetadata(uint256 modelId, bytes32 metadataDigest) external {
        _setModelMetadata(msg.sender, modelId, metadataDigest);
    }

    /// @inheritdoc IModelRegistry
    function setModelMetadataBySig(
        uint256 modelId,
        bytes32 metadataDigest,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(_SET_MODEL_METADATA_TYPEHASH, modelId, metadataDigest, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _setModelMetadata(actor, modelId, metadataDigest);
    }

    /// @inheritdoc IModelRegistry
    function transferModelOwnership(uint256 modelId, address newOwner) external {
        _transferModelOwnership(msg.sender, modelId, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function transferModelOwnershipBySig(
        uint256 modelId,
        address newOwner,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(_TRANSFER_MODEL_OWNERSHIP_TYPEHASH, modelId, newOwner, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _transferModelOwnership(actor, modelId, newOwner);
    }

    /// @inheritdoc IModelRegistry
    function acceptModelOwnership(uint256 modelId) external {
        _acceptModelOwnership(msg.sender, modelId);
    }

    /// @inheritdoc IModelRegistry
    function acceptModelOwnershipBySig(
        uint256 modelId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(_ACCEPT_MODEL_OWNERSHIP_TYPEHASH, modelId, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _acceptModelOwnership(actor, modelId);
    }

    /// @inheritdoc IModelRegistry
    function setReadPolicy(uint256 modelId, bool restricted) external {
        _setReadPolicy(msg.sender, modelId, restricted);
    }

    /// @inheritdoc IModelRegistry
    function setReadPolicyBySig(
        uint256 modelId,
        bool restricted,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(_SET_READ_POLICY_TYPEHASH, modelId, restricted, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _setReadPolicy(actor, modelId, restricted);
    }

    // ---------------------------------------------------------------- rights

    /// @inheritdoc IModelRegistry
    function grantRights(uint256 modelId, address account, uint8 rights) external {
        _changeRights(msg.sender, modelId, account, rights, true);
    }

    /// @inheritdoc IModelRegistry
    function grantRightsBySig(
        uint256 modelId,
        address account,
        uint8 rights,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(_GRANT_RIGHTS_TYPEHASH, modelId, account, rights, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _changeRights(actor, modelId, account, rights, true);
    }

    /// @inheritdoc IModelRegistry
    function revokeRights(uint256 modelId, address account, uint8 rights) external {
        _changeRights(msg.sender, modelId, account, rights, false);
    }

    /// @inheritdoc IModelRegistry
    function revokeRightsBySig(
        uint256 modelId,
        address account,
        uint8 rights,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(_REVOKE_RIGHTS_TYPEHASH, modelId, account, rights, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _changeRights(actor, modelId, account, rights, false);
    }

    // ---------------------------------------------------------------- versions and votes

    /// @inheritdoc IModelRegistry
    function proposeVersion(
        uint256 modelId,
        uint256 parentId,
        VersionKind kind,
        bytes32 artifactDigest,
        bytes32 metadataDigest
    ) external returns (uint256) {
        return _proposeVersion(msg.sender, modelId, parentId, kind, artifactDigest, metadataDigest);
    }

    /// @inheritdoc IModelRegistry
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
    ) external returns (uint256) {
        bytes32 structHash = keccak256(
            abi.encode(
                _PROPOSE_VERSION_TYPEHASH,
                modelId,
                parentId,
                kind,
                artifactDigest,
                metadataDigest,
                actor,
                nonce,
                deadline
            )
        );
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        return _proposeVersion(actor, modelId, parentId, kind, artifactDigest, metadataDigest);
    }

    /// @inheritdoc IModelRegistry
    function castVote(uint256 versionId, Ballots.Support support) external {
        _castVote(msg.sender, versionId, support);
    }

    /// @inheritdoc IModelRegistry
    function castVoteBySig(
        uint256 versionId,
        Ballots.Support support,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(_CAST_VOTE_TYPEHASH, versionId, support, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _castVote(actor, versionId, support);
    }

    /// @inheritdoc IModelRegistry
    function finalizeVersion(uint256 versionId) external {
        Ballots.Ballot memory ballot = _version(versionId).ballot;
        if (ballot.status != Ballots.Status.Proposed) {
            revert RegistryUnexpectedState(versionId, ballot.status, Ballots.Status.Proposed);
        }
        if (!ballot.isClosed()) {
            revert RegistryVotingOpen(versionId, ballot.deadline);
        }
        _setVersionState(versionId, Ballots.Status.Rejected);
    }

    /// @inheritdoc IModelRegistry
    function proposeRoundAggregate(
        uint256 modelId,
        uint256 baseVersionId,
        bytes32 artifactDigest,
        bytes32 metadataDigest,
        address proposer
    ) external returns (uint256) {
        if (msg.sender != address(_rounds)) {
            revert RegistryNotRoundsContract(msg.sender);
        }
        return _proposeVersion(proposer, modelId, baseVersionId, VersionKind.Aggregate, artifactDigest, metadataDigest);
    }

    // ---------------------------------------------------------------- aliases

    /// @inheritdoc IModelRegistry
    function moveAlias(uint256 modelId, bytes32 aliasName, uint256 versionId) external {
        _moveAlias(msg.sender, modelId, aliasName, versionId);
    }

    /// @inheritdoc IModelRegistry
    function moveAliasBySig(
        uint256 modelId,
        bytes32 aliasName,
        uint256 versionId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash =
            keccak256(abi.encode(_MOVE_ALIAS_TYPEHASH, modelId, aliasName, versionId, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _moveAlias(actor, modelId, aliasName, versionId);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IModelRegistry
    function consortium() external view returns (address) {
        return address(_consortium);
    }

    /// @inheritdoc IModelRegistry
    function rounds() external view returns (address) {
        return address(_rounds);
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _models.length;
    }

    /// @inheritdoc IModelRegistry
    function model(uint256 modelId) external view returns (Model memory) {
        return _model(modelId);
    }

    /// @inheritdoc IModelRegistry
    function pendingOwnerOf(uint256 modelId) external view returns (address) {
        return _model(modelId).pendingOwner;
    }

    /// @inheritdoc IModelRegistry
    function modelIdByName(string calldata name) external view returns (uint256) {
        return _modelIdByName[keccak256(bytes(name))];
    }

    /// @inheritdoc IModelRegistry
    function versionCount() external view returns (uint256) {
        return _versions.length;
    }

    /// @inheritdoc IModelRegistry
    function version(uint256 versionId) external view returns (Version memory) {
        return _version(versionId);
    }

    /// @inheritdoc IModelRegistry
    function versionState(uint256 versionId) external view returns (Ballots.Status) {
        return _version(versionId).ballot.effectiveStatus();
    }

    /// @inheritdoc IModelRegistry
    function voteOf(uint256 versionId, address voter) external view returns (uint8) {
        return _votes[versionId][voter];
    }

    /// @inheritdoc IModelRegistry
    function aliasOf(uint256 modelId, bytes32 aliasName) external view returns (uint256) {
        _model(modelId);
        return _aliases[modelId][aliasName];
    }

    /// @inheritdoc IModelRegistry
    function rightsOf(uint256 modelId, address account) public view returns (uint8) {
        if (_model(modelId).owner == account) {
            return _ALL_RIGHTS;
        }
        return _rights[modelId][account];
    }

    /// @inheritdoc IModelRegistry
    function canRead(uint256 modelId, address account) external view returns (bool) {
        if (!_model(modelId).restricted) {
            return true;
        }
        return rightsOf(modelId, account) & RIGHT_READ_ARTIFACTS != 0;
    }

    /// @inheritdoc IModelRegistry
    function canSubmitUpdates(uint256 modelId, address account) external view returns (bool) {
        return rightsOf(modelId, account) & RIGHT_SUBMIT_UPDATES != 0;
    }

    // ---------------------------------------------------------------- internals: checks

    function _model(uint256 modelId) private view returns (Model storage) {
        if (modelId == 0 || modelId > _models.length) {
            revert RegistryUnknownModel(modelId);
        }
        return _models[modelId - 1];
    }

    function _version(uint256 versionId) private view returns (Version storage) {
        if (versionId == 0 || versionId > _versions.length) {
            revert RegistryUnknownVersion(versionId);
        }
        return _versions[versionId - 1];
    }

    function _ownedModel(address actor, uint256 modelId) private view returns (Model storage m) {
        m = _model(modelId);
        if (m.owner != actor) {
            revert RegistryNotModelOwner(modelId, actor);
        }
    }

    function _requireMaintainer(address actor, uint256 modelId) private view {
        if (rightsOf(modelId, actor) & RIGHT_MAINTAIN == 0) {
            revert RegistryNotMaintainer(modelId, actor);
        }
    }

    /// @dev The version `versionId` of model `modelId`, reverting unless it is Approved.
    function _approvedVersionOf(uint256 modelId, uint256 versionId) private view {
        Version storage v = _version(versionId);
        if (v.modelId != modelId) {
            revert RegistryVersionOfOtherModel(versionId, v.modelId, modelId);
        }
        Ballots.Status state = v.ballot.effectiveStatus();
        if (state != Ballots.Status.Approved) {
            revert RegistryUnexpectedState(versionId, state, Ballots.Status.Approved);
        }
    }

    /// @dev 1..64 characters of a-z, 0-9, '.', '_' and '-'.
    function _isValidName(string calldata name) private pure returns (bool) {
        bytes calldata b = bytes(name);
        if (b.length == 0 || b.length > _MAX_NAME_LENGTH) {
            return false;
        }
        for (uint256 i = 0; i < b.length; ++i) {
            bytes1 c = b[i];
            bool ok = (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-";
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- internals: actions

    function _registerModel(address actor, string calldata name, bytes32 metadataDigest, bool restricted)
        private
        returns (uint256 modelId)
    {
        if (!_consortium.isMember(actor)) {
            revert RegistryNotMember(actor);
        }
        if (!_isValidName(name)) {
            revert RegistryInvalidName(name);
        }
        bytes32 nameHash = keccak256(bytes(name));
        uint256 existing = _modelIdByName[nameHash];
        if (existing != 0) {
            revert RegistryDuplicateName(name, existing);
        }
        Model storage m = _models.push();
        m.owner = actor;
        m.restricted = restricted;
        m.metadataDigest = metadataDigest;
        m.name = name;
        modelId = _models.length;
        _modelIdByName[nameHash] = modelId;
        emit ModelRegistered(modelId, actor, name, metadataDigest, restricted);
    }

    function _setModelMetadata(address actor, uint256 modelId, bytes32 metadataDigest) private {
        Model storage m = _ownedModel(actor, modelId);
        emit ModelMetadataChanged(modelId, m.metadataDigest, metadataDigest, actor);
        m.metadataDigest = metadataDigest;
    }

    function _transferModelOwnership(address actor, uint256 modelId, address newOwner) private {
        Model storage m = _ownedModel(actor, modelId);
        if (newOwner == actor) {
            revert RegistryAlreadyOwner(modelId, newOwner);
        }
        if (newOwner == address(0) && m.pendingOwner == address(0)) {
            revert RegistryNoPendingTransfer(modelId);
        }
        _setPendingOwner(modelId, m, newOwner);
    }

    function _acceptModelOwnership(address actor, uint256 modelId) private {
        Model storage m = _model(modelId);
        address pending = m.pendingOwner;
        if (pending == address(0) || pending != actor) {
            revert RegistryNotPendingOwner(modelId, actor, pending);
        }
        _setOwner(modelId, m, actor);
    }

    function _setReadPolicy(address actor, uint256 modelId, bool restricted) private {
        Model storage m = _ownedModel(actor, modelId);
        m.restricted = restricted;
        emit ReadPolicyChanged(modelId, restricted, actor);
    }

    function _changeRights(address actor, uint256 modelId, address account, uint8 rights, bool grant) private {
        _ownedModel(actor, modelId);
        if (account == address(0)) {
            revert RegistryInvalidAccount(account);
        }
        if (rights == 0 || rights & ~_ALL_RIGHTS != 0) {
            revert RegistryInvalidRights(rights);
        }
        uint8 current = _rights[modelId][account];
        uint8 next = grant ? current | rights : current & ~rights;
        _rights[modelId][account] = next;
        if (grant) {
            emit RightsGranted(modelId, account, rights, next, actor);
        } else {
            emit RightsRevoked(modelId, account, rights, next, actor);
        }
    }

    function _proposeVersion(
        address actor,
        uint256 modelId,
        uint256 parentId,
        VersionKind kind,
        bytes32 artifactDigest,
        bytes32 metadataDigest
    ) private returns (uint256 versionId) {
        _requireMaintainer(actor, modelId);
        if (artifactDigest == bytes32(0)) {
            revert RegistryInvalidDigest(artifactDigest);
        }
        if (parentId != 0) {
            _approvedVersionOf(modelId, parentId);
        } else if (kind != VersionKind.Base) {
            revert RegistryMissingParent(kind);
        }
        (uint16 eligible, uint16 required, uint64 period) = _consortium.ballotParameters();
        Version storage v = _versions.push();
        v.proposer = actor;
        v.modelId = uint40(modelId);
        v.parentId = uint40(parentId);
        v.kind = kind;
        v.ballot.open(eligible, required, period);
        v.artifactDigest = artifactDigest;
        v.metadataDigest = metadataDigest;
        versionId = _versions.length;
        emit VersionProposed(
            versionId,
            modelId,
            actor,
            parentId,
            kind,
            artifactDigest,
            metadataDigest,
            v.ballot.deadline,
            required,
            eligible
        );
    }

    function _castVote(address voter, uint256 versionId, Ballots.Support support) private {
        Ballots.Ballot storage ballot = _version(versionId).ballot;
        Ballots.Ballot memory b = ballot;
        if (b.status != Ballots.Status.Proposed) {
            revert RegistryUnexpectedState(versionId, b.status, Ballots.Status.Proposed);
        }
        if (b.isClosed()) {
            revert RegistryVotingClosed(versionId, b.deadline, block.timestamp);
        }
        uint256 since = _consortium.memberSince(voter);
        if (since == 0) {
            revert RegistryNotMember(voter);
        }
        if (since >= b.snapshotBlock) {
            revert RegistryNotEligible(versionId, voter, since, b.snapshotBlock);
        }
        if (_votes[versionId][voter] != 0) {
            revert RegistryAlreadyVoted(versionId, voter);
        }
        _votes[versionId][voter] = uint8(support) + 1;
        emit VoteCast(versionId, voter, support);
        Ballots.Status outcome = ballot.count(support);
        if (outcome != Ballots.Status.Proposed) {
            _setVersionState(versionId, outcome);
        }
    }

    function _moveAlias(address actor, uint256 modelId, bytes32 aliasName, uint256 versionId) private {
        _requireMaintainer(actor, modelId);
        if (aliasName == bytes32(0)) {
            revert RegistryInvalidAlias(aliasName);
        }
        if (versionId != 0) {
            _approvedVersionOf(modelId, versionId);
        }
        uint256 previous = _aliases[modelId][aliasName];
        _aliases[modelId][aliasName] = versionId;
        emit AliasMoved(modelId, aliasName, versionId, previous, actor);
    }

    /// @dev The only writer of a model's pending owner outside {_setOwner}, which clears it.
    function _setPendingOwner(uint256 modelId, Model storage m, address pendingOwner) private {
        m.pendingOwner = pendingOwner;
        emit ModelOwnershipTransferStarted(modelId, m.owner, pendingOwner);
    }

    /// @dev The only writer of a model's owner after registration; completes a pending transfer.
    function _setOwner(uint256 modelId, Model storage m, address newOwner) private {
        address previousOwner = m.owner;
        m.owner = newOwner;
        delete m.pendingOwner;
        emit ModelOwnershipTransferred(modelId, previousOwner, newOwner);
    }

    /// @dev The only writer of a version's state: Proposed -> Approved | Rejected.
    function _setVersionState(uint256 versionId, Ballots.Status next) private {
        Ballots.Ballot storage ballot = _versions[versionId - 1].ballot;
        Ballots.Status current = ballot.status;
        if (current != Ballots.Status.Proposed || next == Ballots.Status.Proposed) {
            revert RegistryUnexpectedState(versionId, current, Ballots.Status.Proposed);
        }
        ballot.status = next;
        emit VersionStateChanged(versionId, current, next);
    }
}
