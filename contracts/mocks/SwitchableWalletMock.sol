// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/**
 * @title SwitchableWalletMock
 * @notice Test double of a contract account whose answer can change between a relayer's
 * simulation and the block its transaction lands in: it accepts its owner's signatures while
 * `accepting` is true, and the owner flips that switch. Never deployed by the ledger itself.
 */
contract SwitchableWalletMock is IERC1271 {
    error SwitchableWalletNotOwner(address caller);

    event AcceptingSet(bool accepting);

    address private immutable _owner;
    bool public accepting = true;

    constructor(address owner) {
        _owner = owner;
    }

    function setAccepting(bool value) external {
        if (msg.sender != _owner) {
            revert SwitchableWalletNotOwner(msg.sender);
        }
        accepting = value;
        emit AcceptingSet(value);
    }

    function isValidSignature(bytes32 hash, bytes memory signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        bool ok = accepting && err == ECDSA.RecoverError.NoError && recovered == _owner;
        return ok ? this.isValidSignature.selector : bytes4(0);
    }
}
