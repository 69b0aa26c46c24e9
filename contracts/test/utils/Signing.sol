// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {VM} from "./Vm.sol";

/**
 * @title Signing
 * @notice EIP-712 signatures of the ledger's actions, built here from the type strings written
 * out again (not read from the contracts), so a test that signs with them also checks the
 * contracts' typehashes. The domain comes from the contract's ERC-5267 `eip712Domain()`.
 */
abstract contract Signing {
    string internal constant EIP712_DOMAIN_TYPE =
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
    string internal constant REGISTER_MODEL_TYPE = "RegisterModel(string name,bytes32 metadataDigest,bool restricted,"
        "address actor,uint256 nonce,uint256 deadline)";
    string internal constant TRANSFER_MODEL_OWNERSHIP_TYPE =
        "TransferModelOwnership(uint256 modelId,address newOwner,address actor,uint256 nonce,uint256 deadline)";
    string internal constant ACCEPT_MODEL_OWNERSHIP_TYPE =
        "AcceptModelOwnership(uint256 modelId,address actor,uint256 nonce,uint256 deadline)";
    string internal constant GRANT_RIGHTS_TYPE =
        "GrantRights(uint256 modelId,address account,uint8 rights,address actor,uint256 nonce,uint256 deadline)";
    string internal constant REVOKE_RIGHTS_TYPE =
        "RevokeRights(uint256 modelId,address account,uint8 rights,address actor,uint256 nonce,uint256 deadline)";
    string internal constant PROPOSE_VERSION_TYPE = "ProposeVersion(uint256 modelId,uint256 parentId,uint8 kind,bytes32 artifactDigest,bytes32 metadataDigest,"
        "address actor,uint256 nonce,uint256 deadline)";
    string internal constant CAST_VOTE_TYPE =
        "CastVote(uint256 versionId,uint8 support,address actor,uint256 nonce,uint256 deadline)";
    string internal constant MOVE_ALIAS_TYPE =
        "MoveAlias(uint256 modelId,bytes32 aliasName,uint256 versionId,address actor,uint256 nonce,uint256 deadline)";
    string internal constant PROPOSE_CHANGE_TYPE =
        "ProposeChange(uint8 kind,address account,uint64 value,address actor,uint256 nonce,uint256 deadline)";
    string internal constant VOTE_ON_CHANGE_TYPE =
        "VoteOnChange(uint256 proposalId,uint8 support,address actor,uint256 nonce,uint256 deadline)";
    string internal constant RESIGN_TYPE = "Resign(address actor,uint256 nonce,uint256 deadline)";
    string internal constant OPEN_ROUND_TYPE = "OpenRound(uint256 modelId,uint256 baseVersionId,bytes32 rule,"
        "bytes32 paramsDigest,uint32 minUpdates,uint32 maxUpdates,uint64 submissionDeadline,uint256 maxNorm,"
        "address actor,uint256 nonce,uint256 deadline)";
    string internal constant SUBMIT_UPDATE_TYPE = "SubmitUpdate(uint256 roundId,bytes32 baseDigest,bytes32 updateDigest,"
        "uint256 sampleCount,address actor,uint256 nonce,uint256 deadline)";
    string internal constant CLOSE_ROUND_TYPE =
        "CloseRound(uint256 roundId,address actor,uint256 nonce,uint256 deadline)";
    string internal constant FINALIZE_ROUND_TYPE = "FinalizeRound(uint256 roundId,address[] included,"
        "address[] excluded,uint8[] reasons,bytes32 aggregateDigest,bytes32 metadataDigest,address actor,"
        "uint256 nonce,uint256 deadline)";
    string internal constant CANCEL_ROUND_TYPE =
        "CancelRound(uint256 roundId,address actor,uint256 nonce,uint256 deadline)";

    function _typeHash(string memory typeString) internal pure returns (bytes32) {
        return keccak256(bytes(typeString));
    }

    /// @dev The EIP-712 digest of `structHash` in `verifyingContract`'s domain.
    function _digest(address verifyingContract, bytes32 structHash) internal view returns (bytes32) {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) =
            IERC5267(verifyingContract).eip712Domain();
        bytes32 domainSeparator = keccak256(
            abi.encode(
                _typeHash(EIP712_DOMAIN_TYPE), keccak256(bytes(name)), keccak256(bytes(version)), chainId, verifying
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    /// @dev The 65-byte signature (r, s, v) of `structHash` by `key` for `verifyingContract`.
    function _sign(uint256 key, address verifyingContract, bytes32 structHash) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(key, _digest(verifyingContract, structHash));
        return abi.encodePacked(r, s, v);
    }
}
