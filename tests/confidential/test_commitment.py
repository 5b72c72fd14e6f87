"""Commitments: deterministic per artifact, hiding without the salt, one salt per artifact."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from atlas_intoto.confidential.commitment import (
    DIGEST_KEY,
    commit,
    commitment_of,
    committed_entry,
    committed_name,
    derive_salt,
    is_committed,
    is_private,
    message,
)

SECRET = bytes(range(32))
DIGESTS = {"sha256": hashlib.sha256(b"dataset").hexdigest()}


def test_same_artifact_same_commitment_in_every_step() -> None:
    first = commit(derive_salt(SECRET, "data/a.csv", DIGESTS), "data/a.csv", DIGESTS)
    again = commit(derive_salt(SECRET, "data/a.csv", dict(DIGESTS)), "data/a.csv", DIGESTS)
    assert first == again and len(first) == 64


def test_commitment_changes_with_path_bytes_and_secret() -> None:
    base = commit(derive_salt(SECRET, "data/a.csv", DIGESTS), "data/a.csv", DIGESTS)
    other_path = commit(derive_salt(SECRET, "data/b.csv", DIGESTS), "data/b.csv", DIGESTS)
    other_bytes = {"sha256": hashlib.sha256(b"other").hexdigest()}
    swapped = commit(derive_salt(SECRET, "data/a.csv", other_bytes), "data/a.csv", other_bytes)
    other_secret = bytes(32)
    elsewhere = commit(derive_salt(other_secret, "data/a.csv", DIGESTS), "data/a.csv", DIGESTS)
    assert len({base, other_path, swapped, elsewhere}) == 4


def test_a_known_digest_cannot_be_confirmed_without_the_salt() -> None:
    """Someone holding the file knows its path and digest; the commitment is still not the
    plain hash or an unkeyed HMAC of what they know."""
    salt = derive_salt(SECRET, "data/a.csv", DIGESTS)
    c = commit(salt, "data/a.csv", DIGESTS)
    m = message("data/a.csv", DIGESTS)
    assert c != hashlib.sha256(m).hexdigest()
    assert c != hmac.new(b"", m, hashlib.sha256).hexdigest()
    assert DIGESTS["sha256"] not in c and "data/a.csv" not in c


def test_the_salt_is_per_artifact() -> None:
    assert derive_salt(SECRET, "data/a.csv", DIGESTS) != derive_salt(SECRET, "data/b.csv", DIGESTS)
    assert derive_salt(SECRET, "data/a.csv", DIGESTS) != SECRET


def test_committed_names() -> None:
    c = "ab" * 32
    name = committed_name(c)
    assert name == f"private/{c}" and is_committed(name) and commitment_of(name) == c
    assert committed_entry(c) == {DIGEST_KEY: c}
    for bad in ("private/xyz", "private/" + "AB" * 32, "data/a.csv", "private/" + "a" * 63):
        assert not is_committed(bad)
        with pytest.raises(ValueError):
            commitment_of(bad)


def test_private_patterns_match_like_in_toto() -> None:
    assert is_private("data/train.csv", ["data/*"])
    assert is_private("raw/x/y.bin", ["raw/*"])  # fnmatch: * crosses /
    assert not is_private("model/model.npz", ["data/*", "raw/*"])
    assert not is_private("data/a.csv", [])
