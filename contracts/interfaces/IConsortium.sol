// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Ballots} from "../utils/Ballots.sol";
import {ISignedActions} from "./ISignedActions.sol";

/**
 * @title IConsortium
 * @notice The consortium's members and the two parameters of every vote: the quorum and the
 * voting period. Members are the voters of the ledger.
 *
 * Membership is governed by the members themselves: a member proposes a change (add a member,
 * remove a member, change the quorum, change the voting period), the members vote on it with the
 * same ballot rules as model versions, and an approved change is applied in the transaction of
 * the deciding vote. A member may also resign on its own. There is no admin key: the deployer
 * names the founding members and holds no power afterwards.
 *
 * The member a RemoveMember proposal would remove takes no part in that ballot: it may not vote
 * on it and is not counted among its eligible voters, so the quorum applies to the other members.
 * Otherwise a member that stopped answering could never be removed under a quorum of 100%, and
 * governance would be frozen for good.
 */
interface IConsortium is ISignedActions {
    enum ChangeKind {
        AddMember,
        RemoveMember,
        SetQuorum,
        SetVotingPeriod
    }

    /// @notice A membership change as proposed; `status` is the stored status (see proposalStatus).
    struct Proposal {
        ChangeKind kind;
        address account; // AddMember / RemoveMember
        uint64 value; // SetQuorum (basis points) / SetVotingPeriod (seconds)
        address proposer;
        Ballots.Ballot ballot;
    }

    // ---------------------------------------------------------------- errors

    /// @notice `account` is not a member; only members may do this.
    error ConsortiumNotMember(address account);
    /// @notice `account` is already a member.
    error ConsortiumAlreadyMember(address account);
    /// @notice The zero address cannot be a member.
    error ConsortiumInvalidMember(address account);
    /// @notice The change would leave the consortium without members.
    error ConsortiumLastMember(address account);
    /// @notice More members than a ballot can count (65535).
    error ConsortiumTooManyMembers(uint256 count);
    /// @notice A quorum is 1..10000 basis points of the members.
    error ConsortiumInvalidQuorum(uint256 quorumBps);
    /// @notice A voting period is 1 minute .. 365 days, in seconds.
    error ConsortiumInvalidVotingPeriod(uint256 votingPeriod);
    /// @notice No membership proposal has this id.
    error ConsortiumUnknownProposal(uint256 proposalId);
    /// @notice The proposal is in `current` state; the call needs `expected`.
    error ConsortiumUnexpectedProposalState(uint256 proposalId, Ballots.Status current, Ballots.Status expected);
    /// @notice The proposal's voting window ended at `deadline`.
    error ConsortiumVotingClosed(uint256 proposalId, uint256 deadline, uint256 timestamp);
    /// @notice The proposal's voting window is still open until `deadline`.
    error ConsortiumVotingOpen(uint256 proposalId, uint256 deadline);
    /// @notice `voter` already voted on this proposal.
    error ConsortiumAlreadyVoted(uint256 proposalId, address voter);
    /// @notice `voter` joined at or after the proposal's snapshot block and may not vote on it.
    error ConsortiumNotEligible(uint256 proposalId, address voter, uint256 memberSince, uint256 snapshotBlock);
    /// @notice `voter` is the member the proposal would remove and takes no part in its ballot.
    error ConsortiumVoterIsSubject(uint256 proposalId, address voter);

    // ---------------------------------------------------------------- events

    event MemberAdded(address indexed account, uint256 memberCount);
    event MemberRemoved(address indexed account, uint256 memberCount);
    event QuorumChanged(uint256 previousQuorumBps, uint256 quorumBps);
    event VotingPeriodChanged(uint256 previousVotingPeriod, uint256 votingPeriod);
    event ChangeProposed(
        uint256 indexed proposalId,
        ChangeKind kind,
        address indexed account,
        uint256 value,
        address indexed proposer,
        uint256 deadline,
        uint256 requiredVotes,
        uint256 eligibleVoters
    );
    event ChangeVoteCast(uint256 indexed proposalId, address indexed voter, Ballots.Support support);
    event ChangeStatusChanged(uint256 indexed proposalId, Ballots.Status previous, Ballots.Status current);

    // ---------------------------------------------------------------- actions

    /// @notice Propose a membership change; the caller must be a member. Returns the proposal id.
    /// The ballot counts the members now, less the member a RemoveMember proposal would remove.
    function proposeChange(ChangeKind kind, address account, uint64 value) external returns (uint256 proposalId);

    /// @notice `proposeChange` signed by `actor` (typed struct `ProposeChange`).
    function proposeChangeBySig(
        ChangeKind kind,
        address account,
        uint64 value,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 proposalId);

    /// @notice Vote on a membership proposal; an approving vote applies the change at once.
    function voteOnChange(uint256 proposalId, Ballots.Support support) external;

    /// @notice `voteOnChange` signed by `actor` (typed struct `VoteOnChange`).
    function voteOnChangeBySig(
        uint256 proposalId,
        Ballots.Support support,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Leave the consortium. The last member cannot leave.
    function resign() external;

    /// @notice `resign` signed by `actor` (typed struct `Resign`).
    function resignBySig(address actor, uint256 nonce, uint256 deadline, bytes calldata signature) external;

    /// @notice Record that a proposal's window ended without approval. Anyone may call it.
    function finalizeChange(uint256 proposalId) external;

    // ---------------------------------------------------------------- views

    function isMember(address account) external view returns (bool);

    /// @notice Block at which `account` last joined, 0 if it is not a member.
    function memberSince(address account) external view returns (uint256);

    function memberCount() external view returns (uint256);

    function members() external view returns (address[] memory);

    function quorumBps() external view returns (uint256);

    function votingPeriod() external view returns (uint256);

    /// @notice Members now, For votes that approve a ballot opened now, and the voting period
    /// (the ballot of a RemoveMember proposal counts one member fewer: see {proposeChange}).
    function ballotParameters() external view returns (uint16 eligible, uint16 required, uint64 period);

    function proposalCount() external view returns (uint256);

    function proposal(uint256 proposalId) external view returns (Proposal memory);

    /// @notice The proposal's status, Rejected once its window ended without approval.
    function proposalStatus(uint256 proposalId) external view returns (Ballots.Status);

    /// @notice 0 if `voter` has not voted on the proposal, else 1 + its Support value.
    function changeVoteOf(uint256 proposalId, address voter) external view returns (uint8);
}
