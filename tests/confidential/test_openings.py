"""The openings file: round trip, malformed input named, reuse and forgery detected."""

from __future__ import annotations

import hashlib

import pytest

from atlas_intoto.confidential.commitment import commit, derive_salt
from atlas_intoto.confidential.openings import (
    Opening,
    Openings,
    check_opening,
    index,
    parse_openings,
)
from atlas_intoto.errors import ForgedCommitmentError, InputError, ReusedCommitmentError

SECRET = b"s" * 32


def _opening(path: str, content: bytes) -> Opening:
    digests = {"sha256": hashlib.sha256(content).hexdigest()}
    salt = derive_salt(SECRET, path, digests)
    return Opening(
        commitment=commit(salt, path, digests), salt=salt.hex(), path=path, digests=digests
    )


def test_round_trip_and_reproduction() -> None:
    openings = Openings(items=(_opening("data/a.csv", b"a"), _opening("data/b.csv", b"b")))
    parsed = parse_openings(openings.serialize(), source="o.json")
    assert sorted(parsed.items, key=lambda o: o.path) == sorted(
        openings.items, key=lambda o: o.path
    )
    for opening in parsed.items:
        assert opening.reproduces()
        check_opening(opening, where="test")


def _entry(*, path: str = "p", digests: str = '{"sha256": "00"}') -> bytes:
    """An openings file of one entry with ``path`` (JSON string body) and ``digests``."""
    return (
        '{"media_type": "application/vnd.atlas-intoto.openings.v1+json", "openings": {"'
        + "a" * 64
        + '": {"salt": "'
        + "0" * 64
        + f'", "path": "{path}", "digests": {digests}}}}}}}'
    ).encode()


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b"[]", "media_type"),
        (b'{"media_type": "x", "openings": {}}', "media_type"),
        (b'{"media_type": "application/vnd.atlas-intoto.openings.v1+json"}', "openings"),
        (
            b'{"media_type": "application/vnd.atlas-intoto.openings.v1+json",'
            b' "openings": {"zz": {}}}',
            "64-hex",
        ),
        (
            b'{"media_type": "application/vnd.atlas-intoto.openings.v1+json", "openings": {"'
            + b"a" * 64
            + b'": {"salt": "00", "path": "p", "digests": {"sha256": "00"}}}}',
            ".salt",
        ),
        (
            b'{"media_type": "application/vnd.atlas-intoto.openings.v1+json", "openings": {"'
            + b"a" * 64
            + b'": {"salt": "'
            + b"0" * 64
            + b'", "path": "", "digests": {"sha256": "00"}}}}',
            ".path",
        ),
        (
            b'{"media_type": "application/vnd.atlas-intoto.openings.v1+json", "openings": {"'
            + b"a" * 64
            + b'": {"salt": "'
            + b"0" * 64
            + b'", "path": "p", "digests": []}}}',
            ".digests",
        ),
        (b"not json", "invalid JSON"),
        (_entry(path="\\ud800"), ".path"),  # RFC 8785 cannot canonicalise it
        (_entry(path="p\\u0000\\nOK"), ".path"),
        (_entry(digests='{"sha256": "zz"}'), ".digests"),
        (_entry(digests='{"sha256": "00", "sha256": "11"}'), "'sha256' appears twice"),
        (_entry()[:-2] + b', "' + b"a" * 64 + b'": {}}}', "appears twice"),
        (
            b'{"media_type": "application/vnd.atlas-intoto.openings.v1+json", "openings": '
            b'{"a\\nb": {}}}',
            "'a\\nb'",
        ),
    ],
)
def test_malformed_openings_name_the_field(doc: bytes, field: str) -> None:
    with pytest.raises(InputError) as info:
        parse_openings(doc, source="o.json")
    assert "o.json" in str(info.value) and field in str(info.value)
    assert "\n" not in str(info.value)


def test_forged_opening_does_not_reproduce() -> None:
    real = _opening("data/a.csv", b"a")
    forged = Opening(
        commitment=real.commitment,
        salt=real.salt,
        path=real.path,
        digests={"sha256": hashlib.sha256(b"other").hexdigest()},
    )
    assert not forged.reproduces()
    with pytest.raises(ForgedCommitmentError):
        check_opening(forged, where="test")


def test_one_commitment_two_openings_is_reuse() -> None:
    real = _opening("data/a.csv", b"a")
    other = Opening(
        commitment=real.commitment, salt=real.salt, path="data/b.csv", digests=real.digests
    )
    with pytest.raises(ReusedCommitmentError):
        index([real, other])


def test_one_salt_two_commitments_is_reuse() -> None:
    a, b = _opening("data/a.csv", b"a"), _opening("data/b.csv", b"b")
    copied = Opening(commitment=b.commitment, salt=a.salt, path=b.path, digests=b.digests)
    with pytest.raises(ReusedCommitmentError):
        index([a, copied])


def test_the_same_opening_twice_is_fine() -> None:
    a = _opening("data/a.csv", b"a")
    assert index([a, a]) == {a.commitment: a}
    assert len(Openings(items=(a,)) + Openings(items=(a,))) == 2
