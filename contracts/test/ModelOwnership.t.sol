// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Two-step model ownership and the owner's rights, for any accounts.
contract ModelOwnershipTest is LedgerFixture {
    address internal owner;
    uint256 internal modelId;

    function setUp() public {
        _deploy(3, MAJORITY);
        owner = accountOf(0);
        modelId = _register(owner, "fuzzed");
    }

    function _usable(address account) internal view returns (bool) {
        return account != address(0) && account != owner && account != address(vm);
    }

    function testFuzz_TransferNamesAPendingOwnerWhoAccepts(address heir, address stranger) public {
        vm.assume(_usable(heir) && stranger != heir && stranger != address(vm));

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnershipTransferStarted(modelId, owner, heir);
        vm.prank(owner);
        registry.transferModelOwnership(modelId, heir);

        assertEq(registry.pendingOwnerOf(modelId), heir, "pending owner");
        assertEq(registry.model(modelId).owner, owner, "owner until accepted");
        assertEq(registry.rightsOf(modelId, owner), 7, "owner keeps every right");
        assertEq(registry.rightsOf(modelId, heir), 0, "pending owner has none yet");

        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.RegistryNotPendingOwner.selector, modelId, stranger, heir)
        );
        vm.prank(stranger);
        registry.acceptModelOwnership(modelId);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnershipTransferred(modelId, owner, heir);
        vm.prank(heir);
        registry.acceptModelOwnership(modelId);

        assertEq(registry.model(modelId).owner, heir, "new owner");
        assertEq(registry.pendingOwnerOf(modelId), address(0), "nothing pending");
        assertEq(registry.rightsOf(modelId, heir), 7, "new owner holds every right");
        assertEq(registry.rightsOf(modelId, owner), 0, "previous owner holds none");
    }

    function testFuzz_ANewTransferReplacesOrCancelsThePendingOne(address first, address second) public {
        vm.assume(_usable(first) && second != first && second != owner && second != address(vm));
        vm.prank(owner);
        registry.transferModelOwnership(modelId, first);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnershipTransferStarted(modelId, owner, second);
        vm.prank(owner);
        registry.transferModelOwnership(modelId, second); // second == 0 cancels

        assertEq(registry.pendingOwnerOf(modelId), second, "replaced");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.RegistryNotPendingOwner.selector, modelId, first, second));
        vm.prank(first);
        registry.acceptModelOwnership(modelId);
    }

    function testFuzz_OnlyTheOwnerTransfers(address caller, address to) public {
        vm.assume(caller != owner && caller != address(vm));
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.RegistryNotModelOwner.selector, modelId, caller));
        vm.prank(caller);
        registry.transferModelOwnership(modelId, to);
    }

    function testFuzz_RightsAreANonZeroMaskOfThreeBits(uint8 rights, address account) public {
        vm.assume(account != address(0) && account != owner);
        if (rights == 0 || rights > 7) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.RegistryInvalidRights.selector, uint256(rights)));
            vm.prank(owner);
            registry.grantRights(modelId, account, rights);
            return;
        }
        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.RightsGranted(modelId, account, rights, rights, owner);
        vm.prank(owner);
        registry.grantRights(modelId, account, rights);
        assertEq(registry.rightsOf(modelId, account), rights, "granted");
        assertEq(registry.rightsOf(modelId, owner), 7, "owner still holds every right");
    }

    /// Names are 1..64 of a-z 0-9 . _ -, checked against a plain restatement of the rule.
    function testFuzz_ModelNames(bytes memory raw, uint256 pick) public {
        // half the inputs are drawn from the allowed alphabet, so valid names come up often
        if (pick % 2 == 0) {
            bytes memory alphabet = "abcdefghijklmnopqrstuvwxyz0123456789._-";
            for (uint256 i = 0; i < raw.length; ++i) {
                raw[i] = alphabet[uint8(raw[i]) % alphabet.length];
            }
        }
        string memory name = string(raw);
        bool valid = raw.length >= 1 && raw.length <= 64;
        for (uint256 i = 0; i < raw.length; ++i) {
            bytes1 c = raw[i];
            valid = valid && ((c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "." || c == "_" || c == "-");
        }
        if (!valid) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.RegistryInvalidName.selector, name));
        } else if (keccak256(raw) == keccak256(bytes("fuzzed"))) {
            vm.expectRevert(abi.encodeWithSelector(IModelRegistry.RegistryDuplicateName.selector, name, modelId));
        }
        vm.prank(owner);
        uint256 id = registry.registerModel(name, bytes32(0), false);
        if (valid && id != 0) {
            assertEq(registry.modelIdByName(name), id, "found by name");
        }
    }
}
