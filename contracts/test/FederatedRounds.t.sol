// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ISignedActions} from "../interfaces/ISignedActions.sol";
import {IFederatedRounds} from "../interfaces/IFederatedRounds.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {Ballots} from "../utils/Ballots.sol";
import {RoundsFixture} from "./utils/RoundsFixture.sol";

/// @notice Federated rounds for any terms, contributors, exclusions, times and callers.
contract FederatedRoundsTest is RoundsFixture {
    function setUp() public {
        _setUpRounds();
    }

    // ---------------------------------------------------------------- opening

    /// Any terms: valid ones open a round that reads back exactly, invalid ones are refused with
    /// the error naming the first offending value (checked in the order the contract checks).
    function testFuzz_OpenRecordsValidTermsAndRefusesInvalidOnes(
        bytes32 rule,
        uint32 minUpdates,
        uint32 maxUpdates,
        uint64 deadline,
        uint256 maxNorm
    ) public {
        IFederatedRounds.RoundTerms memory terms = _terms(minUpdates, maxUpdates, 0);
        (terms.rule, terms.submissionDeadline, terms.maxNorm) = (rule, deadline, maxNorm);
        if (rule == bytes32(0)) {
            vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsInvalidRule.selector, rule));
        } else if (minUpdates == 0 || minUpdates > maxUpdates) {
            vm.expectRevert(
                abi.encodeWithSelector(IFederatedRounds.RoundsInvalidUpdateBounds.selector, minUpdates, maxUpdates)
            );
        } else if (deadline <= block.timestamp) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IFederatedRounds.RoundsInvalidSubmissionDeadline.selector, deadline, block.timestamp
                )
            );
        } else if (maxNorm == 0) {
            vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsInvalidNormBound.selector, maxNorm));
        } else {
            vm.expectEmit(true, true, true, true, address(rounds));
            emit IFederatedRounds.RoundOpened(
                1,
                modelId,
                baseId,
                BASE_DIGEST,
                rule,
                terms.paramsDigest,
                minUpdates,
                maxUpdates,
                deadline,
                maxNorm,
                owner
            );
        }
        vm.prank(owner);
        rounds.openRound(terms);
        if (rounds.roundCount() == 0) return;

        IFederatedRounds.Round memory r = rounds.round(1);
        assertEq(r.modelId, modelId, "model");
        assertEq(r.baseVersionId, baseId, "base");
        assertTrue(r.baseDigest == BASE_DIGEST && r.rule == rule, "digests");
        assertEq(r.maxNorm, maxNorm, "norm");
        assertEq(r.submissionDeadline, deadline, "deadline");
        assertEq(r.minUpdates, minUpdates, "min");
        assertEq(r.maxUpdates, maxUpdates, "max");
        assertEq(r.updateCount + r.aggregateVersionId + uint256(r.inclusionRoot), 0, "nothing yet");
        assertTrue(rounds.roundState(1) == IFederatedRounds.RoundState.Open, "open");
    }

    /// Only the owner or a Maintain holder opens; a contributor or a stranger cannot.
    function testFuzz_OnlyTheOwnerOrAMaintainerOpens(address caller, uint8 rights) public {
        vm.assume(caller != owner && caller != address(0) && caller != address(vm));
        rights = uint8(bound(rights, 1, 7));
        vm.prank(owner);
        registry.grantRights(modelId, caller, rights);
        if (rights & 4 == 0) {
            vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsNotMaintainer.selector, modelId, caller));
        }
        vm.prank(caller);
        rounds.openRound(_terms(1, 3, 1 hours));
    }

    /// The base is an Approved version of the same model; anything else is refused.
    function test_TheBaseIsAnApprovedVersionOfTheModel() public {
        vm.prank(owner);
        uint256 pending = registry.proposeVersion(modelId, 0, IModelRegistry.VersionKind.Base, keccak256("p"), 0);
        uint256 other = _register(owner, "other");
        uint256 otherBase = _approvedVersion(other, keccak256("other base"));
        IFederatedRounds.RoundTerms memory terms = _terms(1, 3, 1 hours);

        terms.baseVersionId = pending;
        vm.expectRevert(
            abi.encodeWithSelector(IFederatedRounds.RoundsBaseNotApproved.selector, pending, Ballots.Status.Proposed)
        );
        vm.prank(owner);
        rounds.openRound(terms);

        terms.baseVersionId = otherBase;
        vm.expectRevert(
            abi.encodeWithSelector(IFederatedRounds.RoundsVersionOfOtherModel.selector, otherBase, other, modelId)
        );
        vm.prank(owner);
        rounds.openRound(terms);
    }

    // ---------------------------------------------------------------- submitting

    /// Contributors submit once each, in any number up to the maximum; the submission that
    /// reaches the maximum closes the round in its transaction.
    function testFuzz_EachContributorSubmitsOnceAndTheMaximumClosesTheRound(uint256 maxUpdates, uint256 twice) public {
        maxUpdates = bound(maxUpdates, 1, 12);
        uint256 roundId = _open(1, uint32(maxUpdates));
        address[] memory expected = new address[](maxUpdates);
        for (uint256 i = 0; i < maxUpdates; ++i) {
            address participant = _contributor(i);
            vm.expectEmit(true, true, true, true, address(rounds));
            emit IFederatedRounds.UpdateSubmitted(roundId, participant, _updateDigest(i), 100 + i, i);
            if (i + 1 == maxUpdates) {
                vm.expectEmit(true, true, true, true, address(rounds));
                emit IFederatedRounds.RoundStateChanged(
                    roundId, IFederatedRounds.RoundState.Open, IFederatedRounds.RoundState.Closed
                );
                vm.expectEmit(true, true, true, true, address(rounds));
                emit IFederatedRounds.RoundClosed(
                    roundId, IFederatedRounds.CloseReason.MaxUpdatesReached, maxUpdates, participant
                );
            }
            expected[i] = _submit(roundId, i);
            if (i + 1 < maxUpdates && twice % maxUpdates == i) {
                vm.expectRevert(
                    abi.encodeWithSelector(IFederatedRounds.RoundsAlreadySubmitted.selector, roundId, participant)
                );
                vm.prank(participant);
                rounds.submitUpdate(roundId, BASE_DIGEST, keccak256("again"), 1);
            }
        }
        address[] memory listed = rounds.submitters(roundId);
        assertEq(listed.length, maxUpdates, "submitters");
        for (uint256 i = 0; i < maxUpdates; ++i) {
            assertEq(listed[i], expected[i], "submission order");
            IFederatedRounds.Update memory u = rounds.updateOf(roundId, expected[i]);
            assertTrue(u.updateDigest == _updateDigest(i), "digest");
            assertEq(u.sampleCount, 100 + i, "samples");
            assertEq(u.index, i, "index");
        }
        assertEq(rounds.round(roundId).updateCount, maxUpdates, "count");
        assertTrue(rounds.roundState(roundId) == IFederatedRounds.RoundState.Closed, "closed");

        address late = _contributor(maxUpdates);
        vm.expectRevert(
            abi.encodeWithSelector(
                IFederatedRounds.RoundsUnexpectedState.selector,
                roundId,
                IFederatedRounds.RoundState.Closed,
                IFederatedRounds.RoundState.Open
            )
        );
        vm.prank(late);
        rounds.submitUpdate(roundId, BASE_DIGEST, _updateDigest(maxUpdates), 1);
    }

    /// The SubmitUpdates right is checked at submission: granted, any other right, or revoked.
    function testFuzz_OnlyHoldersOfSubmitUpdatesAtThatMomentSubmit(address account, uint8 rights, bool revoke) public {
        vm.assume(account != owner && account != address(0) && account != address(vm));
        rights = uint8(bound(rights, 1, 7));
        uint256 roundId = _open(1, 5);
        vm.prank(owner);
        registry.grantRights(modelId, account, rights);
        if (revoke && rights & SUBMIT_UPDATES != 0) {
            vm.prank(owner);
            registry.revokeRights(modelId, account, SUBMIT_UPDATES);
        }
        bool holds = rights & SUBMIT_UPDATES != 0 && !revoke;
        if (!holds) {
            vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsNotContributor.selector, modelId, account));
        }
        vm.prank(account);
        rounds.submitUpdate(roundId, BASE_DIGEST, keccak256("u"), 1);
        assertEq(rounds.round(roundId).updateCount, holds ? 1 : 0, "count");
    }

    /// An update names the round's base digest, a non-zero digest and 1 .. 2^64-1 samples.
    function testFuzz_AnUpdateNamesTheBaseAndCountsItsSamples(bytes32 base, bytes32 digest, uint256 samples) public {
        uint256 roundId = _open(1, 5);
        address participant = _contributor(0);
        if (base != BASE_DIGEST) {
            vm.expectRevert(
                abi.encodeWithSelector(IFederatedRounds.RoundsWrongBaseDigest.selector, roundId, BASE_DIGEST, base)
            );
        } else if (digest == bytes32(0)) {
            vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsInvalidUpdateDigest.selector, digest));
        } else if (samples == 0 || samples > type(uint64).max) {
            vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsInvalidSampleCount.selector, samples));
        }
        vm.prank(participant);
        rounds.submitUpdate(roundId, base, digest, samples);
    }

    /// The window ends at the deadline (inclusive): views report Closed at once, submissions
    /// are refused, and anyone records the close.
    function testFuzz_TheSubmissionWindowEndsAtTheDeadline(uint256 late, address anyone) public {
        vm.assume(anyone != address(vm));
        late = bound(late, 1, 365 days);
        uint256 roundId = _open(1, 5);
        uint256 deadline = rounds.round(roundId).submissionDeadline;
        vm.warp(deadline);
        _submit(roundId, 0); // at the deadline itself
        vm.warp(deadline + late);
        assertTrue(rounds.roundState(roundId) == IFederatedRounds.RoundState.Closed, "closed in views");
        assertTrue(rounds.round(roundId).state == IFederatedRounds.RoundState.Open, "not recorded yet");
        address participant = _contributor(1);
        vm.expectRevert(
            abi.encodeWithSelector(IFederatedRounds.RoundsSubmissionClosed.selector, roundId, deadline, deadline + late)
        );
        vm.prank(participant);
        rounds.submitUpdate(roundId, BASE_DIGEST, keccak256("late"), 1);

        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundClosed(roundId, IFederatedRounds.CloseReason.DeadlinePassed, 1, anyone);
        vm.prank(anyone);
        rounds.closeRound(roundId);
        assertTrue(rounds.round(roundId).state == IFederatedRounds.RoundState.Closed, "recorded");
    }

    /// Before the deadline only the owner or a maintainer closes a round.
    function testFuzz_ClosingEarlyNeedsAMaintainer(address caller) public {
        vm.assume(caller != owner && caller != address(vm));
        uint256 roundId = _open(1, 5);
        vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsNotMaintainer.selector, modelId, caller));
        vm.prank(caller);
        rounds.closeRound(roundId);

        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundClosed(roundId, IFederatedRounds.CloseReason.ClosedEarly, 0, owner);
        vm.prank(owner);
        rounds.closeRound(roundId);
    }

    // ---------------------------------------------------------------- finalizing

    /// Any number of submitters and any exclusions (at least one included): the contract's root
    /// is the one rebuilt here, every included update's proof passes OpenZeppelin's
    /// MerkleProof.verify, an excluded one's leaf does not, and the aggregate is a version of
    /// kind Aggregate of the model, child of the base, proposed by the finalizer.
    function testFuzz_FinalizeCommitsToTheIncludedUpdates(uint256 count, uint256 excludeMask, uint256 reasonSeed)
        public
    {
        count = bound(count, 1, 16);
        uint256 roundId = _open(1, uint32(count));
        (address[] memory included, address[] memory excluded, uint8[] memory reasons) =
            _submitAndSplit(roundId, count, excludeMask, reasonSeed);
        bytes32[][] memory levels = _levels(_leaves(roundId, included));
        bytes32 root = levels[levels.length - 1][0];

        uint256 versionId = _finalizeExpectingEvents(roundId, included, excluded, reasons, root);

        IFederatedRounds.Round memory r = rounds.round(roundId);
        assertTrue(r.inclusionRoot == root, "root");
        assertEq(r.aggregateVersionId, versionId, "aggregate");
        assertEq(r.includedCount, included.length, "included");
        assertEq(r.excludedCount, excluded.length, "excluded");
        assertTrue(r.state == IFederatedRounds.RoundState.Finalized, "finalized");
        _checkProofs(roundId, levels, excluded);
        IModelRegistry.Version memory v = registry.version(versionId);
        assertTrue(v.kind == IModelRegistry.VersionKind.Aggregate, "kind");
        assertEq(v.modelId, modelId, "model");
        assertEq(v.parentId, baseId, "parent");
        assertEq(v.proposer, owner, "proposer");
        assertTrue(v.artifactDigest == keccak256("aggregate") && v.metadataDigest == keccak256("meta"), "digests");
        assertTrue(registry.versionState(versionId) == Ballots.Status.Proposed, "members vote on it");
    }

    /// @dev `count` contributors submit; those in `excludeMask` (never all) are excluded with
    /// reasons 1..3 drawn from `reasonSeed`; both lists sorted.
    function _submitAndSplit(uint256 roundId, uint256 count, uint256 excludeMask, uint256 reasonSeed)
        internal
        returns (address[] memory included, address[] memory excluded, uint8[] memory reasons)
    {
        excludeMask = excludeMask & ((1 << count) - 1);
        if (excludeMask == (1 << count) - 1) excludeMask >>= 1; // keep one included
        uint256 excludedCount;
        for (uint256 i = 0; i < count; ++i) {
            if (excludeMask & (1 << i) != 0) ++excludedCount;
        }
        included = new address[](count - excludedCount);
        excluded = new address[](excludedCount);
        (uint256 a, uint256 b) = (0, 0);
        for (uint256 i = 0; i < count; ++i) {
            address participant = _submit(roundId, i);
            if (excludeMask & (1 << i) != 0) excluded[b++] = participant;
            else included[a++] = participant;
        }
        included = _sorted(included);
        excluded = _sorted(excluded);
        reasons = new uint8[](excludedCount);
        for (uint256 k = 0; k < excludedCount; ++k) {
            reasons[k] = uint8(1 + ((reasonSeed >> (2 * k)) % 3));
        }
    }

    function _leaves(uint256 roundId, address[] memory included) internal view returns (bytes32[] memory leaves) {
        leaves = new bytes32[](included.length);
        for (uint256 k = 0; k < included.length; ++k) {
            leaves[k] = _leaf(roundId, included[k]);
        }
    }

    function _finalizeExpectingEvents(
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 root
    ) internal returns (uint256 versionId) {
        uint256 expectedVersion = registry.versionCount() + 1;
        for (uint256 k = 0; k < excluded.length; ++k) {
            vm.expectEmit(true, true, true, true, address(rounds));
            emit IFederatedRounds.UpdateExcluded(roundId, excluded[k], reasons[k]);
        }
        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundFinalized(
            roundId, expectedVersion, keccak256("aggregate"), root, included.length, excluded.length, owner
        );
        vm.prank(owner);
        versionId =
            rounds.finalizeRound(roundId, included, excluded, reasons, keccak256("aggregate"), keccak256("meta"));
        assertEq(versionId, expectedVersion, "version id");
    }

    /// @dev Every leaf's proof passes MerkleProof.verify; no excluded update's leaf passes with any of them.
    function _checkProofs(uint256 roundId, bytes32[][] memory levels, address[] memory excluded) internal view {
        bytes32[] memory leaves = levels[0];
        bytes32 root = levels[levels.length - 1][0];
        for (uint256 k = 0; k < leaves.length; ++k) {
            assertTrue(MerkleProof.verify(_proof(levels, k), root, leaves[k]), "inclusion proof");
        }
        for (uint256 k = 0; k < excluded.length; ++k) {
            bytes32 leaf = _leaf(roundId, excluded[k]);
            for (uint256 j = 0; j < leaves.length; ++j) {
                assertTrue(!MerkleProof.verify(_proof(levels, j), root, leaf), "excluded leaf proven");
            }
        }
    }

    /// Lists that are not exactly the submitters, each strictly ascending, are refused with
    /// the error naming what is wrong.
    function testFuzz_FinalizeRefusesListsThatAreNotExactlyTheSubmitters(uint256 count, uint256 fault) public {
        count = bound(count, 3, 8);
        uint256 roundId = _open(1, uint32(count));
        address[] memory all = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            all[i] = _submit(roundId, i);
        }
        all = _sorted(all);
        address[] memory included = new address[](count - 1);
        for (uint256 i = 0; i < count - 1; ++i) {
            included[i] = all[i];
        }
        address[] memory excluded = new address[](1);
        excluded[0] = all[count - 1];
        uint8[] memory reasons = new uint8[](1);
        reasons[0] = 2;
        fault = fault % 8;
        bytes memory expected;
        if (fault == 0) {
            // two included swapped
            (included[0], included[1]) = (included[1], included[0]);
            expected = abi.encodeWithSelector(
                IFederatedRounds.RoundsParticipantsNotAscending.selector, roundId, included[0], included[1]
            );
        } else if (fault == 1) {
            // the excluded one left out of both lists
            excluded = new address[](0);
            reasons = new uint8[](0);
            expected =
                abi.encodeWithSelector(IFederatedRounds.RoundsParticipantsMissing.selector, roundId, count - 1, count);
        } else if (fault == 2) {
            // an account that submitted nothing
            excluded[0] = address(uint160(all[count - 1]) + 1);
            expected = abi.encodeWithSelector(IFederatedRounds.RoundsNotSubmitter.selector, roundId, excluded[0]);
        } else if (fault == 3) {
            // included and excluded
            excluded[0] = included[0];
            expected = abi.encodeWithSelector(IFederatedRounds.RoundsListedTwice.selector, roundId, included[0]);
        } else if (fault == 4 || fault == 7) {
            reasons[0] = fault == 4 ? 0 : 4; // the codes are 1..3
            expected =
                abi.encodeWithSelector(IFederatedRounds.RoundsInvalidExclusionReason.selector, excluded[0], reasons[0]);
        } else if (fault == 5) {
            reasons = new uint8[](2);
            expected = abi.encodeWithSelector(IFederatedRounds.RoundsLengthMismatch.selector, 1, 2);
        } else {
            included = new address[](0);
            expected = abi.encodeWithSelector(IFederatedRounds.RoundsNothingIncluded.selector, roundId);
        }
        vm.expectRevert(expected);
        vm.prank(owner);
        rounds.finalizeRound(roundId, included, excluded, reasons, keccak256("aggregate"), 0);
    }

    /// A round short of its minimum cannot be finalized; once closed anyone may cancel it,
    /// while it is open only the owner or a maintainer may.
    function testFuzz_ARoundShortOfItsMinimumIsCancelled(uint256 submitted, address anyone) public {
        vm.assume(anyone != owner && anyone != address(vm));
        submitted = bound(submitted, 0, 3);
        uint256 roundId = _open(4, 8);
        for (uint256 i = 0; i < submitted; ++i) {
            _submit(roundId, i);
        }
        vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsNotMaintainer.selector, modelId, anyone));
        vm.prank(anyone);
        rounds.cancelRound(roundId);

        vm.warp(rounds.round(roundId).submissionDeadline + 1);
        address[] memory none = new address[](0);
        vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsTooFewUpdates.selector, roundId, submitted, 4));
        vm.prank(owner);
        rounds.finalizeRound(roundId, none, none, new uint8[](0), keccak256("aggregate"), 0);

        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundStateChanged(
            roundId, IFederatedRounds.RoundState.Open, IFederatedRounds.RoundState.Cancelled
        );
        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundCancelled(roundId, submitted, anyone);
        vm.prank(anyone);
        rounds.cancelRound(roundId);

        vm.expectRevert(
            abi.encodeWithSelector(
                IFederatedRounds.RoundsUnexpectedState.selector,
                roundId,
                IFederatedRounds.RoundState.Cancelled,
                IFederatedRounds.RoundState.Closed
            )
        );
        vm.prank(owner);
        rounds.cancelRound(roundId);
    }

    // ---------------------------------------------------------------- signed updates

    /// A signed update is bound to its round: relayed into another round (of this model or of
    /// another) it is not the contributor's signature.
    function testFuzz_ASignedUpdateCannotMoveToAnotherRound(address relayer, bool otherModel) public {
        vm.assume(relayer != address(vm));
        uint256 signedFor = _open(1, 5);
        uint256 target = _open(1, 5);
        if (otherModel) {
            uint256 other = _register(owner, "other");
            uint256 otherBase = _approvedVersion(other, BASE_DIGEST); // same base bytes
            IFederatedRounds.RoundTerms memory terms = _terms(1, 5, 1 hours);
            (terms.modelId, terms.baseVersionId) = (other, otherBase);
            vm.prank(owner);
            target = rounds.openRound(terms);
            address contributor = _contributor(0);
            vm.prank(owner);
            registry.grantRights(other, contributor, SUBMIT_UPDATES);
        }
        IFederatedRounds.SignedUpdate memory u = _signedUpdate(signedFor, 0);
        vm.expectRevert(abi.encodeWithSelector(ISignedActions.SignedActionInvalidSignature.selector, u.actor));
        vm.prank(relayer);
        rounds.submitUpdateBySig(
            target, u.baseDigest, u.updateDigest, u.sampleCount, u.actor, u.nonce, u.deadline, u.signature
        );

        vm.prank(relayer);
        rounds.submitUpdateBySig(
            signedFor, u.baseDigest, u.updateDigest, u.sampleCount, u.actor, u.nonce, u.deadline, u.signature
        );
        assertEq(rounds.nonces(u.actor), 1, "nonce used once");
        assertEq(rounds.round(signedFor).updateCount, 1, "recorded where signed");
        assertEq(rounds.round(target).updateCount, 0, "not where relayed");
    }

    /// A batch records every signed update in order, or none: one refused update (here a
    /// duplicate) reverts the whole batch with its own error and uses no nonce.
    function testFuzz_ABatchIsAllOrNothing(uint256 size, uint256 duplicateAt) public {
        size = bound(size, 1, 8);
        uint256 roundId = _open(1, 16);
        IFederatedRounds.SignedUpdate[] memory batch = new IFederatedRounds.SignedUpdate[](size);
        for (uint256 i = 0; i < size; ++i) {
            batch[i] = _signedUpdate(roundId, i);
        }
        if (duplicateAt % 2 == 1 && size > 1) {
            uint256 at = 1 + (duplicateAt >> 1) % (size - 1);
            batch[at] = _signedUpdate(roundId, 0, 1); // contributor 0 again, its next nonce: a duplicate
            vm.expectRevert(
                abi.encodeWithSelector(IFederatedRounds.RoundsAlreadySubmitted.selector, roundId, batch[0].actor)
            );
            rounds.submitUpdatesBySig(batch);
            assertEq(rounds.round(roundId).updateCount, 0, "none recorded");
            assertEq(rounds.nonces(batch[0].actor), 0, "no nonce used");
            return;
        }
        for (uint256 i = 0; i < size; ++i) {
            vm.expectEmit(true, true, true, true, address(rounds));
            emit IFederatedRounds.UpdateSubmitted(roundId, batch[i].actor, batch[i].updateDigest, 100 + i, i);
        }
        rounds.submitUpdatesBySig(batch);
        assertEq(rounds.round(roundId).updateCount, size, "all recorded");
        for (uint256 i = 0; i < size; ++i) {
            assertEq(rounds.nonces(batch[i].actor), 1, "one nonce each");
        }
    }

    function test_AnEmptyBatchIsRefused() public {
        vm.expectRevert(abi.encodeWithSelector(IFederatedRounds.RoundsEmptyBatch.selector));
        rounds.submitUpdatesBySig(new IFederatedRounds.SignedUpdate[](0));
    }

    /// Open, close, finalize and cancel run as their signer when relayed by anyone.
    function testFuzz_SignedRoundActionsRunAsTheirSigner(address relayer) public {
        vm.assume(relayer != address(vm));
        uint256 ownerKey = keyOf(0);
        uint256 deadline = block.timestamp + 1 hours;
        IFederatedRounds.RoundTerms memory terms = _terms(1, 4, 1 hours);
        bytes32 h = keccak256(abi.encode(_typeHash(OPEN_ROUND_TYPE), terms, owner, uint256(0), deadline));
        vm.prank(relayer);
        uint256 roundId = rounds.openRoundBySig(terms, owner, 0, deadline, _sign(ownerKey, address(rounds), h));
        address participant = _submit(roundId, 0);

        h = keccak256(abi.encode(_typeHash(CLOSE_ROUND_TYPE), roundId, owner, uint256(1), deadline));
        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundClosed(roundId, IFederatedRounds.CloseReason.ClosedEarly, 1, owner);
        vm.prank(relayer);
        rounds.closeRoundBySig(roundId, owner, 1, deadline, _sign(ownerKey, address(rounds), h));

        uint256 versionId = _finalizeBySig(relayer, roundId, participant, deadline);
        assertEq(registry.version(versionId).proposer, owner, "proposer is the signer");
        assertTrue(rounds.round(roundId).inclusionRoot == _leaf(roundId, participant), "one leaf is the root");

        uint256 second = _open(1, 4);
        h = keccak256(abi.encode(_typeHash(CANCEL_ROUND_TYPE), second, owner, uint256(3), deadline));
        vm.expectEmit(true, true, true, true, address(rounds));
        emit IFederatedRounds.RoundCancelled(second, 0, owner);
        vm.prank(relayer);
        rounds.cancelRoundBySig(second, owner, 3, deadline, _sign(ownerKey, address(rounds), h));
        assertEq(rounds.nonces(owner), 4, "four signed actions");
    }

    /// @dev The owner's FinalizeRound of `roundId` including `participant` alone, nonce 2, relayed.
    function _finalizeBySig(address relayer, uint256 roundId, address participant, uint256 deadline)
        internal
        returns (uint256)
    {
        address[] memory included = new address[](1);
        included[0] = participant;
        address[] memory none = new address[](0);
        bytes32 h = keccak256(
            abi.encode(
                _typeHash(FINALIZE_ROUND_TYPE),
                roundId,
                keccak256(abi.encodePacked(included)),
                keccak256(abi.encodePacked(none)),
                keccak256(""),
                keccak256("aggregate"),
                bytes32(0),
                owner,
                uint256(2),
                deadline
            )
        );
        bytes memory signature = _sign(keyOf(0), address(rounds), h);
        vm.prank(relayer);
        return rounds.finalizeRoundBySig(
            roundId, included, none, new uint8[](0), keccak256("aggregate"), 0, owner, 2, deadline, signature
        );
    }

    /// Only the rounds contract records a round's aggregate in the registry.
    function testFuzz_OnlyTheRoundsContractRecordsAnAggregate(address caller) public {
        vm.assume(caller != address(rounds) && caller != address(vm));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.RegistryNotRoundsContract.selector, caller));
        vm.prank(caller);
        registry.proposeRoundAggregate(modelId, baseId, keccak256("aggregate"), 0, owner);
        assertEq(rounds.registry(), address(registry), "wired both ways");
    }
}
