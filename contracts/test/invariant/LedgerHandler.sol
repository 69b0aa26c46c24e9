// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Consortium} from "../../Consortium.sol";
import {ModelRegistry} from "../../ModelRegistry.sol";
import {IConsortium} from "../../interfaces/IConsortium.sol";
import {IModelRegistry} from "../../interfaces/IModelRegistry.sol";
import {ERC1271WalletMock} from "../../mocks/ERC1271WalletMock.sol";
import {Ballots} from "../../utils/Ballots.sol";
import {Signing} from "../utils/Signing.sol";
import {VM} from "../utils/Vm.sol";

/**
 * @title LedgerHandler
 * @notice The invariant tests' only target: each function is one random action on the ledger
 * by one of seven actors (six keys and an ERC-1271 wallet), sent either directly or signed and
 * relayed (`...BySig`), with its arguments steered towards calls that can succeed (the model's
 * owner, the pending owner, existing ids) so that most calls change state. Every call moves the
 * chain one block and 12 seconds on.
 *
 * Ghost state for the invariants: the signed actions each contract accepted per actor (nonces
 * must count exactly these), and the state each version and proposal was last seen in (a state
 * may only move Proposed -> Approved | Rejected). A violation seen during a call is recorded,
 * not reverted (a reverting call is discarded by the fuzzer), and the invariants assert it.
 */
