"""The inclusion commitment of a finalized federated round (pure; no I/O).

``FederatedRounds.finalizeRound`` computes, and stores as the round's ``inclusionRoot``, a
Merkle root over the included updates:

- one leaf per included update, ``keccak256(abi.encode(participant, updateDigest,
  sampleCount))`` (an address, a bytes32 and a uint256: 96 bytes, so no leaf can pass for the
  64-byte concatenation of two inner nodes);
- leaves in ascending participant-address order (addresses compared as numbers);
- each level pairs neighbours with OpenZeppelin's ``Hashes.commutativeKeccak256`` (the smaller
  word first) and carries an odd last node up unchanged; the root is the single node left (the
  leaf itself when one update is included).

A proof is the list of siblings from the leaf up, skipping levels where the node was carried
up, so OpenZeppelin's ``MerkleProof.verify(proof, root, leaf)`` (``process_proof`` here) accepts
it. This module is that rule in Python: auditors rebuild the root from the round's events, and
participants get their proofs.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from service.errors import InvalidInput


def inclusion_leaf(participant: str, digest: bytes, samples: int) -> bytes:
    """The leaf of one included update: keccak256(abi.encode(participant, digest, samples))."""
    if len(digest) != 32:
        raise InvalidInput(f"an update digest has 32 bytes, not {len(digest)}")
    if not 0 <= samples < 2**256:
        raise InvalidInput(f"sample count {samples} is not a uint256")
    encoded = abi_encode(
        ["address", "bytes32", "uint256"], [to_checksum_address(participant), digest, samples]
    )
    return bytes(keccak(encoded))


def commutative_keccak256(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin ``Hashes.commutativeKeccak256``: keccak256 of the sorted pair."""
    return bytes(keccak(a + b if a < b else b + a))


def inclusion_root(leaves_in_order: Sequence[bytes]) -> bytes:
    """The root over leaves already in ascending participant order (see the module's rule)."""
    level = _checked(leaves_in_order)
    while len(level) > 1:
        level = _parents(level)
    return level[0]


def inclusion_proof(leaves_in_order: Sequence[bytes], index: int) -> list[bytes]:
    """The proof of the leaf at ``index``: its siblings from the bottom up."""
    level = _checked(leaves_in_order)
    if not 0 <= index < len(level):
        raise InvalidInput(f"leaf index {index} is outside 0..{len(level) - 1}")
    proof: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):  # an odd last node has no sibling: it is carried up
            proof.append(level[sibling])
        level = _parents(level)
        index //= 2
    return proof


def process_proof(proof: Sequence[bytes], leaf: bytes) -> bytes:
    """OpenZeppelin ``MerkleProof.processProof``: the root a proof leads to from ``leaf``."""
    computed = leaf
    for sibling in proof:
        computed = commutative_keccak256(computed, sibling)
    return computed


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """OpenZeppelin ``MerkleProof.verify``."""
    return process_proof(proof, leaf) == root


def sort_participants(addresses: Sequence[str]) -> list[str]:
    """Checksummed addresses in the order the contract wants them: ascending as numbers."""
    return sorted((to_checksum_address(a) for a in addresses), key=lambda a: int(a, 16))


def _checked(leaves: Sequence[bytes]) -> list[bytes]:
    if not leaves:
        raise InvalidInput("an inclusion tree needs at least one leaf (one included update)")
    for leaf in leaves:
        if len(leaf) != 32:
            raise InvalidInput(f"a leaf has 32 bytes, not {len(leaf)}")
    return [bytes(leaf) for leaf in leaves]


def _parents(level: list[bytes]) -> list[bytes]:
    return [
        commutative_keccak256(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
        for i in range(0, len(level), 2)
    ]
