"""atlas_intoto.tee.quote: byte-exact TDX quote v4/v5 parsing and building."""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atlas_intoto.errors import QuoteFormatError
from atlas_intoto.tee.quote import (
    CERT_TYPE_PCK_CHAIN,
    CERT_TYPE_QE_REPORT,
    INTEL_QE_VENDOR_ID,
    MAX_QUOTE_LEN,
    TEE_TYPE_TDX,
    build_quote,
    parse_enclave_report,
    parse_quote,
)


@pytest.fixture(scope="module")
def v4(shared_testdata: Path) -> bytes:
    return (shared_testdata / "tdx" / "tdx_quote").read_bytes()


@pytest.fixture(scope="module")
def v5(shared_testdata: Path) -> bytes:
    return (shared_testdata / "tdx" / "tdx_quote_outdated").read_bytes()


def test_real_v4_quote_fields(v4: bytes) -> None:
    quote = parse_quote(v4)
    assert quote.header.version == 4
    assert quote.header.tee_type == TEE_TYPE_TDX
    assert quote.header.qe_vendor_id == INTEL_QE_VENDOR_ID
    assert quote.body_type is None
    report = quote.report
    assert report.version == "1.0"
    assert report.tee_tcb_svn.hex() == "06010300000000000000000000000000"
    assert report.mr_td.hex().startswith("91eb2b44d141d4ec")
    assert report.rtmr3 == bytes(48)
    assert report.td_attributes.hex() == "0000001000000000"
    assert not report.debug
    assert report.xfam.hex() == "e702060000000000"
    qe = quote.qe_certification
    assert qe is not None
    assert quote.signature_data.certification.cert_type == CERT_TYPE_QE_REPORT
    assert qe.certification.cert_type == CERT_TYPE_PCK_CHAIN
    assert qe.qe_auth_data == bytes(range(32))
    assert qe.qe_report.isv_prod_id == 2
    assert qe.qe_report.mr_signer.hex().startswith("dc9e2a7c")
    chain = quote.pck_chain_pem
    assert chain is not None and chain.count(b"-----BEGIN CERTIFICATE-----") == 3
    # The generator padded the quote with zero bytes after the signature data.
    assert quote.padding == 70


def test_real_v5_quote_fields(v5: bytes) -> None:
    quote = parse_quote(v5)
    assert quote.header.version == 5
    assert quote.body_type == 3
    assert quote.report.version == "1.5"
    assert quote.report.tee_tcb_svn2 is not None and len(quote.report.tee_tcb_svn2) == 16
    assert quote.report.mr_service_td == bytes(48)
    assert quote.report.mr_td.hex().startswith("273828c46252fcbd")
    assert quote.padding == 0


@pytest.mark.parametrize("name", ["tdx_quote", "tdx_quote_outdated"])
def test_build_parse_roundtrip_is_byte_exact(shared_testdata: Path, name: str) -> None:
    data = (shared_testdata / "tdx" / name).read_bytes()
    assert build_quote(parse_quote(data)) == data


def test_signed_bytes_cover_header_and_body(v4: bytes, v5: bytes) -> None:
    assert parse_quote(v4).signed_bytes() == v4[: 48 + 584]
    assert parse_quote(v5).signed_bytes() == v5[: 48 + 6 + 648]


def test_qe_report_roundtrip(v4: bytes) -> None:
    qe = parse_quote(v4).qe_certification
    assert qe is not None
    encoded = qe.qe_report.encode()
    assert len(encoded) == 384
    assert parse_enclave_report(encoded) == qe.qe_report


@pytest.mark.parametrize(
    ("cut", "field"),
    [
        (0, "header.version"),
        (10, "header.pce_svn"),
        (47, "header.user_data"),
        (48, "td_report.tee_tcb_svn"),
        (100, "td_report.mr_seam"),
        (631, "td_report.report_data"),
        (634, "signature_data.length"),
        (636, "signature_data.length"),
        (4935, "signature_data.length"),
    ],
)
def test_truncated_v4_names_offset_and_field(v4: bytes, cut: int, field: str) -> None:
    with pytest.raises(QuoteFormatError, match=rf"offset \d+ field {field}"):
        parse_quote(v4[:cut])


