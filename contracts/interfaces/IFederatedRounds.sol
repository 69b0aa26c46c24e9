// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ballots} from "../utils/Ballots.sol";
import {ISignedActions} from "./ISignedActions.sol";

/**
 * @title IFederatedRounds
 * @notice Federated training rounds of the models in a {IModelRegistry}: who contributed which
 * update to which round, which updates went into the aggregate, and which did not and why.
 *
 * - The model's owner or a maintainer opens a round at an Approved version of the model (the
 *   round's base), naming the aggregation rule, a digest of its parameters, the minimum and
 *   maximum number of updates, a submission deadline and a bound on an update's L2 norm.
 * - A participant holding the SubmitUpdates right on the model at that moment records one
 *   update per round: the digest of its update, the digest of the base it trained from (it must
 *   be the round's) and its sample count. Relayers record signed updates singly or in batches.
 * - The round closes at its deadline (views report it at once; anyone may record it), when its
 *   maximum number of updates is reached (in that transaction), or earlier by the owner or a
 *   maintainer.
 * - The owner or a maintainer finalizes a closed round with at least its minimum of updates: it
 *   names the included and the excluded participants (each list strictly ascending, together
 *   exactly the round's submitters, at least one included), a reason code per exclusion, and
 *   the aggregate's digests. The contract computes the Merkle root of the included updates and
 *   records the aggregate in the registry as a version of kind Aggregate whose parent is the
 *   round's base and whose proposer is the finalizing account; members vote on it like on any
 *   version.
 * - A round is cancelled by the owner or a maintainer at any time before it is finalized, and
 *   by anyone once it is closed with fewer updates than its minimum (it can never be finalized).
 *
 * Lifecycle: Open -> Closed -> Finalized, and Open | Closed -> Cancelled.
 *
 * Inclusion commitment: leaf = keccak256(abi.encode(participant, updateDigest, sampleCount)) for
 * each included update, leaves in ascending participant-address order; each level pairs
 * neighbours with OpenZeppelin's `Hashes.commutativeKeccak256` and carries an odd last node up
 * unchanged, up to one root (the leaf itself when one update is included). A member proves its
 * inclusion with OpenZeppelin's `MerkleProof.verify(proof, inclusionRoot, leaf)`.
 *
 * Exclusion reasons: 1 = not selected by the rule (e.g. Krum, trimmed mean), 2 = bytes
 * unavailable or corrupt at aggregation, 3 = fails validation (format, base, norm bound).
 */
interface IFederatedRounds is ISignedActions {
    enum RoundState {
        Open,
        Closed,
        Finalized,
        Cancelled
    }

    enum CloseReason {
        DeadlinePassed, // recorded by anyone once the submission deadline has passed
        MaxUpdatesReached, // by the submission that reached the maximum, in its transaction
        ClosedEarly // by the owner or a maintainer before the deadline
    }

    /// @notice What a round is opened with ({openRound}); one argument, as a struct, because
    /// eight arguments and a signature are more than the EVM's stack reaches in one call.
    struct RoundTerms {
        uint256 modelId;
        uint256 baseVersionId; // an Approved version of the model
        bytes32 rule; // ASCII name of the aggregation rule, zero-padded ("fedavg", "krum", ...)
        bytes32 paramsDigest; // digest of the rule's parameters (in the content store)
        uint32 minUpdates; // >= 1: fewer and the round cannot be finalized
        uint32 maxUpdates; // >= minUpdates: the round closes when it has this many
        uint64 submissionDeadline; // last timestamp (inclusive) at which an update is accepted
        uint256 maxNorm; // bound on an update's L2 norm, in micro-units (1e6 = 1.0), non-zero
    }

    struct Round {
        uint256 modelId;
        uint256 baseVersionId;
        bytes32 baseDigest; // the base version's artifact digest; every update must name it
        bytes32 rule; // ASCII name of the aggregation rule, zero-padded ("fedavg", "krum", ...)
        bytes32 paramsDigest; // digest of the rule's parameters (in the content store)
        uint256 maxNorm; // bound on an update's L2 norm, in micro-units (1e6 = 1.0)
        uint64 submissionDeadline; // last timestamp (inclusive) at which an update is accepted
        uint32 minUpdates;
        uint32 maxUpdates;
        uint32 updateCount;
        uint32 includedCount; // set when finalized
        uint32 excludedCount; // set when finalized
        RoundState state; // stored state; see roundState for the deadline
        uint256 aggregateVersionId; // set when finalized
        bytes32 inclusionRoot; // set when finalized
    }

