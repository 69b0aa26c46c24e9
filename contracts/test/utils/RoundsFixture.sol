// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {FederatedRounds} from "../../FederatedRounds.sol";
import {IFederatedRounds} from "../../interfaces/IFederatedRounds.sol";
import {IModelRegistry} from "../../interfaces/IModelRegistry.sol";
import {Ballots} from "../../utils/Ballots.sol";
import {LedgerFixture} from "./LedgerFixture.sol";

/**
 * @title RoundsFixture
 * @notice A ledger of three founders with one model (owned by founder 0) whose base version is
 * approved, its rounds contract, and the calls the round tests repeat. Contributors are test
 * accounts 10, 11, ... (keys `keyOf(10 + i)`); `_contributor(i)` has been granted SubmitUpdates.
 * The inclusion tree is rebuilt here independently of the contract (a second implementation).
 */
abstract contract RoundsFixture is LedgerFixture {
    bytes32 internal constant BASE_DIGEST = keccak256("base weights");
    bytes32 internal constant FEDAVG = "fedavg";
    uint256 internal constant NORM = 5_000_000; // 5.0
    uint256 internal constant FIRST_CONTRIBUTOR = 10;
    uint8 internal constant SUBMIT_UPDATES = 1;

    FederatedRounds internal rounds;
    address internal owner;
    uint256 internal modelId;
    uint256 internal baseId;

    function _setUpRounds() internal {
        _deploy(3, MAJORITY);
        rounds = FederatedRounds(registry.rounds());
        owner = accountOf(0);
        modelId = _register(owner, "federated");
        baseId = _approvedVersion(modelId, BASE_DIGEST);
    }

    /// @dev A version of `model` proposed by its owner and approved by founders 0 and 1.
    function _approvedVersion(uint256 model, bytes32 digest) internal returns (uint256 versionId) {
        vm.prank(registry.model(model).owner);
        versionId = registry.proposeVersion(model, 0, IModelRegistry.VersionKind.Base, digest, bytes32(0));
        _nextBlock();
        vm.prank(accountOf(0));
        registry.castVote(versionId, Ballots.Support.For);
        vm.prank(accountOf(1));
        registry.castVote(versionId, Ballots.Support.For);
    }

    function _contributorKey(uint256 i) internal pure returns (uint256) {
        return keyOf(FIRST_CONTRIBUTOR + i);
    }

    /// @dev Contributor `i`, granted SubmitUpdates on the model (once).
    function _contributor(uint256 i) internal returns (address account) {
        account = accountOf(FIRST_CONTRIBUTOR + i);
        if (registry.rightsOf(modelId, account) & SUBMIT_UPDATES == 0) {
            vm.prank(owner);
            registry.grantRights(modelId, account, SUBMIT_UPDATES);
        }
    }

    function _terms(uint32 minUpdates, uint32 maxUpdates, uint64 period)
        internal
        view
        returns (IFederatedRounds.RoundTerms memory)
    {
        return IFederatedRounds.RoundTerms({
            modelId: modelId,
            baseVersionId: baseId,
            rule: FEDAVG,
            paramsDigest: keccak256("params"),
            minUpdates: minUpdates,
            maxUpdates: maxUpdates,
            submissionDeadline: uint64(block.timestamp) + period,
            maxNorm: NORM
        });
    }

    function _open(uint32 minUpdates, uint32 maxUpdates) internal returns (uint256 roundId) {
        vm.prank(owner);
        roundId = rounds.openRound(_terms(minUpdates, maxUpdates, 1 hours));
    }

    function _updateDigest(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("update", i));
    }

    function _submit(uint256 roundId, uint256 i) internal returns (address participant) {
        participant = _contributor(i);
        vm.prank(participant);
        rounds.submitUpdate(roundId, BASE_DIGEST, _updateDigest(i), 100 + i);
    }

    function _submitHash(
        uint256 roundId,
        bytes32 digest,
        uint256 samples,
        address actor,
        uint256 nonce,
        uint256 deadline
    ) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(_typeHash(SUBMIT_UPDATE_TYPE), roundId, BASE_DIGEST, digest, samples, actor, nonce, deadline)
        );
    }

    /// @dev Contributor `i`'s signed update to `roundId`, with its next nonce, valid for an hour.
    function _signedUpdate(uint256 roundId, uint256 i) internal returns (IFederatedRounds.SignedUpdate memory) {
        return _signedUpdate(roundId, i, 0);
    }

    /// @dev The same, signed with the nonce `ahead` after its next one (for later in a batch).
    function _signedUpdate(uint256 roundId, uint256 i, uint256 ahead)
        internal
        returns (IFederatedRounds.SignedUpdate memory u)
    {
        address actor = _contributor(i);
        uint256 nonce = rounds.nonces(actor) + ahead;
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = _updateDigest(i);
        bytes memory signature =
            _sign(_contributorKey(i), address(rounds), _submitHash(roundId, digest, 100 + i, actor, nonce, deadline));
        u = IFederatedRounds.SignedUpdate(roundId, BASE_DIGEST, digest, 100 + i, actor, nonce, deadline, signature);
    }

    /// @dev `accounts` sorted ascending (insertion sort: the lists here are short).
    function _sorted(address[] memory accounts) internal pure returns (address[] memory) {
        for (uint256 i = 1; i < accounts.length; ++i) {
            address a = accounts[i];
            uint256 j = i;
            while (j > 0 && accounts[j - 1] > a) {
                accounts[j] = accounts[j - 1];
                --j;
            }
            accounts[j] = a;
        }
        return accounts;
    }

    function _leaf(uint256 roundId, address participant) internal view returns (bytes32) {
        IFederatedRounds.Update memory u = rounds.updateOf(roundId, participant);
        return keccak256(abi.encode(participant, u.updateDigest, u.sampleCount));
    }

    /// @dev The levels of the inclusion tree over `leaves`, bottom first.
    function _levels(bytes32[] memory leaves) internal pure returns (bytes32[][] memory levels) {
        uint256 depth = 1;
        for (uint256 n = leaves.length; n > 1; n = (n + 1) / 2) {
            ++depth;
        }
        levels = new bytes32[][](depth);
        levels[0] = leaves;
        for (uint256 d = 1; d < depth; ++d) {
            bytes32[] memory below = levels[d - 1];
            bytes32[] memory level = new bytes32[]((below.length + 1) / 2);
            for (uint256 k = 0; k < level.length; ++k) {
                level[k] = 2 * k + 1 < below.length
                    ? Hashes.commutativeKeccak256(below[2 * k], below[2 * k + 1])
                    : below[2 * k];
            }
            levels[d] = level;
        }
    }

    /// @dev The proof of leaf `index`: its siblings from the bottom up, none where it is carried up.
    function _proof(bytes32[][] memory levels, uint256 index) internal pure returns (bytes32[] memory proof) {
        bytes32[] memory siblings = new bytes32[](levels.length);
        uint256 count;
        for (uint256 d = 0; d + 1 < levels.length; ++d) {
            uint256 sibling = index ^ 1;
            if (sibling < levels[d].length) {
                siblings[count++] = levels[d][sibling];
            }
            index /= 2;
        }
        proof = new bytes32[](count);
        for (uint256 k = 0; k < count; ++k) {
            proof[k] = siblings[k];
        }
    }
}

