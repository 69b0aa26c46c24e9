// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Consortium} from "../../Consortium.sol";
import {ModelRegistry} from "../../ModelRegistry.sol";
import {IConsortium} from "../../interfaces/IConsortium.sol";
import {IModelRegistry} from "../../interfaces/IModelRegistry.sol";
import {Ballots} from "../../utils/Ballots.sol";
import {Signing} from "./Signing.sol";
import {TestBase} from "./TestBase.sol";

/**
 * @title LedgerFixture
 * @notice A fresh Consortium (founders with known keys) and ModelRegistry per test, and the
 * calls the tests repeat. Every helper acts as a member with `vm.prank` and moves the chain one
 * block on, as a real chain would between transactions (voters must have joined before a
 * ballot's snapshot block).
 */
abstract contract LedgerFixture is TestBase, Signing {
    uint64 internal constant MAJORITY = 5_001;
    uint64 internal constant PERIOD = 1 hours;
    uint256 internal constant FIRST_KEY = 0xA11CE;

    Consortium internal consortium;
    ModelRegistry internal registry;

    /// @dev The signing key of founder `i` (and of any other test account `i`).
    function keyOf(uint256 i) internal pure returns (uint256) {
        return FIRST_KEY + i;
    }

    function accountOf(uint256 i) internal pure returns (address) {
        return vm.addr(keyOf(i));
    }

    /// @dev Deploys with founders 0..count-1 and moves one block on.
    function _deploy(uint256 count, uint64 quorumBps) internal {
        address[] memory founders = new address[](count);
        for (uint256 i = 0; i < count; ++i) {
            founders[i] = accountOf(i);
        }
        consortium = new Consortium(founders, quorumBps, PERIOD);
        registry = new ModelRegistry(IConsortium(address(consortium)));
        _nextBlock();
    }

    function _nextBlock() internal {
        vm.roll(block.number + 1);
        vm.warp(block.timestamp + 12);
    }

    function _register(address owner, string memory name) internal returns (uint256 modelId) {
        vm.prank(owner);
        modelId = registry.registerModel(name, bytes32(0), false);
        _nextBlock();
    }

    function _proposeChange(address proposer, IConsortium.ChangeKind kind, address account, uint64 value)
        internal
        returns (uint256 proposalId)
    {
        vm.prank(proposer);
        proposalId = consortium.proposeChange(kind, account, value);
        _nextBlock();
    }

    function _voteOnChange(address voter, uint256 proposalId, Ballots.Support support) internal {
        vm.prank(voter);
        consortium.voteOnChange(proposalId, support);
    }
}
