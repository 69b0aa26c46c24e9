// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title ERC1271GasBurningWalletMock
 * @notice Test double of a contract account that spends `gasToBurn` gas before answering like
 * {ERC1271WalletMock} (valid when its owner's key signed). Tests use it to show that the ledger
 * gives a wallet at most `ERC1271_GAS_LIMIT` gas: a wallet that needs more has not signed. Never
 * deployed by the ledger itself.
 */
contract ERC1271GasBurningWalletMock is IERC1271 {
    address private immutable _owner;
    uint256 private immutable _gasToBurn;

    constructor(address owner, uint256 gasToBurn) {
        _owner = owner;
        _gasToBurn = gasToBurn;
    }

    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4) {
        uint256 start = gasleft();
        while (start - gasleft() < _gasToBurn) {
            // burn gas
        }
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == _owner ? this.isValidSignature.selector : bytes4(0);
    }
}
