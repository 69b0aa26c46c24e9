// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title Vm
 * @notice The few forge cheatcodes these tests use, called at forge's fixed cheatcode address.
 * (npm's `forge-std` is an old release (1.1.2) without invariant-testing support; this interface is all
 * the tests need of it.)
 */
interface Vm {
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function prank(address msgSender) external;
    function warp(uint256 newTimestamp) external;
    function roll(uint256 newHeight) external;
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
}

/// @dev forge's cheatcode address: the last 20 bytes of keccak256("hevm cheat code").
Vm constant VM = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
