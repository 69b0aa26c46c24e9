// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IConsortium} from "../interfaces/IConsortium.sol";
import {Ballots} from "../utils/Ballots.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Membership ballots for any size of consortium and any quorum.
contract ConsortiumTest is LedgerFixture {
    /// A removal's ballot counts every member but the one it removes, who may not vote on it.
    function testFuzz_ARemovalBallotLeavesOutTheMemberItRemoves(
        uint256 members,
        uint256 quorumBps,
        uint256 subjectSeed,
        uint256 proposerSeed
    ) public {
        members = bound(members, 2, 12);
        quorumBps = bound(quorumBps, 1, 10_000);
        _deploy(members, uint64(quorumBps));
        address subject = accountOf(subjectSeed % members);
        address proposer = accountOf(proposerSeed % members); // the subject may propose it too
        uint16 required = Ballots.requiredVotes(members - 1, quorumBps);

        vm.expectEmit(true, true, true, true, address(consortium));
        emit IConsortium.ChangeProposed(
            1,
            IConsortium.ChangeKind.RemoveMember,
            subject,
            0,
            proposer,
            block.timestamp + PERIOD,
            required,
            members - 1
        );
        uint256 proposalId = _proposeChange(proposer, IConsortium.ChangeKind.RemoveMember, subject, 0);

        vm.expectRevert(abi.encodeWithSelector(IConsortium.ConsortiumVoterIsSubject.selector, proposalId, subject));
        _voteOnChange(subject, proposalId, Ballots.Support.Against);

        uint256 cast;
        for (uint256 i = 0; i < members; ++i) {
            address voter = accountOf(i);
            if (voter == subject) continue;
            cast += 1;
            if (cast == required) {
                vm.expectEmit(true, true, true, true, address(consortium));
                emit IConsortium.MemberRemoved(subject, members - 1);
            }
            _voteOnChange(voter, proposalId, Ballots.Support.For);
            if (cast == required) break;
        }
        assertEq(cast, required, "For votes needed");
        assertTrue(!consortium.isMember(subject), "removed");
        assertTrue(consortium.proposalStatus(proposalId) == Ballots.Status.Approved, "approved by the others alone");
    }

    /// The freeze: at a quorum of 100%, one silent member blocks every ballot that counts it,
    /// but not its own removal, after which the others govern again.
    function testFuzz_OneSilentMemberCannotFreezeGovernance(uint256 members, uint256 silentSeed) public {
        members = bound(members, 2, 12);
        _deploy(members, 10_000);
        uint256 silentIndex = bound(silentSeed, 0, members - 1);
        address silent = accountOf(silentIndex);
        address proposer = accountOf((silentIndex + 1) % members);

        uint256 removal = _proposeChange(proposer, IConsortium.ChangeKind.RemoveMember, silent, 0);
        for (uint256 i = 0; i < members; ++i) {
            if (accountOf(i) != silent) _voteOnChange(accountOf(i), removal, Ballots.Support.For);
        }
        assertTrue(!consortium.isMember(silent), "the silent member is removed");
        _nextBlock();

        // unanimity of those who remain now passes anything, e.g. lowering the quorum
        uint256 lower = _proposeChange(proposer, IConsortium.ChangeKind.SetQuorum, address(0), MAJORITY);
        for (uint256 i = 0; i < members; ++i) {
            if (accountOf(i) != silent) _voteOnChange(accountOf(i), lower, Ballots.Support.For);
        }
        assertEq(consortium.quorumBps(), MAJORITY, "governance moves again");
    }

    function testFuzz_QuorumIsOneTo10000BasisPoints(uint64 value) public {
        _deploy(3, MAJORITY);
        if (value == 0 || value > 10_000) {
            vm.expectRevert(abi.encodeWithSelector(IConsortium.ConsortiumInvalidQuorum.selector, uint256(value)));
        }
        vm.prank(accountOf(0));
        consortium.proposeChange(IConsortium.ChangeKind.SetQuorum, address(0), value);
    }

    function testFuzz_VotingPeriodIsAMinuteToAYear(uint64 value) public {
        _deploy(3, MAJORITY);
        if (value < 1 minutes || value > 365 days) {
            vm.expectRevert(abi.encodeWithSelector(IConsortium.ConsortiumInvalidVotingPeriod.selector, uint256(value)));
        }
        vm.prank(accountOf(0));
        consortium.proposeChange(IConsortium.ChangeKind.SetVotingPeriod, address(0), value);
    }
}