    /// @notice A recorded update; all zero if the participant submitted none to the round.
    struct Update {
        bytes32 updateDigest;
        uint256 sampleCount;
        uint256 index; // position in submission order, from 0
    }

    /// @notice One signed `SubmitUpdate` action, as {submitUpdateBySig} takes it.
    struct SignedUpdate {
        uint256 roundId;
        bytes32 baseDigest;
        bytes32 updateDigest;
        uint256 sampleCount;
        address actor;
        uint256 nonce;
        uint256 deadline;
        bytes signature;
    }

    // ---------------------------------------------------------------- errors

    /// @notice No round has this id.
    error RoundsUnknownRound(uint256 roundId);
    /// @notice The round is in `current` state; the call needs `expected`. (Cancelling accepts
    /// Open or Closed and reports Closed as `expected`.)
    error RoundsUnexpectedState(uint256 roundId, RoundState current, RoundState expected);
    /// @notice Only the model's owner or a holder of the Maintain right may do this (now).
    error RoundsNotMaintainer(uint256 modelId, address account);
    /// @notice A round's base must be an Approved version of its model.
    error RoundsBaseNotApproved(uint256 versionId, Ballots.Status current);
    /// @notice The version `versionId` belongs to model `actualModelId`, not to `modelId`.
    error RoundsVersionOfOtherModel(uint256 versionId, uint256 actualModelId, uint256 modelId);
    /// @notice A round names its aggregation rule (non-zero).
    error RoundsInvalidRule(bytes32 rule);
    /// @notice 1 <= minUpdates <= maxUpdates.
    error RoundsInvalidUpdateBounds(uint256 minUpdates, uint256 maxUpdates);
    /// @notice A submission deadline must be later than the block's timestamp.
    error RoundsInvalidSubmissionDeadline(uint256 submissionDeadline, uint256 timestamp);
    /// @notice The norm bound must be non-zero (micro-units; 1e6 = 1.0).
    error RoundsInvalidNormBound(uint256 maxNorm);
    /// @notice The round's submission window ended at `submissionDeadline`.
    error RoundsSubmissionClosed(uint256 roundId, uint256 submissionDeadline, uint256 timestamp);
    /// @notice The update names `given` as its base; the round's base digest is `baseDigest`.
    error RoundsWrongBaseDigest(uint256 roundId, bytes32 baseDigest, bytes32 given);
    /// @notice An update's digest must be non-zero.
    error RoundsInvalidUpdateDigest(bytes32 updateDigest);
    /// @notice A sample count is 1 .. 2^64 - 1.
    error RoundsInvalidSampleCount(uint256 sampleCount);
    /// @notice `account` does not hold the SubmitUpdates right on the model now.
    error RoundsNotContributor(uint256 modelId, address account);
    /// @notice `participant` already submitted its update to the round.
    error RoundsAlreadySubmitted(uint256 roundId, address participant);
    /// @notice The round has `updateCount` updates, fewer than its minimum.
    error RoundsTooFewUpdates(uint256 roundId, uint256 updateCount, uint256 minUpdates);
    /// @notice Each excluded participant needs one reason code.
    error RoundsLengthMismatch(uint256 excludedCount, uint256 reasonCount);
    /// @notice An aggregate includes at least one update.
    error RoundsNothingIncluded(uint256 roundId);
    /// @notice A participant list must be strictly ascending: `next` follows `previous`.
    error RoundsParticipantsNotAscending(uint256 roundId, address previous, address next);
    /// @notice `account` submitted no update to the round.
    error RoundsNotSubmitter(uint256 roundId, address account);
    /// @notice `participant` is both included and excluded.
    error RoundsListedTwice(uint256 roundId, address participant);
    /// @notice The lists name `listed` submitters of the round's `updateCount`; name them all.
    error RoundsParticipantsMissing(uint256 roundId, uint256 listed, uint256 updateCount);
    /// @notice An exclusion reason is 1 (not selected), 2 (unavailable) or 3 (invalid).
    error RoundsInvalidExclusionReason(address participant, uint8 reason);
    /// @notice A batch of signed updates holds at least one.
    error RoundsEmptyBatch();

    // ---------------------------------------------------------------- events

