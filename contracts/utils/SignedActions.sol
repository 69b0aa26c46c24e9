// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ISignedActions} from "../interfaces/ISignedActions.sol";

/**
 * @title SignedActions
 * @dev Checks an actor's EIP-712 signature of one action: deadline, then nonce, then signature.
 * See {ISignedActions} for the scheme. The caller builds the struct hash (typehash, arguments,
 * actor, nonce, deadline) and then runs the action as `actor`.
 */
abstract contract SignedActions is ISignedActions, EIP712, Nonces {
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
     * @dev ECDSA first, then ERC-1271. `SignatureChecker.isValidSignatureNow` asks for the
     * actor's code size first, a cold EXTCODESIZE (2,600 gas) on every action by an ordinary
     * account; trying the key first spends that only on contract accounts (multisigs), whose
     * address no key can recover to.
     */
    function _isValidSignature(address actor, bytes32 digest, bytes calldata signature) private view returns (bool) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == actor) {
            return true;
        }
        return actor.code.length != 0 && SignatureChecker.isValidERC1271SignatureNow(actor, digest, signature);
    }
}
