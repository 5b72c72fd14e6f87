"""The disclosure search of public documents (atlas_intoto.confidential.audience): every
spelling of a private digest, at every encoding layer."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from atlas_intoto.confidential.audience import disclosures
from atlas_intoto.confidential.openings import Opening, Openings

DIGEST = hashlib.sha256(b"secret rows").digest()
OPENINGS = Openings(
    items=(
        Opening(
            commitment="ab" * 32,
            salt="cd" * 32,
            path="data/train.csv",
            digests={"sha256": DIGEST.hex()},
        ),
    )
)


def _wrapped(text: str, encode: bool) -> bytes:
    """``text`` inside a JSON document inside a base64 payload (URL-safe, unpadded: as some
    DSSE and Rekor encoders write it) when ``encode``."""
    inner = json.dumps({"byproducts": {"stdout": f"x {text} y"}}).encode()
    if not encode:
        return inner
    payload = base64.urlsafe_b64encode(inner + b"\xfb\xff").decode().rstrip("=")
    return json.dumps({"payload": payload}).encode()


@pytest.mark.parametrize(
    "spelling",
    [
        DIGEST.hex(),
        DIGEST.hex().upper(),
        base64.b64encode(DIGEST).decode(),
        base64.urlsafe_b64encode(DIGEST).decode().rstrip("="),
    ],
    ids=["hex", "upper-hex", "base64", "base64url"],
)
@pytest.mark.parametrize("encode", [False, True], ids=["clear", "base64url-layer"])
def test_every_spelling_of_a_digest_is_found(spelling: str, encode: bool) -> None:
    assert disclosures(_wrapped(spelling, encode), OPENINGS) == ["sha256 digest of data/train.csv"]


def test_path_in_a_url_safe_layer_is_found() -> None:
    assert disclosures(_wrapped("data/train.csv", True), OPENINGS) == [
        "private path data/train.csv"
    ]


def test_nothing_private_nothing_found() -> None:
    assert disclosures(_wrapped("model/model.npz", True), OPENINGS) == []


def test_a_raw_digest_in_a_binary_layer_is_found() -> None:
    """CBOR (C2PA) and protobuf hold digests as raw bytes, inside a base64 layer."""
    binary = b"\xa2\x63alg\x66sha256\x64hash\x58\x20" + DIGEST
    doc = json.dumps({"manifest": base64.b64encode(binary).decode()}).encode()
    assert disclosures(doc, OPENINGS) == ["sha256 digest of data/train.csv"]


def test_an_escaped_non_ascii_path_is_found() -> None:
    """JSON writers escape non-ASCII (and may escape ``/``): the search reads the strings."""
    opening = Opening(
        commitment="ab" * 32, salt="cd" * 32, path="data/donn\u00e9es.csv", digests={}
    )
    inner = '{"materials": {"data\\/donn\\u00e9es.csv": {}}}'  # as some writers escape
    assert json.loads(inner) == {"materials": {"data/donn\u00e9es.csv": {}}}
    doc = json.dumps({"payload": base64.b64encode(inner.encode()).decode()}).encode()
    assert disclosures(doc, Openings(items=(opening,))) == ["private path data/donn\u00e9es.csv"]