    event RoundOpened(
        uint256 indexed roundId,
        uint256 indexed modelId,
        uint256 indexed baseVersionId,
        bytes32 baseDigest,
        bytes32 rule,
        bytes32 paramsDigest,
        uint256 minUpdates,
        uint256 maxUpdates,
        uint256 submissionDeadline,
        uint256 maxNorm,
        address by
    );
    event UpdateSubmitted(
        uint256 indexed roundId,
        address indexed participant,
        bytes32 updateDigest,
        uint256 sampleCount,
        uint256 index
    );
    /// @notice Emitted by the one writer of a round's state, on every transition.
    event RoundStateChanged(uint256 indexed roundId, RoundState previous, RoundState current);
    event RoundClosed(uint256 indexed roundId, CloseReason reason, uint256 updateCount, address by);
    event UpdateExcluded(uint256 indexed roundId, address indexed participant, uint8 reason);
    /// @notice The registry's `VersionProposed` for `aggregateVersionId`, in the same transaction,
    /// carries the aggregate's metadata digest, parent (the base) and ballot.
    event RoundFinalized(
        uint256 indexed roundId,
        uint256 indexed aggregateVersionId,
        bytes32 aggregateDigest,
        bytes32 inclusionRoot,
        uint256 includedCount,
        uint256 excludedCount,
        address by
    );
    event RoundCancelled(uint256 indexed roundId, uint256 updateCount, address by);

    // ---------------------------------------------------------------- actions
    // Each action has a `...BySig` twin: same arguments, then (actor, nonce, deadline, signature),
    // signed as the EIP-712 struct named after the action in the domain "GovLedger
    // FederatedRounds", version "1" (see docs/ARCHITECTURE.md).

    /// @notice Open a round of model `terms.modelId` at its Approved version `terms.baseVersionId`
    /// (owner or maintainer). Returns the round's id. The signed twin's EIP-712 struct `OpenRound`
    /// lists the terms' fields in order, then actor, nonce and deadline.
    function openRound(RoundTerms calldata terms) external returns (uint256 roundId);

    function openRoundBySig(
        RoundTerms calldata terms,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 roundId);

    /// @notice Record the caller's update to an Open round: it must hold SubmitUpdates on the
    /// model now, name the round's base digest, and count at least one sample. One per round.
    function submitUpdate(uint256 roundId, bytes32 baseDigest, bytes32 updateDigest, uint256 sampleCount) external;

    function submitUpdateBySig(
        uint256 roundId,
        bytes32 baseDigest,
        bytes32 updateDigest,
        uint256 sampleCount,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Record several signed updates in one transaction, in order, all or nothing: if
    /// one is refused, the transaction reverts with that update's own error and records none.
    function submitUpdatesBySig(SignedUpdate[] calldata updates) external;

    /// @notice Close an Open round: anyone once its deadline has passed, before that only the
    /// model's owner or a maintainer.
    function closeRound(uint256 roundId) external;

    function closeRoundBySig(
        uint256 roundId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Finalize a Closed round (or an Open one past its deadline, which is closed first)
    /// with at least its minimum of updates (owner or maintainer): `included` and `excluded`
    /// each strictly ascending and together exactly the round's submitters, one reason (1..3)
    /// per excluded participant, at least one included. Records the aggregate as a version of
    /// kind Aggregate whose parent is the round's base; returns its id.
    function finalizeRound(
        uint256 roundId,
        address[] memory included,
        address[] memory excluded,
        uint8[] memory reasons,
        bytes32 aggregateDigest,
        bytes32 metadataDigest
    ) external returns (uint256 aggregateVersionId);

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
    ) external returns (uint256 aggregateVersionId);

    /// @notice Cancel a round that is not finalized: the owner or a maintainer at any time,
    /// anyone once it is closed with fewer updates than its minimum.
    function cancelRound(uint256 roundId) external;

    function cancelRoundBySig(
        uint256 roundId,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    // ---------------------------------------------------------------- views

    /// @notice The {IModelRegistry} whose models the rounds train (it deployed this contract).
    function registry() external view returns (address);

    function roundCount() external view returns (uint256);

    function round(uint256 roundId) external view returns (Round memory);

    /// @notice The round's state, Closed once an Open round's deadline has passed.
    function roundState(uint256 roundId) external view returns (RoundState);

    /// @notice The update `participant` recorded in the round; all zero if none.
    function updateOf(uint256 roundId, address participant) external view returns (Update memory);

    /// @notice The round's participants, in submission order.
    function submitters(uint256 roundId) external view returns (address[] memory);
}
