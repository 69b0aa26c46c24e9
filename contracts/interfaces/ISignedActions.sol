// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title ISignedActions
 * @notice Every state-changing function of the ledger has a `...BySig` twin that a relayer may
 * submit on behalf of the acting account. The actor signs an EIP-712 typed message whose domain
 * carries the contract's name, version "1", the chain id and the contract's address, and whose
 * struct carries every argument, the actor, the actor's next nonce and a deadline. The contract
 * checks, in this order: the deadline, the nonce (OpenZeppelin `Nonces`, which reverts with
 * `InvalidAccountNonce(account, currentNonce)`), then the signature (EOA or ERC-1271 contract
 * account). A relayer can therefore neither forge an action, nor replay it, nor change its
 * deadline, nor move it to another chain or contract. `nonces(account)` (from `Nonces`) returns
 * the next nonce an account must sign with.
 *
 * A contract account (a multisig, say) signs through ERC-1271: the contract asks the actor's
 * `isValidSignature(digest, signature)` with exactly {ERC1271_GAS_LIMIT} gas. A wallet that needs
 * more, reverts, or answers anything but the ERC-1271 magic value has not signed. The bound keeps
 * a wallet from spending the relayer's gas; a relayer that checks a signature before sending it
 * gives the wallet the same bound, so that its check and the contract's agree.
 */
interface ISignedActions {
    /// @notice The signed action's deadline has passed; sign again with a later deadline.
    error SignedActionExpired(uint256 deadline, uint256 timestamp);

    /// @notice The signature is not the actor's signature of these exact arguments in this domain.
    error SignedActionInvalidSignature(address actor);

    /// @notice Gas an ERC-1271 wallet's `isValidSignature` may use when the contract checks a
    /// contract account's signature: 50,000, room for a wallet that recovers and looks up a few
    /// owners' ECDSA signatures (about 3,000 gas to recover one, 2,100 to read a cold slot).
    function ERC1271_GAS_LIMIT() external view returns (uint256);
}
