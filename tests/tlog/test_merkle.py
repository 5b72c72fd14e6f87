"""RFC 6962 Merkle maths: transparency-dev/merkle vectors plus properties against a naive tree."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_intoto.errors import ConsistencyProofError, InclusionProofError
from atlas_intoto.tlog import merkle

# --------------------------------------------------------------------------------------------
# Naive reference: RFC 6962 §2.1 definitions, recursively, straight from the text.
# --------------------------------------------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(d):
        return []
    return ref_subproof(m, d, True)


def _leaves(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() for i in range(n)]


# --------------------------------------------------------------------------------------------
# transparency-dev/merkle testdata
# --------------------------------------------------------------------------------------------


def _b64(v: Any) -> bytes:
    return base64.b64decode(v) if v else b""


def _cases(root: Path, kind: str) -> list[Path]:
    return sorted((root / "merkle" / kind).rglob("*.json"))


_SHARED = Path(__file__).resolve().parents[3] / "shared" / "testdata"


def _ids(kind: str) -> list[str]:
    return [str(p.relative_to(_SHARED / "merkle" / kind)) for p in _cases(_SHARED, kind)]


def test_vector_counts(shared_testdata: Path) -> None:
    # Guard against the parametrisation silently collecting nothing.
    assert len(_cases(shared_testdata, "inclusion")) >= 80
    assert len(_cases(shared_testdata, "consistency")) >= 90


@pytest.mark.parametrize("case", _ids("inclusion"))
def test_inclusion_vectors(shared_testdata: Path, case: str) -> None:
    d = json.loads((shared_testdata / "merkle" / "inclusion" / case).read_text())
    proof = [_b64(h) for h in d["proof"] or []]
    args = (_b64(d["leafHash"]), d["leafIdx"], d["treeSize"], proof, _b64(d["root"]))
    if d["wantErr"]:
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("case", _ids("consistency"))
def test_consistency_vectors(shared_testdata: Path, case: str) -> None:
    d = json.loads((shared_testdata / "merkle" / "consistency" / case).read_text())
    proof = [_b64(h) for h in d["proof"] or []]
    args = (d["size1"], d["size2"], proof, _b64(d["root1"]), _b64(d["root2"]))
    if d["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


# --------------------------------------------------------------------------------------------
# Hashing and roots
# --------------------------------------------------------------------------------------------


def test_rfc6962_known_roots() -> None:
    # The empty tree and the 8-leaf tree of transparency-dev's reference inputs.
    assert merkle.root_from_leaves([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    leaves = [
        bytes.fromhex(h)
        for h in (
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        )
    ]
    assert merkle.root_from_leaves(leaves).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert merkle.leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@given(st.integers(min_value=0, max_value=300))
@settings(max_examples=60, deadline=None)
def test_root_matches_reference(n: int) -> None:
    d = _leaves(n)
    assert merkle.root_from_leaves(d) == ref_mth(d)
    hashes = [merkle.leaf_hash(x) for x in d]
    assert merkle.root_from_leaves(hashes, hashed=True) == ref_mth(d)
    ids = merkle.range_node_ids(0, n)
    assert merkle.root_from_range([merkle._subtree_hash(hashes, i) for i in ids]) == ref_mth(d)


@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=300))
@settings(max_examples=100, deadline=None)
def test_range_nodes_cover_range(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    pos = begin
    for node in merkle.range_node_ids(begin, end):
        lo, hi = node.coverage()
        assert lo == pos
        pos = hi
    assert pos == end


# --------------------------------------------------------------------------------------------
# Proof generation against the reference, and round trips through verification
# --------------------------------------------------------------------------------------------


@st.composite
def _size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=300))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@given(_size_and_index())
@settings(max_examples=150, deadline=None)
def test_inclusion_proof_matches_reference(si: tuple[int, int]) -> None:
    size, index = si
    d = _leaves(size)
    hashes = [merkle.leaf_hash(x) for x in d]
    proof = merkle.inclusion_proof_from_leaves(hashes, index)
    assert proof == ref_path(index, d)
    root = ref_mth(d)
    merkle.verify_inclusion(hashes[index], index, size, proof, root)
    # Every stored id is a complete subtree of the tree: storage can serve it.
    for node in merkle.inclusion_node_ids(index, size).ids:
        assert node.coverage()[1] <= size
    if proof:
        bad = [*proof[:-1], bytes(32)]
        with pytest.raises(InclusionProofError):
            merkle.verify_inclusion(hashes[index], index, size, bad, root)
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, size, proof, root)


@st.composite
def _two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(min_value=0, max_value=300))
    return draw(st.integers(min_value=0, max_value=size2)), size2


@given(_two_sizes())
@settings(max_examples=150, deadline=None)
def test_consistency_proof_matches_reference(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    d = _leaves(size2)
    hashes = [merkle.leaf_hash(x) for x in d]
    proof = merkle.consistency_proof_from_leaves(hashes, size1)
    assert proof == ref_proof(size1, d)
    root1, root2 = ref_mth(d[:size1]), ref_mth(d)
    if size1 == 0:
        assert proof == []
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(size1, size2, proof, root1, root2)
    else:
        merkle.verify_consistency(size1, size2, proof, root1, root2)
    for node in merkle.consistency_node_ids(size1, size2).ids:
        assert node.coverage()[1] <= size2
    if 0 < size1 < size2:
        # A rewritten history (different first leaf) must not verify.
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(size1, size2, proof, ref_mth([b"x", *d[1:size1]]), root2)
        with pytest.raises(ConsistencyProofError):
            merkle.verify_consistency(size1, size2, proof[:-1], root1, root2)


def test_planning_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_node_ids(5, 5)
    with pytest.raises(ValueError):
        merkle.consistency_node_ids(6, 5)
    with pytest.raises(ValueError):
        merkle.inclusion_node_ids(0, 3).rehash([])


def test_malformed_inputs_raise_proof_errors() -> None:
    root = ref_mth(_leaves(4))
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(b"short", 0, 4, [bytes(32)] * 2, root)
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(bytes(32), -1, 4, [bytes(32)] * 2, root)
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(2, 4, [b"short"], root, root)
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(-1, 4, [], root, root)