contract LedgerHandler is Signing {
    uint256 public constant ACTORS = 7;
    uint256 internal constant WALLET = 6; // actor 6 is a contract account
    uint256 internal constant FIRST_KEY = 0xA11CE;
    uint256 internal constant WALLET_KEY = 0xBEEF; // the wallet's owner key
    uint64 internal constant PERIOD = 1 hours;

    Consortium public immutable consortium;
    ModelRegistry public immutable registry;
    address[] internal _actors;
    bytes32[2] internal _aliasNames = [bytes32("production"), bytes32("staging")];

    mapping(address target => mapping(address actor => uint256)) public acceptedSignedActions;
    mapping(uint256 versionId => Ballots.Status) internal _versionSeen;
    mapping(uint256 proposalId => Ballots.Status) internal _proposalSeen;
    string public violation; // empty while every state only moved forward

    address internal _lastSignedTarget;
    bytes internal _lastSignedCall;

    // how the campaign went (for whoever tunes it)
    uint256 public calls;
    uint256 public succeeded;
    uint256 public signedSucceeded;
    uint256 public forgeriesRefused;

    constructor() {
        for (uint256 i = 0; i < WALLET; ++i) {
            _actors.push(VM.addr(FIRST_KEY + i));
        }
        _actors.push(address(new ERC1271WalletMock(VM.addr(WALLET_KEY))));
        address[] memory founders = new address[](4);
        (founders[0], founders[1], founders[2], founders[3]) = (_actors[0], _actors[1], _actors[2], _actors[WALLET]);
        consortium = new Consortium(founders, 5_001, PERIOD);
        registry = new ModelRegistry(IConsortium(address(consortium)));
    }

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function aliasNames() external view returns (bytes32[2] memory) {
        return _aliasNames;
    }

    /// @dev The signing key of actor `index` (the wallet's owner key for the wallet), for the
    /// rounds handler, which acts as the same actors.
    function keyOf(uint256 index) external pure returns (uint256) {
        return _key(index);
    }

    // ================================================================ registry actions

    function registerModel(uint256 actorSeed, uint8 nameSeed, bool restricted, bool signed) external {
        _begin();
        (uint256 i, address actor) = _memberOr(actorSeed);
        string memory name = string(abi.encodePacked("model-", bytes1(uint8(97 + (nameSeed % 12)))));
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
            bytes32 h = keccak256(
                abi.encode(
                    _typeHash(REGISTER_MODEL_TYPE),
                    keccak256(bytes(name)),
                    bytes32(0),
                    restricted,
                    actor,
                    nonce,
                    deadline
                )
            );
            data = abi.encodeCall(
                IModelRegistry.registerModelBySig,
                (name, bytes32(0), restricted, actor, nonce, deadline, _signAs(i, address(registry), h))
            );
        } else {
            data = abi.encodeCall(IModelRegistry.registerModel, (name, bytes32(0), restricted));
        }
        _send(address(registry), actor, signed, data);
    }

    function proposeVersion(uint256 actorSeed, uint256 modelSeed, uint256 parentSeed, uint8 kindSeed, bool signed)
        external
    {
        _begin();
        uint256 modelId = _modelId(modelSeed);
        if (modelId == 0) return;
        (uint256 i, address actor) = _ownerOr(actorSeed, modelId);
        // mostly a consistent lineage: a base without parent, or a derived kind on an approved one
        IModelRegistry.VersionKind kind = IModelRegistry.VersionKind(kindSeed % 3);
        uint256 parentId = kind == IModelRegistry.VersionKind.Base && parentSeed % 2 == 0
            ? 0
            : _versionSteered(parentSeed, modelId, Ballots.Status.Approved);
        if (parentSeed % 8 != 0 && (parentId == 0 || !_isApprovedVersionOf(parentId, modelId))) {
            (kind, parentId) = (IModelRegistry.VersionKind.Base, 0); // nothing to derive from yet
        }
        bytes32 artifact = keccak256(abi.encode(modelSeed, parentSeed, calls));
        bytes memory data = signed
            ? _proposeVersionBySig(i, actor, modelId, parentId, kind, artifact)
            : abi.encodeCall(IModelRegistry.proposeVersion, (modelId, parentId, kind, artifact, bytes32(0)));
        _send(address(registry), actor, signed, data);
    }

    function _proposeVersionBySig(
        uint256 i,
        address actor,
        uint256 modelId,
        uint256 parentId,
        IModelRegistry.VersionKind kind,
        bytes32 artifact
    ) internal view returns (bytes memory) {
        (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
        bytes32 h = keccak256(
            abi.encode(
                _typeHash(PROPOSE_VERSION_TYPE), modelId, parentId, kind, artifact, bytes32(0), actor, nonce, deadline
            )
        );
        bytes memory signature = _signAs(i, address(registry), h);
        return abi.encodeCall(
            IModelRegistry.proposeVersionBySig,
            (modelId, parentId, kind, artifact, bytes32(0), actor, nonce, deadline, signature)
        );
    }

    function castVote(uint256 actorSeed, uint256 versionSeed, uint8 supportSeed, bool signed) external {
        _begin();
        uint256 versionId = _versionSteered(versionSeed, 0, Ballots.Status.Proposed);
        if (versionId == 0 || (versionSeed % 4 != 0 && registry.versionState(versionId) != Ballots.Status.Proposed)) {
            return; // no open ballot to vote on
        }
        Ballots.Support support = Ballots.Support(supportSeed % 3);
        (uint256 i, address actor) = _voterOr(actorSeed, registry.version(versionId).ballot, versionId, true);
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
            bytes32 h = keccak256(abi.encode(_typeHash(CAST_VOTE_TYPE), versionId, support, actor, nonce, deadline));
            data = abi.encodeCall(
                IModelRegistry.castVoteBySig,
                (versionId, support, actor, nonce, deadline, _signAs(i, address(registry), h))
            );
        } else {
            data = abi.encodeCall(IModelRegistry.castVote, (versionId, support));
        }
        _send(address(registry), actor, signed, data);
    }

    function moveAlias(uint256 actorSeed, uint256 modelSeed, uint8 aliasSeed, uint256 versionSeed, bool signed)
        external
    {
        _begin();
        uint256 modelId = _modelId(modelSeed);
        if (modelId == 0) return;
        (uint256 i, address actor) = _ownerOr(actorSeed, modelId);
        bytes32 aliasName = _aliasNames[aliasSeed % 2];
        // mostly an approved version of the model; sometimes 0, which clears the alias
        uint256 versionId =
            versionSeed % 8 == 0 ? 0 : _versionSteered(versionSeed >> 3, modelId, Ballots.Status.Approved);
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
            bytes32 h = keccak256(
                abi.encode(_typeHash(MOVE_ALIAS_TYPE), modelId, aliasName, versionId, actor, nonce, deadline)
            );
            data = abi.encodeCall(
                IModelRegistry.moveAliasBySig,
                (modelId, aliasName, versionId, actor, nonce, deadline, _signAs(i, address(registry), h))
            );
        } else {
            data = abi.encodeCall(IModelRegistry.moveAlias, (modelId, aliasName, versionId));
        }
        _send(address(registry), actor, signed, data);
    }

    function transferModelOwnership(uint256 actorSeed, uint256 modelSeed, uint256 newOwnerSeed, bool signed) external {
        _begin();
        uint256 modelId = _modelId(modelSeed);
        if (modelId == 0) return;
        (uint256 i, address actor) = _ownerOr(actorSeed, modelId);
        // one time in eight the zero address: a cancellation
        address newOwner = newOwnerSeed % 8 == 0 ? address(0) : _actors[newOwnerSeed % ACTORS];
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
            bytes32 h = keccak256(
                abi.encode(_typeHash(TRANSFER_MODEL_OWNERSHIP_TYPE), modelId, newOwner, actor, nonce, deadline)
            );
            data = abi.encodeCall(
                IModelRegistry.transferModelOwnershipBySig,
                (modelId, newOwner, actor, nonce, deadline, _signAs(i, address(registry), h))
            );
        } else {
            data = abi.encodeCall(IModelRegistry.transferModelOwnership, (modelId, newOwner));
        }
        _send(address(registry), actor, signed, data);
    }

    function acceptModelOwnership(uint256 actorSeed, uint256 modelSeed, bool signed) external {
        _begin();
        uint256 modelId = _modelId(modelSeed);
        if (modelId == 0) return;
        (uint256 i, address actor) = _pick(actorSeed);
        address pending = registry.pendingOwnerOf(modelId);
        if (pending != address(0) && actorSeed % 4 != 0) {
            (i, actor) = (_indexOf(pending), pending);
        }
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
            bytes32 h = keccak256(abi.encode(_typeHash(ACCEPT_MODEL_OWNERSHIP_TYPE), modelId, actor, nonce, deadline));
            data = abi.encodeCall(
                IModelRegistry.acceptModelOwnershipBySig,
                (modelId, actor, nonce, deadline, _signAs(i, address(registry), h))
            );
        } else {
            data = abi.encodeCall(IModelRegistry.acceptModelOwnership, (modelId));
        }
        _send(address(registry), actor, signed, data);
    }

    function changeRights(
        uint256 actorSeed,
        uint256 modelSeed,
        uint256 accountSeed,
        uint8 rights,
        bool grant,
        bool signed
    ) external {
        _begin();
        uint256 modelId = _modelId(modelSeed);
        if (modelId == 0) return;
        (uint256 i, address actor) = _ownerOr(actorSeed, modelId);
        address account = _actors[accountSeed % ACTORS];
        rights = uint8(rights % 9); // 0 and 8 are refused
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
            bytes32 h = keccak256(
                abi.encode(
                    _typeHash(grant ? GRANT_RIGHTS_TYPE : REVOKE_RIGHTS_TYPE),
                    modelId,
                    account,
                    rights,
                    actor,
                    nonce,
                    deadline
                )
            );
            bytes memory signature = _signAs(i, address(registry), h);
            data = grant
                ? abi.encodeCall(
                    IModelRegistry.grantRightsBySig, (modelId, account, rights, actor, nonce, deadline, signature)
                )
                : abi.encodeCall(
                    IModelRegistry.revokeRightsBySig, (modelId, account, rights, actor, nonce, deadline, signature)
                );
        } else {
            data = grant
                ? abi.encodeCall(IModelRegistry.grantRights, (modelId, account, rights))
                : abi.encodeCall(IModelRegistry.revokeRights, (modelId, account, rights));
        }
        _send(address(registry), actor, signed, data);
    }

    function finalizeVersion(uint256 versionSeed) external {
        _begin();
        uint256 versions = registry.versionCount();
        if (versions == 0) return;
        (, address anyone) = _pick(versionSeed >> 8);
        _send(
            address(registry),
            anyone,
            false,
            abi.encodeCall(IModelRegistry.finalizeVersion, (1 + (versionSeed % versions)))
        );
    }

    // ================================================================ consortium actions

    function proposeChange(uint256 actorSeed, uint8 kindSeed, uint256 accountSeed, uint256 valueSeed, bool signed)
        external
    {
        _begin();
        (uint256 i, address actor) = _memberOr(actorSeed);
        IConsortium.ChangeKind kind = _changeKind(kindSeed);
        address account = _actors[accountSeed % ACTORS];
        // mostly an account the change fits: a non-member to add, a member to remove
        if (accountSeed % 4 != 0 && (kind == IConsortium.ChangeKind.AddMember) == consortium.isMember(account)) {
            account = _actors[((accountSeed % ACTORS) + 1) % ACTORS];
        }
        uint64 value = _changeValue(kind, valueSeed);
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(consortium), actor);
            bytes32 h =
                keccak256(abi.encode(_typeHash(PROPOSE_CHANGE_TYPE), kind, account, value, actor, nonce, deadline));
            data = abi.encodeCall(
                IConsortium.proposeChangeBySig,
                (kind, account, value, actor, nonce, deadline, _signAs(i, address(consortium), h))
            );
        } else {
            data = abi.encodeCall(IConsortium.proposeChange, (kind, account, value));
        }
        _send(address(consortium), actor, signed, data);
    }

    /// @dev Adding members three times as often as removing them keeps the consortium from dwindling.
    function _changeKind(uint8 seed) internal pure returns (IConsortium.ChangeKind) {
        uint8[8] memory kinds = [0, 0, 0, 1, 2, 2, 3, 3];
        return IConsortium.ChangeKind(kinds[seed % 8]);
    }

    /// @dev Quorums from one vote to unanimity (and one out of range), periods of a minute to two hours.
    function _changeValue(IConsortium.ChangeKind kind, uint256 seed) internal pure returns (uint64) {
        if (kind == IConsortium.ChangeKind.SetQuorum) {
            uint64[6] memory quorums = [uint64(1), 3_333, 5_001, 6_667, 10_000, 10_001];
            return quorums[seed % 6];
        }
        if (kind == IConsortium.ChangeKind.SetVotingPeriod) {
            uint64[4] memory periods = [uint64(60), 600, 3_600, 7_200];
            return periods[seed % 4];
        }
        return 0;
    }

    function voteOnChange(uint256 actorSeed, uint256 proposalSeed, uint8 supportSeed, bool signed) external {
        _begin();
        uint256 proposalId = _proposalSteered(proposalSeed);
        if (proposalId == 0) return;
        Ballots.Support support = Ballots.Support(supportSeed % 3);
        (uint256 i, address actor) = _voterOr(actorSeed, consortium.proposal(proposalId).ballot, proposalId, false);
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(consortium), actor);
            bytes32 h =
                keccak256(abi.encode(_typeHash(VOTE_ON_CHANGE_TYPE), proposalId, support, actor, nonce, deadline));
            data = abi.encodeCall(
                IConsortium.voteOnChangeBySig,
                (proposalId, support, actor, nonce, deadline, _signAs(i, address(consortium), h))
            );
        } else {
            data = abi.encodeCall(IConsortium.voteOnChange, (proposalId, support));
        }
        _send(address(consortium), actor, signed, data);
    }

    function resign(uint256 actorSeed, bool signed) external {
        _begin();
        // members leave now and then, but a small consortium mostly keeps its members
        (uint256 i, address actor) =
            consortium.memberCount() > 3 || actorSeed % 4 == 0 ? _memberOr(actorSeed) : _pick(actorSeed);
        bytes memory data;
        if (signed) {
            (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(consortium), actor);
            bytes32 h = keccak256(abi.encode(_typeHash(RESIGN_TYPE), actor, nonce, deadline));
            data = abi.encodeCall(IConsortium.resignBySig, (actor, nonce, deadline, _signAs(i, address(consortium), h)));
        } else {
            data = abi.encodeCall(IConsortium.resign, ());
        }
        _send(address(consortium), actor, signed, data);
    }

    function finalizeChange(uint256 proposalSeed) external {
        _begin();
        uint256 proposals = consortium.proposalCount();
        if (proposals == 0) return;
        (, address anyone) = _pick(proposalSeed >> 8);
        _send(
            address(consortium),
            anyone,
            false,
            abi.encodeCall(IConsortium.finalizeChange, (1 + (proposalSeed % proposals)))
        );
    }

    // ================================================================ time and attacks

    /// @dev Mostly less than half a voting period; one time in four up to two periods, which
    /// closes the open ballots.
    function passTime(uint256 secondsSeed) external {
        _begin();
        uint256 span = secondsSeed % 4 == 0 ? 2 * PERIOD : PERIOD / 2;
        VM.warp(block.timestamp + 1 + ((secondsSeed >> 2) % span));
        _checkTransitions();
    }

    /// A relayer signs a vote for an actor with another key: it must be refused (the actor's
    /// nonce ghost is not counted, so an accepted forgery breaks the nonce invariant).
    function forgeVote(uint256 actorSeed, uint256 keySeed, uint256 versionSeed) external {
        _begin();
        uint256 versions = registry.versionCount();
        if (versions == 0) return;
        (uint256 i, address actor) = _pick(actorSeed);
        uint256 wrongKey = FIRST_KEY + 100 + (keySeed % 1000);
        if (wrongKey == _key(i)) return;
        uint256 versionId = 1 + (versionSeed % versions);
        (uint256 nonce, uint256 deadline) = _nonceAndDeadline(address(registry), actor);
        bytes32 h =
            keccak256(abi.encode(_typeHash(CAST_VOTE_TYPE), versionId, Ballots.Support.For, actor, nonce, deadline));
        bytes memory signature = _sign(wrongKey, address(registry), h);
        (bool ok,) = address(registry)
            .call(
                abi.encodeCall(
                    IModelRegistry.castVoteBySig, (versionId, Ballots.Support.For, actor, nonce, deadline, signature)
                )
            );
        if (!ok) forgeriesRefused += 1;
        _checkTransitions();
    }

    /// A relayer sends the last accepted signed action again: the nonce makes it fail.
    function replayLastSigned() external {
        _begin();
        if (_lastSignedTarget == address(0)) return;
        (bool ok,) = _lastSignedTarget.call(_lastSignedCall);
        if (!ok) forgeriesRefused += 1;
        _checkTransitions();
    }

    // ================================================================ internals

    function _begin() internal {
        calls += 1;
        VM.roll(block.number + 1);
        VM.warp(block.timestamp + 12);
    }

    function _send(address target, address actor, bool signed, bytes memory data) internal {
        if (!signed) VM.prank(actor);
        (bool ok,) = target.call(data);
        if (ok) {
            succeeded += 1;
            if (signed) {
                signedSucceeded += 1;
                acceptedSignedActions[target][actor] += 1;
                (_lastSignedTarget, _lastSignedCall) = (target, data);
            }
        }
        _checkTransitions();
    }

    function _pick(uint256 seed) internal view returns (uint256 index, address actor) {
        index = seed % ACTORS;
        actor = _actors[index];
    }

    /// @dev The model's owner three times in four, else any actor.
    function _ownerOr(uint256 seed, uint256 modelId) internal view returns (uint256 index, address actor) {
        if (seed % 4 != 0) {
            actor = registry.model(modelId).owner;
            return (_indexOf(actor), actor);
        }
        return _pick(seed >> 2);
    }

    /// @dev A member three times in four, else any actor.
    function _memberOr(uint256 seed) internal view returns (uint256 index, address actor) {
        if (seed % 4 != 0) {
            address[] memory members = consortium.members();
            actor = members[(seed >> 2) % members.length];
            return (_indexOf(actor), actor);
        }
        return _pick(seed >> 2);
    }

    /// @dev Three times in four the newest version (of `modelId`, or of any model if 0) whose
    /// state is `state`, else any version; 0 if there is none.
    function _versionSteered(uint256 seed, uint256 modelId, Ballots.Status state) internal view returns (uint256) {
        uint256 versions = registry.versionCount();
        if (versions == 0) return 0;
        if (seed % 4 != 0) {
            for (uint256 id = versions; id >= 1; --id) {
                if ((modelId == 0 || registry.version(id).modelId == modelId) && registry.versionState(id) == state) {
                    return id;
                }
            }
        }
        return 1 + ((seed >> 2) % versions);
    }

    function _isApprovedVersionOf(uint256 versionId, uint256 modelId) internal view returns (bool) {
        return
            registry.version(versionId).modelId == modelId
                && registry.versionState(versionId) == Ballots.Status.Approved;
    }

    /// @dev Three times in four the newest proposal still open, else any; 0 if there is none.
    function _proposalSteered(uint256 seed) internal view returns (uint256) {
        uint256 proposals = consortium.proposalCount();
        if (proposals == 0) return 0;
        if (seed % 4 != 0) {
            for (uint256 id = proposals; id >= 1; --id) {
                if (consortium.proposalStatus(id) == Ballots.Status.Proposed) return id;
            }
        }
        return 1 + ((seed >> 2) % proposals);
    }

    /// @dev Three times in four a member that may still vote on the ballot, else any actor.
    function _voterOr(uint256 seed, Ballots.Ballot memory ballot, uint256 id, bool isVersion)
        internal
        view
        returns (uint256 index, address actor)
    {
        if (seed % 4 != 0) {
            for (uint256 k = 0; k < ACTORS; ++k) {
                index = ((seed >> 2) + k) % ACTORS;
                actor = _actors[index];
                uint256 since = consortium.memberSince(actor);
                uint8 voted = isVersion ? registry.voteOf(id, actor) : consortium.changeVoteOf(id, actor);
                if (since != 0 && since < ballot.snapshotBlock && voted == 0) return (index, actor);
            }
        }
        return _pick(seed >> 2);
    }

    function _indexOf(address actor) internal view returns (uint256) {
        for (uint256 i = 0; i < ACTORS; ++i) {
            if (_actors[i] == actor) return i;
        }
        revert("not an actor");
    }

    function _modelId(uint256 seed) internal view returns (uint256) {
        uint256 models = registry.modelCount();
        return models == 0 ? 0 : 1 + (seed % models);
    }

    function _key(uint256 index) internal pure returns (uint256) {
        return index == WALLET ? WALLET_KEY : FIRST_KEY + index;
    }

    function _signAs(uint256 index, address target, bytes32 structHash) internal view returns (bytes memory) {
        return _sign(_key(index), target, structHash);
    }

    function _nonceAndDeadline(address target, address actor) internal view returns (uint256, uint256) {
        uint256 nonce = target == address(registry) ? registry.nonces(actor) : consortium.nonces(actor);
        return (nonce, block.timestamp + 1 hours);
    }

    /// @dev Records a violation if any version or proposal left a decided state.
    function _checkTransitions() internal {
        uint256 versions = registry.versionCount();
        for (uint256 id = 1; id <= versions; ++id) {
            Ballots.Status effective = registry.versionState(id);
            Ballots.Status stored = registry.version(id).ballot.status;
            _checkOne(_versionSeen[id], effective, stored, "version");
            _versionSeen[id] = effective;
        }
        uint256 proposals = consortium.proposalCount();
        for (uint256 id = 1; id <= proposals; ++id) {
            Ballots.Status effective = consortium.proposalStatus(id);
            Ballots.Status stored = consortium.proposal(id).ballot.status;
            _checkOne(_proposalSeen[id], effective, stored, "proposal");
            _proposalSeen[id] = effective;
        }
    }

    function _checkOne(Ballots.Status seen, Ballots.Status effective, Ballots.Status stored, string memory what)
        internal
    {
        if (seen != Ballots.Status.Proposed && effective != seen) {
            violation = string.concat("a ", what, " left a decided state");
        }
        if (stored != Ballots.Status.Proposed && stored != effective) {
            violation = string.concat("a ", what, "'s stored and reported states differ");
        }
    }
}
