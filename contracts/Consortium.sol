// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {IConsortium} from "./interfaces/IConsortium.sol";
import {Ballots} from "./utils/Ballots.sol";
import {SignedActions} from "./utils/SignedActions.sol";

/**
 * @title Consortium
 * @notice Members of the consortium, governed by their own votes. See {IConsortium}.
 */
contract Consortium is IConsortium, SignedActions {
    using EnumerableSet for EnumerableSet.AddressSet;
    using Ballots for Ballots.Ballot;

    uint256 private constant _MAX_QUORUM_BPS = 10_000;
    uint256 private constant _MIN_VOTING_PERIOD = 1 minutes;
    uint256 private constant _MAX_VOTING_PERIOD = 365 days;

    bytes32 private constant _PROPOSE_CHANGE_TYPEHASH = keccak256(
        "ProposeChange(uint8 kind,address account,uint64 value,address actor,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _VOTE_ON_CHANGE_TYPEHASH =
        keccak256("VoteOnChange(uint256 proposalId,uint8 support,address actor,uint256 nonce,uint256 deadline)");
    bytes32 private constant _RESIGN_TYPEHASH = keccak256("Resign(address actor,uint256 nonce,uint256 deadline)");

    EnumerableSet.AddressSet private _members;
    mapping(address account => uint64) private _memberSince;
    uint64 private _quorumBps;
    uint64 private _votingPeriod;

    Proposal[] private _proposals; // proposal id = index + 1
    mapping(uint256 proposalId => mapping(address voter => uint8)) private _votes;

    /**
     * @param founders the founding members (at least one, no duplicates, no zero address)
     * @param initialQuorumBps For votes that approve a ballot, in basis points of the members
     * @param initialVotingPeriod seconds a ballot stays open
     */
    constructor(
        address[] memory founders,
        uint64 initialQuorumBps,
        uint64 initialVotingPeriod
    ) SignedActions("GovLedger Consortium") {
        if (founders.length == 0) {
            revert ConsortiumLastMember(address(0));
        }
        for (uint256 i = 0; i < founders.length; ++i) {
            _addMember(founders[i]);
        }
        _setQuorum(initialQuorumBps);
        _setVotingPeriod(initialVotingPeriod);
    }

    // ---------------------------------------------------------------- actions

    /// @inheritdoc IConsortium
    function proposeChange(ChangeKind kind, address account, uint64 value) external returns (uint256) {
        return _proposeChange(msg.sender, kind, account, value);
    }

    /// @inheritdoc IConsortium
    function proposeChangeBySig(
        ChangeKind kind,
        address account,
        uint64 value,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256) {
        bytes32 structHash = keccak256(
            abi.encode(_PROPOSE_CHANGE_TYPEHASH, kind, account, value, actor, nonce, deadline)
        );
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        return _proposeChange(actor, kind, account, value);
    }

    /// @inheritdoc IConsortium
    function voteOnChange(uint256 proposalId, Ballots.Support support) external {
        _voteOnChange(msg.sender, proposalId, support);
    }

    /// @inheritdoc IConsortium
    function voteOnChangeBySig(
        uint256 proposalId,
        Ballots.Support support,
        address actor,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(_VOTE_ON_CHANGE_TYPEHASH, proposalId, support, actor, nonce, deadline)
        );
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _voteOnChange(actor, proposalId, support);
    }

    /// @inheritdoc IConsortium
    function resign() external {
        _resign(msg.sender);
    }

    /// @inheritdoc IConsortium
    function resignBySig(address actor, uint256 nonce, uint256 deadline, bytes calldata signature) external {
        bytes32 structHash = keccak256(abi.encode(_RESIGN_TYPEHASH, actor, nonce, deadline));
        _useSignedAction(actor, structHash, nonce, deadline, signature);
        _resign(actor);
    }

    /// @inheritdoc IConsortium
    function finalizeChange(uint256 proposalId) external {
        Ballots.Ballot memory ballot = _proposal(proposalId).ballot;
        if (ballot.status != Ballots.Status.Proposed) {
            revert ConsortiumUnexpectedProposalState(proposalId, ballot.status, Ballots.Status.Proposed);
        }
        if (!ballot.isClosed()) {
            revert ConsortiumVotingOpen(proposalId, ballot.deadline);
        }
        _setProposalStatus(proposalId, Ballots.Status.Rejected);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IConsortium
    function isMember(address account) external view returns (bool) {
        return _members.contains(account);
    }

    /// @inheritdoc IConsortium
    function memberSince(address account) external view returns (uint256) {
        return _memberSince[account];
    }

    /// @inheritdoc IConsortium
    function memberCount() external view returns (uint256) {
        return _members.length();
    }

    /// @inheritdoc IConsortium
    function members() external view returns (address[] memory) {
        return _members.values();
    }

    /// @inheritdoc IConsortium
    function quorumBps() external view returns (uint256) {
        return _quorumBps;
    }

    /// @inheritdoc IConsortium
    function votingPeriod() external view returns (uint256) {
        return _votingPeriod;
    }

    /// @inheritdoc IConsortium
    function ballotParameters() public view returns (uint16 eligible, uint16 required, uint64 period) {
        uint256 count = _members.length();
        eligible = uint16(count); // bounded by _addMember
        required = Ballots.requiredVotes(count, _quorumBps);
        period = _votingPeriod;
    }

    /// @inheritdoc IConsortium
    function proposalCount() external view returns (uint256) {
        return _proposals.length;
    }

    /// @inheritdoc IConsortium
    function proposal(uint256 proposalId) external view returns (Proposal memory) {
        return _proposal(proposalId);
    }

    /// @inheritdoc IConsortium
    function proposalStatus(uint256 proposalId) external view returns (Ballots.Status) {
        return _proposal(proposalId).ballot.effectiveStatus();
    }

    /// @inheritdoc IConsortium
    function changeVoteOf(uint256 proposalId, address voter) external view returns (uint8) {
        return _votes[proposalId][voter];
    }

    // ---------------------------------------------------------------- internals

    function _proposal(uint256 proposalId) private view returns (Proposal storage) {
        if (proposalId == 0 || proposalId > _proposals.length) {
            revert ConsortiumUnknownProposal(proposalId);
        }
        return _proposals[proposalId - 1];
    }

    function _requireMember(address account) private view {
        if (!_members.contains(account)) {
            revert ConsortiumNotMember(account);
        }
    }

    /// @dev Reverts unless `kind`/`account`/`value` is a change that can be applied now.
    function _validateChange(ChangeKind kind, address account, uint64 value) private view {
        if (kind == ChangeKind.AddMember) {
            if (account == address(0)) revert ConsortiumInvalidMember(account);
            if (_members.contains(account)) revert ConsortiumAlreadyMember(account);
            if (_members.length() >= type(uint16).max) revert ConsortiumTooManyMembers(_members.length() + 1);
        } else if (kind == ChangeKind.RemoveMember) {
            _requireMember(account);
            if (_members.length() == 1) revert ConsortiumLastMember(account);
        } else if (kind == ChangeKind.SetQuorum) {
            if (value == 0 || value > _MAX_QUORUM_BPS) revert ConsortiumInvalidQuorum(value);
        } else {
            if (value < _MIN_VOTING_PERIOD || value > _MAX_VOTING_PERIOD) {
                revert ConsortiumInvalidVotingPeriod(value);
            }
        }
    }

    function _proposeChange(address actor, ChangeKind kind, address account, uint64 value) private returns (uint256) {
        _requireMember(actor);
        _validateChange(kind, account, value);
        (uint16 eligible, uint16 required, uint64 period) = ballotParameters();
        if (kind == ChangeKind.RemoveMember) {
            // the member to be removed is not a voter of its own removal (validated: >= 2 members)
            eligible -= 1;
            required = Ballots.requiredVotes(eligible, _quorumBps);
        }
        Proposal storage p = _proposals.push();
        p.kind = kind;
        p.account = account;
        p.value = value;
        p.proposer = actor;
        p.ballot.open(eligible, required, period);
        uint256 proposalId = _proposals.length;
        emit ChangeProposed(proposalId, kind, account, value, actor, p.ballot.deadline, required, eligible);
        return proposalId;
    }

    function _voteOnChange(address voter, uint256 proposalId, Ballots.Support support) private {
        Proposal storage p = _proposal(proposalId);
        Ballots.Ballot memory ballot = p.ballot;
        if (ballot.status != Ballots.Status.Proposed) {
            revert ConsortiumUnexpectedProposalState(proposalId, ballot.status, Ballots.Status.Proposed);
        }
        if (ballot.isClosed()) {
            revert ConsortiumVotingClosed(proposalId, ballot.deadline, block.timestamp);
        }
        uint64 since = _memberSince[voter];
        if (since == 0) {
            revert ConsortiumNotMember(voter);
        }
        if (p.kind == ChangeKind.RemoveMember && voter == p.account) {
            revert ConsortiumVoterIsSubject(proposalId, voter);
        }
        if (since >= ballot.snapshotBlock) {
            revert ConsortiumNotEligible(proposalId, voter, since, ballot.snapshotBlock);
        }
        if (_votes[proposalId][voter] != 0) {
            revert ConsortiumAlreadyVoted(proposalId, voter);
        }
        _votes[proposalId][voter] = uint8(support) + 1;
        emit ChangeVoteCast(proposalId, voter, support);

        Ballots.Status outcome = p.ballot.count(support);
        if (outcome == Ballots.Status.Approved) {
            _setProposalStatus(proposalId, outcome);
            _applyChange(p.kind, p.account, p.value);
        } else if (outcome == Ballots.Status.Rejected) {
            _setProposalStatus(proposalId, outcome);
        }
    }

    /**
     * @dev Applies an approved change. A change names the state the members want; if another
     * change reached that state first (two proposals to add the same account), there is nothing
     * left to do. Only a removal that would leave no member at all is refused.
     */
    function _applyChange(ChangeKind kind, address account, uint64 value) private {
        if (kind == ChangeKind.AddMember) {
            if (!_members.contains(account)) {
                _addMember(account);
            }
        } else if (kind == ChangeKind.RemoveMember) {
            if (_members.contains(account)) {
                if (_members.length() == 1) revert ConsortiumLastMember(account);
                _removeMember(account);
            }
        } else if (kind == ChangeKind.SetQuorum) {
            _setQuorum(value);
        } else {
            _setVotingPeriod(value);
        }
    }

    function _resign(address actor) private {
        _requireMember(actor);
        if (_members.length() == 1) revert ConsortiumLastMember(actor);
        _removeMember(actor);
    }

    // ---- the only setters of each piece of state; each emits its event

    function _setProposalStatus(uint256 proposalId, Ballots.Status next) private {
        Ballots.Ballot storage ballot = _proposals[proposalId - 1].ballot;
        Ballots.Status current = ballot.status;
        // Proposed -> Approved | Rejected is the only transition.
        if (current != Ballots.Status.Proposed || next == Ballots.Status.Proposed) {
            revert ConsortiumUnexpectedProposalState(proposalId, current, Ballots.Status.Proposed);
        }
        ballot.status = next;
        emit ChangeStatusChanged(proposalId, current, next);
    }

    function _addMember(address account) private {
        if (account == address(0)) revert ConsortiumInvalidMember(account);
        if (!_members.add(account)) revert ConsortiumAlreadyMember(account);
        if (_members.length() > type(uint16).max) revert ConsortiumTooManyMembers(_members.length());
        _memberSince[account] = uint64(block.number);
        emit MemberAdded(account, _members.length());
    }

    function _removeMember(address account) private {
        if (!_members.remove(account)) revert ConsortiumNotMember(account);
        delete _memberSince[account];
        emit MemberRemoved(account, _members.length());
    }

    function _setQuorum(uint64 quorumBps_) private {
        if (quorumBps_ == 0 || quorumBps_ > _MAX_QUORUM_BPS) revert ConsortiumInvalidQuorum(quorumBps_);
        emit QuorumChanged(_quorumBps, quorumBps_);
        _quorumBps = quorumBps_;
    }

    function _setVotingPeriod(uint64 votingPeriod_) private {
        if (votingPeriod_ < _MIN_VOTING_PERIOD || votingPeriod_ > _MAX_VOTING_PERIOD) {
            revert ConsortiumInvalidVotingPeriod(votingPeriod_);
        }
        emit VotingPeriodChanged(_votingPeriod, votingPeriod_);
        _votingPeriod = votingPeriod_;
    }
}
