// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title Ballots
 * @notice Tally of one yes/no decision by the consortium's members, packed in one storage slot.
 *
 * A ballot is opened with a snapshot of the electorate: the number of members at that moment
 * (`eligible`), the number of For votes that approve it (`required`, the quorum applied to that
 * number) and the block at which the snapshot was taken. Only accounts that were members before
 * that block may vote, so joining after a proposal cannot swing it.
 *
 * Outcome rules (checked after every vote, see {count}):
 * - Approved as soon as For votes reach `required`;
 * - Rejected as soon as For votes can no longer reach `required`, even if every eligible member
 *   who has not voted yet voted For;
 * - Rejected once the voting window ends without approval (see {effectiveStatus}: the contract
 *   reports it at once and anyone may record it with an event).
 */
library Ballots {
    /// @notice A vote's choice; numbered like OpenZeppelin Governor's `castVote` support values.
    enum Support {
        Against,
        For,
        Abstain
    }

    /// @notice Lifecycle of a ballot and of the record it decides. Proposed -> Approved | Rejected.
    enum Status {
        Proposed,
        Approved,
        Rejected
    }

    struct Ballot {
        uint64 deadline; // last timestamp (inclusive) at which a vote is accepted
        uint64 snapshotBlock; // members must have joined before this block to vote
        uint16 forVotes;
        uint16 againstVotes;
        uint16 abstainVotes;
        uint16 required; // For votes that approve
        uint16 eligible; // members at the snapshot
        Status status; // stored status; see effectiveStatus for the window's end
    }

    /// @dev Opens `ballot` now. `eligible` >= `required` >= 1 is the caller's invariant.
    function open(Ballot storage ballot, uint16 eligible, uint16 required, uint64 votingPeriod) internal {
        ballot.deadline = uint64(block.timestamp) + votingPeriod;
        ballot.snapshotBlock = uint64(block.number);
        ballot.required = required;
        ballot.eligible = eligible;
        // counts and status start at zero (Proposed)
    }

    /// @dev True once the voting window has ended.
    function isClosed(Ballot memory ballot) internal view returns (bool) {
        return block.timestamp > ballot.deadline;
    }

    /// @dev The status a reader should see: a Proposed ballot whose window has ended is Rejected.
    function effectiveStatus(Ballot memory ballot) internal view returns (Status) {
        if (ballot.status == Status.Proposed && isClosed(ballot)) {
            return Status.Rejected;
        }
        return ballot.status;
    }

    /**
     * @dev Adds one vote to the counts and returns the outcome it leads to (Proposed while still
     * undecided). The caller records a decided outcome through its own state setter.
     */
    function count(Ballot storage ballot, Support support) internal returns (Status) {
        Ballot memory b = ballot;
        if (support == Support.For) {
            b.forVotes += 1;
        } else if (support == Support.Against) {
            b.againstVotes += 1;
        } else {
            b.abstainVotes += 1;
        }
        ballot.forVotes = b.forVotes;
        ballot.againstVotes = b.againstVotes;
        ballot.abstainVotes = b.abstainVotes;
        return outcome(b);
    }

    /// @dev Outcome of the counts alone (ignores the window).
    function outcome(Ballot memory b) internal pure returns (Status) {
        if (b.forVotes >= b.required) {
            return Status.Approved;
        }
        uint256 cast = uint256(b.forVotes) + b.againstVotes + b.abstainVotes;
        uint256 outstanding = cast >= b.eligible ? 0 : b.eligible - cast;
        if (uint256(b.forVotes) + outstanding < b.required) {
            return Status.Rejected;
        }
        return Status.Proposed;
    }

    /// @dev For votes needed out of `members` at a quorum of `quorumBps` basis points, at least 1.
    function requiredVotes(uint256 members, uint256 quorumBps) internal pure returns (uint16) {
        uint256 required = (members * quorumBps + 9_999) / 10_000;
        return uint16(required == 0 ? 1 : required);
    }
}
