// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/**
 * @title MerkleProofMock
 * @notice Test double exposing OpenZeppelin's `MerkleProof`, so that the Python tests check the
 * proofs of `service/chain/merkle.py` against the library a member's contract would use to
 * verify its inclusion in a round's aggregate. Never deployed by the ledger itself.
 */
contract MerkleProofMock {
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf) external pure returns (bool) {
        return MerkleProof.verify(proof, root, leaf);
    }

    function processProof(bytes32[] calldata proof, bytes32 leaf) external pure returns (bytes32) {
        return MerkleProof.processProof(proof, leaf);
    }
}
