// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ISignedActions} from "../interfaces/ISignedActions.sol";

/**
 * @title SignedActions
 * @dev Checks an actor's EIP-712 signature of one action: deadline, then nonce, then signature.
 * See {ISignedActions} for the scheme. The caller builds the struct hash (typehash, arguments,
 * actor, nonce, deadline) and then runs the action as `actor`.
 */
abstract contract SignedActions is ISignedActions, EIP712, Nonces {
    /// @inheritdoc ISignedActions
    uint256 public constant ERC1271_GAS_LIMIT = 50_000;

    constructor(string memory name) EIP712(name, "1") {}

    function _useSignedAction(
        address actor,
        bytes32 structHash,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) internal {
        if (block.timestamp > deadline) {
            revert SignedActionExpired(deadline, block.timestamp);
        }
        _useCheckedNonce(actor, nonce);
        if (!_isValidSignature(actor, _hashTypedDataV4(structHash), signature)) {
            revert SignedActionInvalidSignature(actor);
        }
    }

    /**
     * @dev ECDSA first, then ERC-1271. Asking for the actor's code size first (as OpenZeppelin's
     * `SignatureChecker.isValidSignatureNow` does) would cost a cold EXTCODESIZE (2,600 gas) on
     * every action by an ordinary account; trying the key first spends that only on contract
     * accounts (multisigs), whose address no key can recover to.
     */
    function _isValidSignature(address actor, bytes32 digest, bytes calldata signature) private view returns (bool) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == actor) {
            return true;
        }
        return actor.code.length != 0 && _isValidERC1271Signature(actor, digest, signature);
    }

    /**
     * @dev OpenZeppelin's `SignatureChecker.isValidERC1271SignatureNow` with the wallet's gas bounded
     * by {ERC1271_GAS_LIMIT} (it forwards all gas) and only the first 32 bytes of its answer
     * copied (a wallet cannot make the caller pay to copy a large answer).
     */
    function _isValidERC1271Signature(
        address actor,
        bytes32 digest,
        bytes calldata signature
    ) private view returns (bool valid) {
        bytes memory query = abi.encodeCall(IERC1271.isValidSignature, (digest, signature));
        bytes32 magic = bytes32(IERC1271.isValidSignature.selector);
        uint256 gasLimit = ERC1271_GAS_LIMIT;
        assembly ("memory-safe") {
            let ok := staticcall(gasLimit, actor, add(query, 0x20), mload(query), 0x00, 0x20)
            valid := and(ok, and(gt(returndatasize(), 0x1f), eq(mload(0x00), magic)))
        }
    }
}
