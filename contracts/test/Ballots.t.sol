// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ballots} from "../utils/Ballots.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice The tally's arithmetic over its whole input range.
contract BallotsTest is TestBase {
    /// required = max(1, ceil(members x quorum / 10000)), never more than the members.
    function testFuzz_RequiredVotesIsTheQuorumRoundedUp(uint256 members, uint256 quorumBps) public pure {
        members = bound(members, 1, type(uint16).max);
        quorumBps = bound(quorumBps, 1, 10_000);

        uint256 required = Ballots.requiredVotes(members, quorumBps);

        assertTrue(required >= 1, "at least one vote");
        assertLe(required, members, "no more votes than members");
        assertTrue(required * 10_000 >= members * quorumBps, "reaches the quorum");
        assertTrue(required == 1 || (required - 1) * 10_000 < members * quorumBps, "the least that does");
    }

    /// Approved once For reaches required; Rejected once For plus the votes outstanding cannot.
    function testFuzz_OutcomeOfAnyCount(
        uint256 eligible,
        uint256 quorumBps,
        uint256 forVotes,
        uint256 againstVotes,
        uint256 abstainVotes
    ) public pure {
        eligible = bound(eligible, 1, 200);
        quorumBps = bound(quorumBps, 1, 10_000);
        forVotes = bound(forVotes, 0, eligible);
        againstVotes = bound(againstVotes, 0, eligible - forVotes);
        abstainVotes = bound(abstainVotes, 0, eligible - forVotes - againstVotes);
        uint16 required = Ballots.requiredVotes(eligible, quorumBps);
        Ballots.Ballot memory b;
        b.eligible = uint16(eligible);
        b.required = required;
        b.forVotes = uint16(forVotes);
        b.againstVotes = uint16(againstVotes);
        b.abstainVotes = uint16(abstainVotes);

        Ballots.Status status = Ballots.outcome(b);

        uint256 outstanding = eligible - forVotes - againstVotes - abstainVotes;
        if (forVotes >= required) {
            assertTrue(status == Ballots.Status.Approved, "approved");
        } else if (forVotes + outstanding < required) {
            assertTrue(status == Ballots.Status.Rejected, "rejected");
        } else {
            assertTrue(status == Ballots.Status.Proposed, "undecided");
        }
    }
}
