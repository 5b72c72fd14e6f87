"""RFC 6962 / RFC 9162 Merkle tree hashing, proof verification and proof planning (pure).

Modelled on transparency-dev/merkle (``rfc6962``, ``proof`` and ``compact`` packages):

* hashing: ``leaf_hash(d) = SHA-256(0x00 ‖ d)``, ``node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)``;
* verification: :func:`verify_inclusion`, :func:`verify_consistency` (RFC 9162 §2.1.3.2, §2.1.4.2);
* proof generation is split in two: :func:`inclusion_node_ids` / :func:`consistency_node_ids` name
  the complete subtrees ``(level, index)`` whose hashes storage must supply, and
  :meth:`ProofNodes.rehash` folds the hashes of a non-perfect right border into the single
  ephemeral node the proof needs. Storage never has to hold hashes of incomplete subtrees.

A node id ``(level, index)`` is the perfect subtree covering leaves
``[index * 2**level, (index + 1) * 2**level)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from atlas_intoto.errors import ConsistencyProofError, InclusionProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "NodeId",
    "ProofNodes",
    "consistency_node_ids",
    "consistency_proof_from_leaves",
    "inclusion_node_ids",
    "inclusion_proof_from_leaves",
    "leaf_hash",
    "node_hash",
    "range_node_ids",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "root_from_range",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: Root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: ``SHA-256(0x00 ‖ data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True, slots=True, order=True)
class NodeId:
    """A perfect subtree: ``level`` 0 is a leaf; covers ``2**level`` leaves starting at
    ``index * 2**level``. Positional on purpose: it is a coordinate, ``NodeId(level, index)``."""

    level: int
    index: int

    def coverage(self) -> tuple[int, int]:
        return self.index << self.level, (self.index + 1) << self.level

    def parent(self) -> NodeId:
        return NodeId(self.level + 1, self.index >> 1)

    def sibling(self) -> NodeId:
        return NodeId(self.level, self.index ^ 1)


# --------------------------------------------------------------------------------------------
# Roots
# --------------------------------------------------------------------------------------------


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _root_of_hashes(hashes: Sequence[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_root_of_hashes(hashes[:k]), _root_of_hashes(hashes[k:]))


def root_from_leaves(leaves: Iterable[bytes], *, hashed: bool = False) -> bytes:
    """Merkle tree hash of a list of leaves (raw data, or leaf hashes with ``hashed=True``).

    Iterative: keeps only the compact range (at most ~64 hashes), so it streams any size.
    """
    stack: list[tuple[int, bytes]] = []  # (level, hash) of the right border, upper levels first
    for leaf in leaves:
        h = leaf if hashed else leaf_hash(leaf)
        level = 0
        while stack and stack[-1][0] == level:
            h = node_hash(stack.pop()[1], h)
            level += 1
        stack.append((level, h))
    if not stack:
        return EMPTY_ROOT
    return root_from_range([h for _, h in stack])


def range_node_ids(begin: int, end: int) -> list[NodeId]:
    """The compact range of ``[begin, end)``: the minimal perfect subtrees covering it, in
    left-to-right order (compact.RangeNodes). For ``begin == 0`` these are the subtrees whose
    hashes make up the root of a tree of size ``end``."""
    if not 0 <= begin <= end:
        raise ValueError(f"bad range [{begin}, {end})")
    if begin == 0:
        left, right = 0, end
    else:
        xbegin = begin - 1
        d = (xbegin ^ end).bit_length() - 1
        mask = (1 << d) - 1
        left, right = ~xbegin & mask, end & mask
    ids: list[NodeId] = []
    pos = begin
    while left:
        level = (left & -left).bit_length() - 1
        ids.append(NodeId(level, pos >> level))
        pos += 1 << level
        left ^= 1 << level
    while right:
        level = right.bit_length() - 1
        ids.append(NodeId(level, pos >> level))
        pos += 1 << level
        right ^= 1 << level
    return ids


def root_from_range(hashes: Sequence[bytes]) -> bytes:
    """Tree root from the hashes of ``range_node_ids(0, size)`` (left to right)."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


