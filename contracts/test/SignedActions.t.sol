// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ISignedActions} from "../interfaces/ISignedActions.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {ERC1271GasBurningWalletMock} from "../mocks/ERC1271GasBurningWalletMock.sol";
import {LedgerFixture} from "./utils/LedgerFixture.sol";

/// @notice Signed actions (`...BySig`) for any key, nonce, deadline and ERC-1271 wallet.
contract SignedActionsTest is LedgerFixture {
    uint256 internal constant SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    address internal owner;
    uint256 internal modelId;

    function setUp() public {
        _deploy(3, MAJORITY);
        owner = accountOf(0);
        modelId = _register(owner, "signed");
    }

    function _acceptHash(address actor, uint256 nonce, uint256 deadline) internal view returns (bytes32) {
        return keccak256(abi.encode(_typeHash(ACCEPT_MODEL_OWNERSHIP_TYPE), modelId, actor, nonce, deadline));
    }

    function _transferTo(address heir) internal {
        vm.prank(owner);
        registry.transferModelOwnership(modelId, heir);
    }

    function test_BothContractsPublishTheErc1271GasLimit() public view {
        assertEq(registry.ERC1271_GAS_LIMIT(), 50_000, "registry");
        assertEq(consortium.ERC1271_GAS_LIMIT(), 50_000, "consortium");
    }

    /// Any key's holder accepts a model by signature, relayed by someone else; the nonce moves by one.
    function testFuzz_ASignedActionRunsAsItsSigner(uint256 key, address relayer) public {
        key = bound(key, 1, SECP256K1_ORDER - 1);
        address heir = vm.addr(key);
        vm.assume(heir != owner && relayer != address(vm));
        _transferTo(heir);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory signature = _sign(key, address(registry), _acceptHash(heir, 0, deadline));

        vm.expectEmit(true, true, true, true, address(registry));
        emit IModelRegistry.ModelOwnershipTransferred(modelId, owner, heir);
        vm.prank(relayer);
        registry.acceptModelOwnershipBySig(modelId, heir, 0, deadline, signature);

        assertEq(registry.model(modelId).owner, heir, "owner");
        assertEq(registry.nonces(heir), 1, "nonce used once");
    }

    function testFuzz_ASignatureByAnotherKeyIsRefused(uint256 key, uint256 otherKey) public {
        key = bound(key, 1, SECP256K1_ORDER - 1);
        otherKey = bound(otherKey, 1, SECP256K1_ORDER - 1);
        vm.assume(key != otherKey);
        address heir = vm.addr(key);
        vm.assume(heir != owner);
        _transferTo(heir);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory signature = _sign(otherKey, address(registry), _acceptHash(heir, 0, deadline));

        vm.expectRevert(abi.encodeWithSelector(ISignedActions.SignedActionInvalidSignature.selector, heir));
        registry.acceptModelOwnershipBySig(modelId, heir, 0, deadline, signature);
        assertEq(registry.nonces(heir), 0, "nonce unused");
    }

    function testFuzz_AnExpiredSignatureIsRefused(uint256 deadline, uint256 lateBy) public {
        deadline = bound(deadline, block.timestamp, type(uint64).max);
        lateBy = bound(lateBy, 1, 10 * 365 days);
        address heir = accountOf(7);
        _transferTo(heir);
        bytes memory signature = _sign(keyOf(7), address(registry), _acceptHash(heir, 0, deadline));
        vm.warp(deadline + lateBy);

        vm.expectRevert(
            abi.encodeWithSelector(ISignedActions.SignedActionExpired.selector, deadline, deadline + lateBy)
        );
        registry.acceptModelOwnershipBySig(modelId, heir, 0, deadline, signature);
    }

    /// Only the actor's next nonce works: an old one (a replay) or a future one is refused.
    function testFuzz_OnlyTheNextNonceIsAccepted(uint256 nonce) public {
        vm.assume(nonce != 0);
        address heir = accountOf(7);
        _transferTo(heir);
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory signature = _sign(keyOf(7), address(registry), _acceptHash(heir, nonce, deadline));

        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, heir, 0));
        registry.acceptModelOwnershipBySig(modelId, heir, nonce, deadline, signature);

        signature = _sign(keyOf(7), address(registry), _acceptHash(heir, 0, deadline));
        registry.acceptModelOwnershipBySig(modelId, heir, 0, deadline, signature);
        vm.expectRevert(abi.encodeWithSelector(Nonces.InvalidAccountNonce.selector, heir, 1));
        registry.acceptModelOwnershipBySig(modelId, heir, 0, deadline, signature);
    }

    /// A wallet that answers within the gas bound signs, however much of it it uses.
    function testFuzz_AWalletWithinTheGasBoundSigns(uint256 gasToBurn) public {
        gasToBurn = bound(gasToBurn, 0, 40_000);
        ERC1271GasBurningWalletMock wallet = new ERC1271GasBurningWalletMock(accountOf(7), gasToBurn);
        _transferTo(address(wallet));
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory signature = _sign(keyOf(7), address(registry), _acceptHash(address(wallet), 0, deadline));

        registry.acceptModelOwnershipBySig{gas: 1_000_000}(modelId, address(wallet), 0, deadline, signature);
        assertEq(registry.model(modelId).owner, address(wallet), "the wallet owns the model");
    }

    /// A wallet that needs more than ERC1271_GAS_LIMIT has not signed, however much gas the
    /// relayer sends along.
    function testFuzz_AWalletBeyondTheGasBoundIsRefused(uint256 gasToBurn) public {
        gasToBurn = bound(gasToBurn, 50_000, 2_000_000);
        ERC1271GasBurningWalletMock wallet = new ERC1271GasBurningWalletMock(accountOf(7), gasToBurn);
        _transferTo(address(wallet));
        uint256 deadline = block.timestamp + 1 hours;
        bytes memory signature = _sign(keyOf(7), address(registry), _acceptHash(address(wallet), 0, deadline));

        vm.expectRevert(abi.encodeWithSelector(ISignedActions.SignedActionInvalidSignature.selector, address(wallet)));
        registry.acceptModelOwnershipBySig{gas: 10_000_000}(modelId, address(wallet), 0, deadline, signature);
        assertEq(registry.model(modelId).owner, owner, "unchanged");
    }
}
