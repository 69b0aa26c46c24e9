// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Consortium} from "../../Consortium.sol";
import {FederatedRounds} from "../../FederatedRounds.sol";
import {ModelRegistry} from "../../ModelRegistry.sol";
import {IConsortium} from "../../interfaces/IConsortium.sol";
import {IFederatedRounds} from "../../interfaces/IFederatedRounds.sol";
import {IModelRegistry} from "../../interfaces/IModelRegistry.sol";
import {Ballots} from "../../utils/Ballots.sol";
import {TestBase} from "../utils/TestBase.sol";
import {LedgerHandler} from "./LedgerHandler.sol";
import {RoundsHandler} from "./RoundsHandler.sol";

/**
 * @title LedgerInvariantsTest
 * @notice Properties that hold after any sequence of actions by any actors, plain or signed,
 * forged or replayed, at any times: forge calls random {LedgerHandler} and {RoundsHandler}
 * functions (the ledger's actions and its federated rounds, interleaved) and checks every
 * `invariant_*` after each call.
 */
contract LedgerInvariantsTest is TestBase {
    LedgerHandler internal handler;
    RoundsHandler internal roundsHandler;
    Consortium internal consortium;
    ModelRegistry internal registry;
    FederatedRounds internal rounds;

    function setUp() public {
        handler = new LedgerHandler();
        roundsHandler = new RoundsHandler(handler);
        consortium = handler.consortium();
        registry = handler.registry();
        rounds = roundsHandler.rounds();
        _targetContract(address(handler));
        _targetContract(address(roundsHandler));
        bytes4[] memory selectors = new bytes4[](16);
        selectors[0] = LedgerHandler.registerModel.selector;
        selectors[1] = LedgerHandler.proposeVersion.selector;
        selectors[2] = LedgerHandler.castVote.selector;
        selectors[3] = LedgerHandler.castVote.selector; // votes decide most, so twice as often
        selectors[4] = LedgerHandler.moveAlias.selector;
        selectors[5] = LedgerHandler.transferModelOwnership.selector;
        selectors[6] = LedgerHandler.acceptModelOwnership.selector;
        selectors[7] = LedgerHandler.changeRights.selector;
        selectors[8] = LedgerHandler.finalizeVersion.selector;
        selectors[9] = LedgerHandler.proposeChange.selector;
        selectors[10] = LedgerHandler.voteOnChange.selector;
        selectors[11] = LedgerHandler.resign.selector;
        selectors[12] = LedgerHandler.finalizeChange.selector;
        selectors[13] = LedgerHandler.passTime.selector;
        selectors[14] = LedgerHandler.forgeVote.selector;
        selectors[15] = LedgerHandler.replayLastSigned.selector;
        _targetSelectors(address(handler), selectors);
        bytes4[] memory roundSelectors = new bytes4[](11);
        roundSelectors[0] = RoundsHandler.prepareBase.selector;
        roundSelectors[1] = RoundsHandler.openRound.selector;
        roundSelectors[2] = RoundsHandler.submitUpdate.selector;
        roundSelectors[3] = RoundsHandler.submitUpdate.selector; // updates are most of a round
        roundSelectors[4] = RoundsHandler.submitBatch.selector;
        roundSelectors[5] = RoundsHandler.closeRound.selector;
        roundSelectors[6] = RoundsHandler.finalizeRound.selector;
        roundSelectors[7] = RoundsHandler.finalizeRound.selector;
        roundSelectors[8] = RoundsHandler.cancelRound.selector;
        roundSelectors[9] = RoundsHandler.replayLastSigned.selector;
        roundSelectors[10] = RoundsHandler.enrol.selector;
        _targetSelectors(address(roundsHandler), roundSelectors);
    }

    /// A version's and a proposal's state moves only Proposed -> Approved | Rejected.
    function invariant_StatesOnlyMoveFromProposedToApprovedOrRejected() public view {
        assertTrue(bytes(handler.violation()).length == 0, handler.violation());
    }

    /// An alias is unset or names an Approved version of its own model.
    function invariant_AnAliasNamesAnApprovedVersionOfItsOwnModel() public view {
        bytes32[2] memory names = handler.aliasNames();
        uint256 models = registry.modelCount();
        for (uint256 modelId = 1; modelId <= models; ++modelId) {
            for (uint256 n = 0; n < names.length; ++n) {
                uint256 versionId = registry.aliasOf(modelId, names[n]);
                if (versionId == 0) continue;
                assertEq(registry.version(versionId).modelId, modelId, "alias of another model's version");
                assertTrue(
                    registry.versionState(versionId) == Ballots.Status.Approved, "alias of an unapproved version"
                );
            }
        }
    }

    /// A version's parent is an Approved version of the same model; derived kinds have one.
    function invariant_AParentIsAnApprovedVersionOfTheSameModel() public view {
        uint256 versions = registry.versionCount();
        for (uint256 id = 1; id <= versions; ++id) {
            IModelRegistry.Version memory v = registry.version(id);
            if (v.parentId == 0) {
                assertTrue(v.kind == IModelRegistry.VersionKind.Base, "derived version without parent");
                continue;
            }
            assertEq(registry.version(v.parentId).modelId, v.modelId, "parent of another model");
            assertTrue(registry.versionState(v.parentId) == Ballots.Status.Approved, "unapproved parent");
        }
    }

    /// No ballot counts more votes than it has eligible voters; 1 <= required <= eligible.
    function invariant_VotesCastNeverExceedTheEligibleVoters() public view {
        uint256 versions = registry.versionCount();
        for (uint256 id = 1; id <= versions; ++id) {
            _checkBallot(registry.version(id).ballot);
        }
        uint256 proposals = consortium.proposalCount();
        for (uint256 id = 1; id <= proposals; ++id) {
            _checkBallot(consortium.proposal(id).ballot);
        }
    }

    function _checkBallot(Ballots.Ballot memory b) internal pure {
        uint256 cast = uint256(b.forVotes) + b.againstVotes + b.abstainVotes;
        assertLe(cast, b.eligible, "votes cast > eligible voters");
        assertTrue(b.required >= 1, "a ballot needs at least one vote");
        assertLe(b.required, b.eligible, "required > eligible");
    }

    /// An actor's nonce on each contract is exactly the number of its signed actions that
    /// contract accepted: +1 per accepted action, nothing for refused, forged or replayed ones.
    function invariant_NoncesCountExactlyTheAcceptedSignedActions() public view {
        address[] memory actors = handler.actors();
        for (uint256 i = 0; i < actors.length; ++i) {
            assertEq(
                registry.nonces(actors[i]),
                handler.acceptedSignedActions(address(registry), actors[i]),
                "registry nonce"
            );
            assertEq(
                consortium.nonces(actors[i]),
                handler.acceptedSignedActions(address(consortium), actors[i]),
                "consortium nonce"
            );
            assertEq(rounds.nonces(actors[i]), roundsHandler.acceptedSignedActions(actors[i]), "rounds nonce");
        }
    }

    /// The consortium always has a member, and its quorum and voting period stay in bounds.
    function invariant_TheConsortiumIsNeverEmptyAndItsParametersStayInBounds() public view {
        uint256 count = consortium.memberCount();
        assertTrue(count >= 1, "no members");
        assertEq(consortium.members().length, count, "member list");
        (uint16 eligible, uint16 required,) = consortium.ballotParameters();
        assertEq(eligible, count, "eligible");
        assertTrue(required >= 1 && required <= eligible, "required");
        uint256 quorum = consortium.quorumBps();
        assertTrue(quorum >= 1 && quorum <= 10_000, "quorum out of bounds");
        uint256 period = consortium.votingPeriod();
        assertTrue(period >= 1 minutes && period <= 365 days, "voting period out of bounds");
        address[] memory members = consortium.members();
        for (uint256 i = 0; i < members.length; ++i) {
            assertTrue(consortium.memberSince(members[i]) != 0, "a member without a join block");
        }
    }

    /// The owner of every model holds every right, and is never its own pending owner.
    function invariant_TheOwnerAlwaysHoldsEveryRight() public view {
        uint256 models = registry.modelCount();
        for (uint256 modelId = 1; modelId <= models; ++modelId) {
            IModelRegistry.Model memory m = registry.model(modelId);
            assertEq(registry.rightsOf(modelId, m.owner), 7, "owner's rights");
            assertTrue(registry.canRead(modelId, m.owner), "owner may read");
            assertTrue(registry.canSubmitUpdates(modelId, m.owner), "owner may submit updates");
            assertTrue(m.pendingOwner != m.owner, "owner is its own pending owner");
            assertEq(registry.pendingOwnerOf(modelId), m.pendingOwner, "pendingOwnerOf");
        }
    }

    // ================================================================ federated rounds

    /// A round's state moves only Open -> Closed -> Finalized and Open | Closed -> Cancelled; a
    /// stored state other than Open is what the views report, and an Open round reads Closed
    /// exactly once its deadline has passed.
    function invariant_RoundStatesOnlyMoveAlongTheirLifecycle() public view {
        string memory violation = roundsHandler.stateViolation();
        assertTrue(bytes(violation).length == 0, violation);
    }

    /// A round holds at most its maximum of updates, each from a distinct participant that held
    /// SubmitUpdates on the model when it was accepted, and no participant got two accepted.
    function invariant_EachUpdateIsAContributorsOnlyOneWithinTheMaximum() public view {
        string memory violation = roundsHandler.updateViolation();
        assertTrue(bytes(violation).length == 0, violation);
        uint256 count = rounds.roundCount();
        for (uint256 id = 1; id <= count; ++id) {
            IFederatedRounds.Round memory r = rounds.round(id);
            assertLe(r.updateCount, r.maxUpdates, "updates > maximum");
            address[] memory listed = rounds.submitters(id);
            assertEq(listed.length, r.updateCount, "submitters");
            for (uint256 k = 0; k < listed.length; ++k) {
                assertEq(rounds.updateOf(id, listed[k]).index, k, "submission order");
                assertEq(roundsHandler.acceptedUpdates(id, listed[k]), 1, "accepted once");
            }
        }
    }

    /// A finalized round's aggregate is a version of kind Aggregate of the round's model whose
    /// parent is the round's base, with at least its minimum of updates, one included at least.
    function invariant_AFinalizedRoundsAggregateIsAnAggregateOfItsBase() public view {
        uint256 count = rounds.roundCount();
        for (uint256 id = 1; id <= count; ++id) {
            IFederatedRounds.Round memory r = rounds.round(id);
            if (r.state != IFederatedRounds.RoundState.Finalized) {
                assertEq(r.aggregateVersionId, 0, "an aggregate before finalization");
                continue;
            }
            IModelRegistry.Version memory v = registry.version(r.aggregateVersionId);
            assertTrue(v.kind == IModelRegistry.VersionKind.Aggregate, "aggregate kind");
            assertEq(v.modelId, r.modelId, "aggregate of another model");
            assertEq(v.parentId, r.baseVersionId, "aggregate of another base");
            assertTrue(r.updateCount >= r.minUpdates && r.includedCount >= 1, "counts");
            assertEq(r.includedCount + r.excludedCount, r.updateCount, "included + excluded");
        }
    }
}