# --------------------------------------------------------------------------------------------
# Verification (transparency-dev/merkle proof/verify.go)
# --------------------------------------------------------------------------------------------


def _decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _check_hashes(hashes: Sequence[bytes], what: str, error: type[Exception]) -> None:
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise error(f"{what}[{i}]: not a {HASH_SIZE}-byte hash")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """Root implied by an inclusion proof; raises :class:`InclusionProofError` if the proof
    cannot be one for ``index`` in a tree of ``size`` (wrong length, bad hash sizes)."""
    if not (0 <= index < size):
        raise InclusionProofError(f"inclusion proof: index {index} not below tree size {size}")
    _check_hashes([leaf_hash], "inclusion proof: leaf hash", InclusionProofError)
    _check_hashes(proof, "inclusion proof: hashes", InclusionProofError)
    inner, border = _decomp_incl_proof(index, size)
    if len(proof) != inner + border:
        raise InclusionProofError(
            f"inclusion proof: {len(proof)} hashes, expected {inner + border} "
            f"for index {index} in tree size {size}"
        )
    res = _chain_inner(bytes(leaf_hash), proof[:inner], index)
    return _chain_border_right(res, proof[inner:])


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    1. ``index < size`` and every hash is 32 bytes;
    2. the proof has exactly the length RFC 9162 §2.1.3.2 prescribes for (index, size);
    3. chaining the proof from the leaf yields ``root``.

    Raises :class:`InclusionProofError`.
    """
    _check_hashes([root], "inclusion proof: root", InclusionProofError)
    calc = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calc != bytes(root):
        raise InclusionProofError(
            f"inclusion proof: computed root {calc.hex()} does not equal {bytes(root).hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify that the tree ``(size2, root2)`` extends the tree ``(size1, root1)``.

    1. ``0 < size1 <= size2``; equal sizes need an empty proof and equal roots. A proof from
       the empty tree is rejected as meaningless (as transparency-dev/merkle's test vectors
       require): callers holding a size-0 checkpoint have nothing to check;
    2. the proof has exactly the length RFC 9162 §2.1.4.2 prescribes;
    3. the proof recomputes ``root1`` from its left part;
    4. the same hashes recompute ``root2``.

    Raises :class:`ConsistencyProofError`.
    """
    err = ConsistencyProofError
    if size1 < 0 or size2 < 0:
        raise err(f"consistency proof: negative size ({size1}, {size2})")
    if size2 < size1:
        raise err(f"consistency proof: size2 {size2} < size1 {size1}")
    _check_hashes(proof, "consistency proof: hashes", err)
    if size1 == 0:
        raise err("consistency proof: size1 is 0, a proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise err("consistency proof: sizes are equal but the proof is not empty")
        if bytes(root1) != bytes(root2):
            raise err("consistency proof: sizes are equal but the roots differ")
        return
    if not proof:
        raise err("consistency proof: empty proof")
    _check_hashes([root1, root2], "consistency proof: root", err)

    inner, border = _decomp_incl_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # The proof starts with the root of the subtree of size 2**shift ending at size1, unless
    # size1 is that very power of two, in which case the verifier already knows it: root1.
    if size1 == 1 << shift:
        seed, rest = bytes(root1), list(proof)
    else:
        seed, rest = bytes(proof[0]), list(proof[1:])
    if len(rest) != inner + border:
        raise err(
            f"consistency proof: {len(proof)} hashes, expected "
            f"{inner + border + (len(proof) - len(rest))} for sizes {size1} -> {size2}"
        )
    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != bytes(root1):
        raise err(f"consistency proof: does not reproduce root1 for size {size1}")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != bytes(root2):
        raise err(f"consistency proof: does not reproduce root2 for size {size2}")


# --------------------------------------------------------------------------------------------
# Proof planning (transparency-dev/merkle proof/proof.go)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProofNodes:
    """Which stored subtree hashes make up a proof, and how to fold them.

    ``ids`` lists complete subtrees only. ``ids[ephem_begin:ephem_end]`` (possibly empty) are the
    nodes covering the non-perfect right part of the tree, lower levels first; :meth:`rehash`
    folds them into the one ephemeral node (``ephem``) that a perfect tree would have had.
    """

    ids: tuple[NodeId, ...]
    ephem_begin: int = 0
    ephem_end: int = 0
    ephem: NodeId | None = None

    def rehash(
        self,
        hashes: Sequence[bytes],
        hash_children: Callable[[bytes, bytes], bytes] = node_hash,
    ) -> list[bytes]:
        """Turn the hashes of :attr:`ids` (same order) into the proof."""
        if len(hashes) != len(self.ids):
            raise ValueError(f"got {len(hashes)} hashes, expected {len(self.ids)}")
        out: list[bytes] = []
        i = 0
        while i < len(hashes):
            h = hashes[i]
            if self.ephem_begin <= i < self.ephem_end:
                i += 1
                while i < self.ephem_end:
                    h = hash_children(hashes[i], h)
                    i += 1
                i -= 1
            out.append(h)
            i += 1
        return out

    def _skip_first(self) -> ProofNodes:
        begin, end = self.ephem_begin, self.ephem_end
        if begin < end:
            begin, end = begin - 1, end - 1
        return ProofNodes(ids=self.ids[1:], ephem_begin=begin, ephem_end=end, ephem=self.ephem)


def _nodes(index: int, level: int, size: int) -> ProofNodes:
    # The fork is where the path from the root to (level, index) leaves the path to leaf
    # `size`; its sibling is the ephemeral (incomplete) subtree of the proof.
    inner = (index ^ (size >> level)).bit_length() - 1
    fork = NodeId(level + inner, index >> inner)
    begin, end = fork.coverage()
    node = NodeId(level, index)
    ids: list[NodeId] = [node]
    while node.level < fork.level:
        ids.append(node.sibling())
        node = node.parent()
    len1 = len(ids)
    ids.extend(reversed(range_node_ids(end, size)))
    len2 = len(ids)
    ids.extend(reversed(range_node_ids(0, begin)))
    if len1 >= len2:
        len1 = len2 = 0
    return ProofNodes(ids=tuple(ids), ephem_begin=len1, ephem_end=len2, ephem=fork.sibling())


def inclusion_node_ids(index: int, size: int) -> ProofNodes:
    """Subtrees whose hashes form the inclusion proof of leaf ``index`` in a tree of ``size``."""
    if not (0 <= index < size):
        raise ValueError(f"index {index} out of bounds for tree size {size}")
    return _nodes(index, 0, size)._skip_first()


def consistency_node_ids(size1: int, size2: int) -> ProofNodes:
    """Subtrees whose hashes form the consistency proof from ``size1`` to ``size2``."""
    if not (0 <= size1 <= size2):
        raise ValueError(f"bad consistency range {size1} -> {size2}")
    if size1 == size2 or size1 == 0:
        return ProofNodes(ids=())
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    p = _nodes(index, level, size2)
    # If size1 is a power of two the verifier knows that subtree's hash: it is root1.
    return p._skip_first() if index == 0 else p


# --------------------------------------------------------------------------------------------
# Reference proofs from a full list of leaf hashes (tests, small trees, bulk tools)
# --------------------------------------------------------------------------------------------


def _subtree_hash(leaf_hashes: Sequence[bytes], node: NodeId) -> bytes:
    begin, end = node.coverage()
    return _root_of_hashes(leaf_hashes[begin:end])


def inclusion_proof_from_leaves(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Inclusion proof for ``index`` in the tree of all ``leaf_hashes``."""
    plan = inclusion_node_ids(index, len(leaf_hashes))
    return plan.rehash([_subtree_hash(leaf_hashes, n) for n in plan.ids])


def consistency_proof_from_leaves(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """Consistency proof from the prefix of ``size1`` leaves to all ``leaf_hashes``."""
    plan = consistency_node_ids(size1, len(leaf_hashes))
    return plan.rehash([_subtree_hash(leaf_hashes, n) for n in plan.ids])
