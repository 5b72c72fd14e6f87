"""Step binding digest B and the TEE REPORTDATA derived from it (DESIGN.md §3), checked by hand."""

from __future__ import annotations

import hashlib

import pytest

from atlas_intoto.binding import step_binding_digest, tee_report_data


def test_binding_digest_is_sha256_of_rfc8785_json() -> None:
    digest = step_binding_digest(
        step="train",
        materials={"data/b.csv": {"sha256": "bb"}, "data/a.csv": {"sha256": "aa"}},
        products={"model.bin": {"sha256": "cc"}},
        command=["python", "train.py", "--lr", "0.1"],
        keyid="0123",
    )
    # RFC 8785 by hand: keys sorted by UTF-16 code units, no whitespace.
    canonical = (
        b'{"command":["python","train.py","--lr","0.1"],"keyid":"0123",'
        b'"materials":{"data/a.csv":{"sha256":"aa"},"data/b.csv":{"sha256":"bb"}},'
        b'"products":{"model.bin":{"sha256":"cc"}},"step":"train"}'
    )
    assert digest == hashlib.sha256(canonical).digest()


def test_report_data_is_domain_separated_sha512() -> None:
    binding, nonce = bytes(range(32)), b"\xff" * 32
    expected = hashlib.sha512(b"atlas-intoto/tee/v1\x00" + binding + nonce).digest()
    assert tee_report_data(binding, nonce) == expected
    assert len(expected) == 64
    assert tee_report_data(binding, nonce[:-1] + b"\xfe") != expected


def test_report_data_needs_a_32_byte_binding() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        tee_report_data(bytes(31), bytes(32))
