"""atlas_intoto.tee.simulated.pki: the simulated DCAP certificate hierarchy."""

from __future__ import annotations

import dcap_qvl
from cryptography import x509

from atlas_intoto.tee.quote import parse_quote
from atlas_intoto.tee.simulated import SGX_EXTENSION_OID, generate_platform

NOW = 1760000000


def test_pck_certificate_carries_intel_sgx_extension() -> None:
    platform = generate_platform(now=NOW, seed=b"ext")
    chain = parse_quote(platform.make_quote(bytes(64))).pck_chain_pem
    assert chain is not None
    ext = dcap_qvl.parse_pck_extension_from_pem(chain)
    assert ext.ppid == platform.ppid
    assert ext.fmspc == platform.fmspc
    assert ext.cpu_svn.hex() == "03030202040100050000000000000000"
    assert ext.pce_svn == 11
    assert ext.pce_id == b"\x00\x00"
    assert ext.sgx_type == 0
    extension = platform.pck_cert.extensions.get_extension_for_oid(
        x509.ObjectIdentifier(SGX_EXTENSION_OID)
    )
    assert not extension.critical


def test_chain_structure() -> None:
    platform = generate_platform(now=NOW, seed=b"chain")
    root, ca, pck, tcb = (
        platform.root_cert,
        platform.pck_ca_cert,
        platform.pck_cert,
        platform.tcb_cert,
    )
    assert root.issuer == root.subject
    assert ca.issuer == root.subject and tcb.issuer == root.subject
    assert pck.issuer == ca.subject
    basic = x509.BasicConstraints
    assert root.extensions.get_extension_for_class(basic).value.ca
    assert ca.extensions.get_extension_for_class(basic).value.path_length == 0
    assert not pck.extensions.get_extension_for_class(basic).value.ca
    ca.verify_directly_issued_by(root)
    pck.verify_directly_issued_by(ca)
    tcb.verify_directly_issued_by(root)
