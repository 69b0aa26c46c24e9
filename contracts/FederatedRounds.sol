// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {IFederatedRounds} from "./interfaces/IFederatedRounds.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {Ballots} from "./utils/Ballots.sol";
import {SignedActions} from "./utils/SignedActions.sol";

/**
 * @title FederatedRounds
 * @notice Federated training rounds of the registry's models. See {IFederatedRounds}.
 * @dev Deployed by the {IModelRegistry} it serves (its constructor runs `new FederatedRounds(this)`),
 * which accepts aggregate versions from this contract alone. Rights, versions and their states
 * are read from the registry at the moment they matter.
 */
contract FederatedRounds is IFederatedRounds, SignedActions {
    uint8 private constant _RIGHT_MAINTAIN = 4;
    uint8 private constant _MAX_EXCLUSION_REASON = 3;

    bytes32 private constant _OPEN_ROUND_TYPEHASH = keccak256(
        "OpenRound(uint256 modelId,uint256 baseVersionId,bytes32 rule,bytes32 paramsDigest,uint32 minUpdates,"
        "uint32 maxUpdates,uint64 submissionDeadline,uint256 maxNorm,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _SUBMIT_UPDATE_TYPEHASH = keccak256(
        "SubmitUpdate(uint256 roundId,bytes32 baseDigest,bytes32 updateDigest,uint256 sampleCount,address actor,"
        "uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _CLOSE_ROUND_TYPEHASH =
        keccak256("CloseRound(uint256 roundId,address actor,uint256 nonce,uint256 deadline)");
    bytes32 private constant _FINALIZE_ROUND_TYPEHASH = keccak256(
        "FinalizeRound(uint256 roundId,address[] included,address[] excluded,uint8[] reasons,bytes32 aggregateDigest,"
        "bytes32 metadataDigest,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _CANCEL_ROUND_TYPEHASH =
        keccak256("CancelRound(uint256 roundId,address actor,uint256 nonce,uint256 deadline)");

    /// @dev A round in storage, laid out for submissions: they read slots 0 to 2 and write slot 0.
    struct RoundRecord {
        // slot 0
        address lastSubmitter; // head of the submission list (see UpdateRecord.previous)
        uint32 updateCount;
        uint32 maxUpdates;
        RoundState state;
        // slot 1
        uint64 submissionDeadline;
        uint40 modelId; // 0 for a round that does not exist
        uint40 baseVersionId;
        uint40 aggregateVersionId;
        uint32 minUpdates;
        uint32 excludedCount;
        // slots 2 to 6
        bytes32 baseDigest;
        bytes32 rule;
        bytes32 paramsDigest;
        uint256 maxNorm;
        bytes32 inclusionRoot;
    }

    /// @dev An update in two slots. `previous` links each submitter to the one before it, so the
    /// submission order is kept without an array (which would cost a third fresh slot).
    struct UpdateRecord {
        bytes32 digest;
        address previous;
        uint32 index;
        uint64 sampleCount; // >= 1 for a recorded update
    }

    IModelRegistry private immutable _registry;

    uint256 private _roundCount; // round ids are 1.._roundCount
    mapping(uint256 roundId => RoundRecord) private _rounds;
    mapping(uint256 roundId => mapping(address participant => UpdateRecord)) private _updates;

    constructor(IModelRegistry registry_) SignedActions("GovLedger FederatedRounds") {
        _registry = registry_;
    }

    // ---------------------------------------------------------------- actions

    /// @inheritdoc IFederatedRounds
    function openRound(RoundTerms calldata terms) external returns (uint256) {
        return _openRound(msg.sender, terms);
    }

    /// @inheritdoc IFederatedRounds
    function openRoundBySig(
        RoundTerms calldata terms,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256) {
        // a struct of static fields is encoded in place: this is the EIP-712 encoding of the
        // flat OpenRound(terms' fields..., actor, nonce, deadline)
        bytes32 structHash = keccak256(abi.encode(_OPEN_ROUND_TYPEHASH, terms, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        return _openRound(actor, terms);
    }

    /// @inheritdoc IFederatedRounds
    function submitUpdate(uint256 roundId, bytes32 baseDigest, bytes32 updateDigest, uint256 sampleCount) external {
        _submitUpdate(msg.sender, roundId, baseDigest, updateDigest, sampleCount);
    }

    /// @inheritdoc IFederatedRounds
    function submitUpdateBySig(
        uint256 roundId,
        bytes32 baseDigest,
        bytes32 updateDigest,
        uint256 sampleCount,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(_SUBMIT_UPDATE_TYPEHASH, roundId, baseDigest, updateDigest, sampleCount, actor, nonce, deadline)
        );
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _submitUpdate(actor, roundId, baseDigest, updateDigest, sampleCount);
    }

    /// @inheritdoc IFederatedRounds
    function submitUpdatesBySig(SignedUpdate[] calldata updates) external {
        if (updates.length == 0) {
            revert RoundsEmptyBatch();
        }
        for (uint256 i = 0; i < updates.length; ++i) {
            SignedUpdate calldata u = updates[i];
            bytes32 structHash = keccak256(
                abi.encode(
                    _SUBMIT_UPDATE_TYPEHASH,
                    u.roundId,
                    u.baseDigest,
                    u.updateDigest,
                    u.sampleCount,
                    u.actor,
                    u.nonce,
                    u.deadline
                )
            );
            _useSignedAction(u.actor, structHash, u.nonce, u.deadline, u.signature);
            _submitUpdate(u.actor, u.roundId, u.baseDigest, u.updateDigest, u.sampleCount);
        }
    }

    /// @inheritdoc IFederatedRounds
    function closeRound(uint256 roundId) external {
        _closeRound(msg.sender, roundId);
    }

    /// @inheritdoc IFederatedRounds
    function closeRoundBySig(
        uint256 roundId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(_CLOSE_ROUND_TYPEHASH, roundId, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _closeRound(actor, roundId);
    }

    /// @inheritdoc IFederatedRounds
    function finalizeRound(
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 aggregateDigest,
        bytes32 metadataDigest
    ) external returns (uint256) {
        return _finalizeRound(msg.sender, roundId, included, excluded, reasons, aggregateDigest, metadataDigest);
    }

    /// @inheritdoc IFederatedRounds
    function finalizeRoundBySig(
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 aggregateDigest,
        bytes32 metadataDigest,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256) {
        bytes32 structHash = _finalizeRoundHash(
            roundId, included, excluded, reasons, aggregateDigest, metadataDigest, actor, nonce, deadline
        );
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        return _finalizeRound(actor, roundId, included, excluded, reasons, aggregateDigest, metadataDigest);
    }

    /// @inheritdoc IFederatedRounds
    function cancelRound(uint256 roundId) external {
        _cancelRound(msg.sender, roundId);
    }

    /// @inheritdoc IFederatedRounds
    function cancelRoundBySig(
        uint256 roundId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(abi.encode(_CANCEL_ROUND_TYPEHASH, roundId, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _cancelRound(actor, roundId);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IFederatedRounds
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IFederatedRounds
    function roundCount() external view returns (uint256) {
        return _roundCount;
    }

    /// @inheritdoc IFederatedRounds
    function round(uint256 roundId) external view returns (Round memory out) {
        RoundRecord storage r = _round(roundId);
        out.modelId = r.modelId;
        out.baseVersionId = r.baseVersionId;
        out.baseDigest = r.baseDigest;
        out.rule = r.rule;
        out.paramsDigest = r.paramsDigest;
        out.maxNorm = r.maxNorm;
        out.submissionDeadline = r.submissionDeadline;
        out.minUpdates = r.minUpdates;
        out.maxUpdates = r.maxUpdates;
        out.updateCount = r.updateCount;
        out.state = r.state;
        if (out.state == RoundState.Finalized) {
            out.excludedCount = r.excludedCount;
            out.includedCount = out.updateCount - out.excludedCount;
        }
        out.aggregateVersionId = r.aggregateVersionId;
        out.inclusionRoot = r.inclusionRoot;
    }

    /// @inheritdoc IFederatedRounds
    function roundState(uint256 roundId) external view returns (RoundState) {
        return _effectiveState(_round(roundId));
    }

    /// @inheritdoc IFederatedRounds
    function updateOf(uint256 roundId, address participant) external view returns (Update memory) {
        _round(roundId);
        UpdateRecord storage u = _updates[roundId][participant];
        return Update({updateDigest: u.digest, sampleCount: u.sampleCount, index: u.index});
    }

    /// @inheritdoc IFederatedRounds
    function submitters(uint256 roundId) external view returns (address[] memory list) {
        RoundRecord storage r = _round(roundId);
        list = new address[](r.updateCount);
        address participant = r.lastSubmitter;
        for (uint256 i = list.length; i > 0; --i) {
            list[i - 1] = participant;
            participant = _updates[roundId][participant].previous;
        }
    }

    // ---------------------------------------------------------------- internals: checks

    function _round(uint256 roundId) private view returns (RoundRecord storage r) {
        r = _rounds[roundId];
        if (r.modelId == 0) {
            revert RoundsUnknownRound(roundId);
        }
    }

    /// @dev The state a reader should see: an Open round whose deadline has passed is Closed.
    function _effectiveState(RoundRecord storage r) private view returns (RoundState) {
        RoundState state = r.state;
        if (state == RoundState.Open && block.timestamp > r.submissionDeadline) {
            return RoundState.Closed;
        }
        return state;
    }

    function _requireMaintainer(address actor, uint256 modelId) private view {
        if (_registry.rightsOf(modelId, actor) & _RIGHT_MAINTAIN == 0) {
            revert RoundsNotMaintainer(modelId, actor);
        }
    }

    /// @dev The artifact digest of `versionId`, reverting unless it is an Approved version of `modelId`.
    function _approvedBase(uint256 modelId, uint256 versionId) private view returns (bytes32) {
        IModelRegistry.Version memory v = _registry.version(versionId);
        if (v.modelId != modelId) {
            revert RoundsVersionOfOtherModel(versionId, v.modelId, modelId);
        }
        Ballots.Status state = _registry.versionState(versionId);
        if (state != Ballots.Status.Approved) {
            revert RoundsBaseNotApproved(versionId, state);
        }
        return v.artifactDigest;
    }

    /// @dev Everything {finalizeRound} requires of the round, the actor and the lists; the inclusion root.
    function _checkFinalization(
        address actor,
        uint256 roundId,
        RoundRecord storage r,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons
    ) private view returns (bytes32) {
        RoundState state = _effectiveState(r);
        if (state != RoundState.Closed) {
            revert RoundsUnexpectedState(roundId, state, RoundState.Closed);
        }
        _requireMaintainer(actor, r.modelId);
        uint256 updateCount = r.updateCount;
        if (updateCount < r.minUpdates) {
            revert RoundsTooFewUpdates(roundId, updateCount, r.minUpdates);
        }
        return _inclusionRoot(roundId, updateCount, included, excluded, reasons);
    }

    function _finalizeRoundHash(
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 aggregateDigest,
        bytes32 metadataDigest,
        address actor,
        uint256 nonce,
        uint256 deadline
    ) private pure returns (bytes32) {
        // EIP-712 encodes an array as the keccak256 of its elements' 32-byte encodings, in order
        return keccak256(
            abi.encode(
                _FINALIZE_ROUND_TYPEHASH,
                roundId,
                keccak256(abi.encodePacked(included)),
                keccak256(abi.encodePacked(excluded)),
                keccak256(abi.encodePacked(reasons)),
                aggregateDigest,
                metadataDigest,
                actor,
                nonce,
                deadline
            )
        );
    }

    /**
     * @dev Checks the finalize lists against the round's submitters and returns the Merkle root
     * of the included updates. Each list is strictly ascending and names only submitters;
     * `seen` (one bit per submission index) catches an address in both lists; with every
     * listed address a distinct submitter, `listed == updateCount` means all are listed.
     */
    function _inclusionRoot(
        uint256 roundId,
        uint256 updateCount,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons
    ) private view returns (bytes32) {
        if (reasons.length != excluded.length) {
            revert RoundsLengthMismatch(excluded.length, reasons.length);
        }
        if (included.length == 0) {
            revert RoundsNothingIncluded(roundId);
        }
        uint256 listed = included.length + excluded.length;
        uint256[] memory seen = new uint256[]((updateCount >> 8) + 1);
        bytes32[] memory nodes = new bytes32[](included.length);
        for (uint256 i = 0; i < included.length; ++i) {
            address participant = included[i];
            if (i != 0 && participant <= included[i - 1]) {
                revert RoundsParticipantsNotAscending(roundId, included[i - 1], participant);
            }
            UpdateRecord storage u = _listed(roundId, participant, seen);
            nodes[i] = keccak256(abi.encode(participant, u.digest, uint256(u.sampleCount)));
        }
        for (uint256 i = 0; i < excluded.length; ++i) {
            address participant = excluded[i];
            if (i != 0 && participant <= excluded[i - 1]) {
                revert RoundsParticipantsNotAscending(roundId, excluded[i - 1], participant);
            }
            _listed(roundId, participant, seen);
            if (reasons[i] == 0 || reasons[i] > _MAX_EXCLUSION_REASON) {
                revert RoundsInvalidExclusionReason(participant, reasons[i]);
            }
        }
        if (listed != updateCount) {
            revert RoundsParticipantsMissing(roundId, listed, updateCount);
        }
        return _merkleRoot(nodes);
    }

    /// @dev The update of `participant`, reverting unless it submitted one and was not listed before.
    function _listed(uint256 roundId, address participant, uint256[] memory seen)
        private
        view
        returns (UpdateRecord storage u)
    {
        u = _updates[roundId][participant];
        if (u.sampleCount == 0) {
            revert RoundsNotSubmitter(roundId, participant);
        }
        uint256 index = u.index;
        uint256 bit = 1 << (index & 255);
        if (seen[index >> 8] & bit != 0) {
            revert RoundsListedTwice(roundId, participant);
        }
        seen[index >> 8] |= bit;
    }

    /// @dev The root over `nodes` (the leaves, overwritten): neighbours are paired with
    /// OpenZeppelin's commutative Keccak-256 and an odd last node is carried up unchanged, so
    /// `MerkleProof.verify` accepts each leaf's proof (siblings from the bottom up).
    function _merkleRoot(bytes32[] memory nodes) private pure returns (bytes32) {
        uint256 n = nodes.length;
        while (n > 1) {
            uint256 parents = 0;
            for (uint256 i = 0; i < n; i += 2) {
                nodes[parents] = i + 1 < n ? Hashes.commutativeKeccak256(nodes[i], nodes[i + 1]) : nodes[i];
                ++parents;
            }
            n = parents;
        }
        return nodes[0];
    }

    // ---------------------------------------------------------------- internals: actions

    function _openRound(address actor, RoundTerms calldata p) private returns (uint256 roundId) {
        _requireMaintainer(actor, p.modelId);
        bytes32 baseDigest = _approvedBase(p.modelId, p.baseVersionId);
        if (p.rule == bytes32(0)) {
            revert RoundsInvalidRule(p.rule);
        }
        if (p.minUpdates == 0 || p.minUpdates > p.maxUpdates) {
            revert RoundsInvalidUpdateBounds(p.minUpdates, p.maxUpdates);
        }
        if (p.submissionDeadline <= block.timestamp) {
            revert RoundsInvalidSubmissionDeadline(p.submissionDeadline, block.timestamp);
        }
        if (p.maxNorm == 0) {
            revert RoundsInvalidNormBound(p.maxNorm);
        }
        roundId = ++_roundCount;
        RoundRecord storage r = _rounds[roundId];
        r.maxUpdates = p.maxUpdates; // state Open (0), no update yet
        r.submissionDeadline = p.submissionDeadline;
        // model and version ids fit 40 bits: the registry stores them so (IModelRegistry.Version)
        r.modelId = uint40(p.modelId);
        r.baseVersionId = uint40(p.baseVersionId);
        r.minUpdates = p.minUpdates;
        r.baseDigest = baseDigest;
        r.rule = p.rule;
        r.paramsDigest = p.paramsDigest;
        r.maxNorm = p.maxNorm;
        emit RoundOpened(
            roundId,
            p.modelId,
            p.baseVersionId,
            baseDigest,
            p.rule,
            p.paramsDigest,
            p.minUpdates,
            p.maxUpdates,
            p.submissionDeadline,
            p.maxNorm,
            actor
        );
    }

    function _submitUpdate(
        address participant,
        uint256 roundId,
        bytes32 baseDigest,
        bytes32 updateDigest,
        uint256 sampleCount
    ) private {
        RoundRecord storage r = _round(roundId);
        RoundState state = r.state;
        if (state != RoundState.Open) {
            revert RoundsUnexpectedState(roundId, state, RoundState.Open);
        }
        if (block.timestamp > r.submissionDeadline) {
            revert RoundsSubmissionClosed(roundId, r.submissionDeadline, block.timestamp);
        }
        if (baseDigest != r.baseDigest) {
            revert RoundsWrongBaseDigest(roundId, r.baseDigest, baseDigest);
        }
        if (updateDigest == bytes32(0)) {
            revert RoundsInvalidUpdateDigest(updateDigest);
        }
        if (sampleCount == 0 || sampleCount > type(uint64).max) {
            revert RoundsInvalidSampleCount(sampleCount);
        }
        uint256 modelId = r.modelId;
        if (!_registry.canSubmitUpdates(modelId, participant)) {
            revert RoundsNotContributor(modelId, participant);
        }
        UpdateRecord storage u = _updates[roundId][participant];
        if (u.sampleCount != 0) {
            revert RoundsAlreadySubmitted(roundId, participant);
        }
        uint32 index = r.updateCount;
        u.digest = updateDigest;
        (u.previous, u.index, u.sampleCount) = (r.lastSubmitter, index, uint64(sampleCount));
        (r.lastSubmitter, r.updateCount) = (participant, index + 1);
        emit UpdateSubmitted(roundId, participant, updateDigest, sampleCount, index);
        if (index + 1 == r.maxUpdates) {
            _close(roundId, r, CloseReason.MaxUpdatesReached, participant);
        }
    }

    function _closeRound(address actor, uint256 roundId) private {
        RoundRecord storage r = _round(roundId);
        RoundState state = r.state;
        if (state != RoundState.Open) {
            revert RoundsUnexpectedState(roundId, state, RoundState.Open);
        }
        bool ended = block.timestamp > r.submissionDeadline;
        if (!ended) {
            _requireMaintainer(actor, r.modelId);
        }
        _close(roundId, r, ended ? CloseReason.DeadlinePassed : CloseReason.ClosedEarly, actor);
    }

    function _finalizeRound(
        address actor,
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 aggregateDigest,
        bytes32 metadataDigest
    ) private returns (uint256 versionId) {
        RoundRecord storage r = _round(roundId);
        bytes32 root = _checkFinalization(actor, roundId, r, included, excluded, reasons);
        if (r.state == RoundState.Open) {
            _close(roundId, r, CloseReason.DeadlinePassed, actor); // past its deadline, not yet recorded
        }
        _setRoundState(roundId, r, RoundState.Finalized);
        r.inclusionRoot = root;
        r.excludedCount = uint32(excluded.length);
        for (uint256 i = 0; i < excluded.length; ++i) {
            emit UpdateExcluded(roundId, excluded[i], reasons[i]);
        }
        versionId = _registry.proposeRoundAggregate(r.modelId, r.baseVersionId, aggregateDigest, metadataDigest, actor);
        r.aggregateVersionId = uint40(versionId);
        _emitFinalized(roundId, r, versionId, aggregateDigest, actor);
    }

    /// @dev Apart from {_finalizeRound}, whose locals leave no stack for an event of seven values.
    function _emitFinalized(
        uint256 roundId,
        RoundRecord storage r,
        uint256 versionId,
        bytes32 aggregateDigest,
        address by
    ) private {
        uint256 excludedCount = r.excludedCount;
        emit RoundFinalized(
            roundId, versionId, aggregateDigest, r.inclusionRoot, r.updateCount - excludedCount, excludedCount, by
        );
    }

    function _cancelRound(address actor, uint256 roundId) private {
        RoundRecord storage r = _round(roundId);
        RoundState state = _effectiveState(r);
        if (state != RoundState.Open && state != RoundState.Closed) {
            revert RoundsUnexpectedState(roundId, state, RoundState.Closed);
        }
        uint256 updateCount = r.updateCount;
        // a closed round short of its minimum can never be finalized: anyone may record that
        if (state == RoundState.Open || updateCount >= r.minUpdates) {
            _requireMaintainer(actor, r.modelId);
        }
        _setRoundState(roundId, r, RoundState.Cancelled);
        emit RoundCancelled(roundId, updateCount, actor);
    }

    function _close(uint256 roundId, RoundRecord storage r, CloseReason reason, address by) private {
        _setRoundState(roundId, r, RoundState.Closed);
        emit RoundClosed(roundId, reason, r.updateCount, by);
    }

    /// @dev The only writer of a round's state: Open -> Closed -> Finalized, Open | Closed -> Cancelled.
    function _setRoundState(uint256 roundId, RoundRecord storage r, RoundState next) private {
        RoundState current = r.state;
        bool allowed = current == RoundState.Open
            ? next == RoundState.Closed || next == RoundState.Cancelled
            : current == RoundState.Closed && (next == RoundState.Finalized || next == RoundState.Cancelled);
        if (!allowed) {
            RoundState expected = next == RoundState.Closed ? RoundState.Open : RoundState.Closed;
            revert RoundsUnexpectedState(roundId, current, expected);
        }
        r.state = next;
        emit RoundStateChanged(roundId, current, next);
    }
}
