// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title GasPriceWalletMock
 * @notice Test double of a hostile contract account: it accepts its owner's signatures only in
 * a call made at gas price zero, which a simulation without fee fields is and a real
 * transaction is not. A relayer that simulates anything other than what it sends pays for a
 * reverted transaction. Never deployed by the ledger itself.
 */
contract GasPriceWalletMock is IERC1271 {
    address private immutable _owner;

    constructor(address owner) {
        _owner = owner;
    }

    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        bool ok = err == ECDSA.RecoverError.NoError && recovered == _owner && tx.gasprice == 0;
        return ok ? this.isValidSignature.selector : bytes4(0);
    }
}
