"""The inclusion tree of a finalized round (service/chain/merkle.py), pure: every expected value
is written out by hand from the rule (leaves in order, neighbours paired with the sorted-pair
keccak256, an odd last node carried up). Agreement with the contract's root and with
OpenZeppelin's MerkleProof on chain is tested in test_rounds_finalize.py."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from service.chain.merkle import (
    commutative_keccak256,
    inclusion_leaf,
    inclusion_proof,
    inclusion_root,
    process_proof,
    sort_participants,
    verify_proof,
)
from service.errors import InvalidInput

A, B, C, D, E = (bytes([0xA0 - 0x10 * i]) * 32 for i in range(5))  # A > B > C > D > E


def h(x: bytes, y: bytes) -> bytes:
    """The pair hash written out: keccak256 of the smaller word, then the larger."""
    return keccak(min(x, y) + max(x, y))


def test_a_leaf_is_the_keccak_of_the_abi_encoded_update():
    participant = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    digest = bytes(range(32))
    encoded = bytes(12) + bytes.fromhex(participant[2:]) + digest + (1_000_000).to_bytes(32, "big")
    assert inclusion_leaf(participant, digest, 1_000_000) == keccak(encoded)
    assert inclusion_leaf(participant.lower(), digest, 1_000_000) == keccak(encoded)


def test_the_pair_hash_sorts_the_pair():
    assert commutative_keccak256(A, B) == keccak(B + A) == commutative_keccak256(B, A)
    assert commutative_keccak256(E, D) == keccak(E + D)


@pytest.mark.parametrize(
    ("leaves", "root"),
    [
        ([A], A),
        ([A, B], h(A, B)),
        ([A, B, C], h(h(A, B), C)),
        ([A, B, C, D], h(h(A, B), h(C, D))),
        ([A, B, C, D, E], h(h(h(A, B), h(C, D)), E)),
    ],
    ids=["1", "2", "3", "4", "5"],
)
def test_roots_by_hand(leaves: list[bytes], root: bytes):
    assert inclusion_root(leaves) == root


def test_the_order_of_the_leaves_matters():
    assert inclusion_root([A, B, C]) != inclusion_root([C, B, A])


@pytest.mark.parametrize(
    ("index", "proof"),
    [
        (0, [B, h(C, D), E]),
        (1, [A, h(C, D), E]),
        (2, [D, h(A, B), E]),
        (3, [C, h(A, B), E]),
        (4, [h(h(A, B), h(C, D))]),  # carried up twice: one sibling only, at the top
    ],
)
def test_proofs_by_hand_for_five_leaves(index: int, proof: list[bytes]):
    leaves = [A, B, C, D, E]
    assert inclusion_proof(leaves, index) == proof
    assert process_proof(proof, leaves[index]) == inclusion_root(leaves)
    assert verify_proof(proof, inclusion_root(leaves), leaves[index])


def test_a_single_leaf_is_its_own_root_with_an_empty_proof():
    assert inclusion_proof([C], 0) == []
    assert verify_proof([], C, C)


@pytest.mark.parametrize("count", range(1, 18))
def test_every_leafs_proof_verifies_and_no_other_leaf_passes(count: int):
    leaves = [keccak(i.to_bytes(2, "big")) for i in range(count)]
    root = inclusion_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, i)
        assert verify_proof(proof, root, leaf)
        assert not verify_proof(proof, root, keccak(b"not a leaf"))
        assert len(proof) <= max(1, (count - 1).bit_length())


def test_participants_sort_as_numbers_whatever_their_case():
    low = "0x00000000000000000000000000000000000000aa"
    high = "0xAB00000000000000000000000000000000000000"
    mid = "0x1000000000000000000000000000000000000000"
    # checksummed (mixed case), so case says nothing about order
    assert sort_participants([high, low, mid.lower()]) == [
        to_checksum_address(a) for a in (low, mid, high)
    ]


def test_malformed_input_is_refused():
    with pytest.raises(InvalidInput, match="at least one leaf"):
        inclusion_root([])
    with pytest.raises(InvalidInput, match="32 bytes, not 31"):
        inclusion_root([bytes(31)])
    with pytest.raises(InvalidInput, match=r"outside 0\.\.1"):
        inclusion_proof([A, B], 2)
    with pytest.raises(InvalidInput, match="32 bytes, not 20"):
        inclusion_leaf("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", bytes(20), 1)