@pytest.mark.parametrize(
    ("cut", "field"),
    [(49, "body.type"), (52, "body.size"), (700, "td_report.mr_service_td")],
)
def test_truncated_v5_names_offset_and_field(v5: bytes, cut: int, field: str) -> None:
    with pytest.raises(QuoteFormatError, match=rf"offset \d+ field {field}"):
        parse_quote(v5[:cut])


def test_trailing_garbage_is_oversized(v4: bytes) -> None:
    with pytest.raises(QuoteFormatError, match="offset 5008: unexpected data"):
        parse_quote(v4 + b"\x00\x00x")


def test_too_large_input(v4: bytes) -> None:
    with pytest.raises(QuoteFormatError, match="oversized"):
        parse_quote(v4 + bytes(MAX_QUOTE_LEN))


def test_unsupported_version_and_key_type(v4: bytes) -> None:
    with pytest.raises(
        QuoteFormatError, match=re.escape("offset 0 field header.version: unsupported version 3")
    ):
        parse_quote(struct.pack("<H", 3) + v4[2:])
    with pytest.raises(QuoteFormatError, match="attestation_key_type"):
        parse_quote(v4[:2] + struct.pack("<H", 3) + v4[4:])


def test_v5_body_descriptor_checked(v5: bytes) -> None:
    with pytest.raises(
        QuoteFormatError, match=re.escape("offset 48 field body.type: unsupported body type 4")
    ):
        parse_quote(v5[:48] + struct.pack("<H", 4) + v5[50:])
    with pytest.raises(QuoteFormatError, match=re.escape("offset 50 field body.size")):
        parse_quote(v5[:50] + struct.pack("<I", 584) + v5[54:])


def test_certification_size_overflow(v4: bytes) -> None:
    # certification data size at 636 + 64 + 64 + 2
    bad = bytearray(v4)
    struct.pack_into("<I", bad, 766, 10**6)
    with pytest.raises(
        QuoteFormatError, match=re.escape("offset 766 field signature_data.certification.size")
    ):
        parse_quote(bytes(bad))


def test_inner_certification_must_fill_its_parent(v4: bytes) -> None:
    # Shrink the nested PCK chain size by one: one byte is left over inside type 6 data.
    quote = parse_quote(v4)
    qe = quote.qe_certification
    assert qe is not None
    inner_size_at = 636 + 128 + 6 + 384 + 64 + 2 + len(qe.qe_auth_data) + 2
    bad = bytearray(v4)
    struct.pack_into("<I", bad, inner_size_at, len(qe.certification.data) - 1)
    with pytest.raises(QuoteFormatError, match="1 unexpected bytes at the end"):
        parse_quote(bytes(bad))


def test_build_rejects_wrong_field_sizes(v4: bytes) -> None:
    quote = parse_quote(v4)
    bad = dataclasses.replace(quote, report=dataclasses.replace(quote.report, mr_td=b"short"))
    with pytest.raises(QuoteFormatError, match=re.escape("td_report.mr_td must be 48 bytes")):
        build_quote(bad)
    v4_with_td15 = dataclasses.replace(
        quote,
        report=dataclasses.replace(quote.report, tee_tcb_svn2=bytes(16), mr_service_td=bytes(48)),
    )
    with pytest.raises(QuoteFormatError, match=re.escape("v4 quote carries a TD report 1.0")):
        build_quote(v4_with_td15)


def test_parse_rejects_non_bytes() -> None:
    with pytest.raises(QuoteFormatError):
        parse_quote("not bytes")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=6000))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        quote = parse_quote(data)
    except QuoteFormatError:
        return
    assert build_quote(quote) == data


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_mutated_real_quote_parses_or_fails_cleanly(v4: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(v4) - 1))
    value = data.draw(st.integers(0, 255))
    mutated = v4[:position] + bytes([value]) + v4[position + 1 :]
    try:
        quote = parse_quote(mutated)
    except QuoteFormatError:
        return
    assert build_quote(quote) == mutated
