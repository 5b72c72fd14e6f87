"""atlas_intoto.tee.policy: layout blocks to TeePolicy, pinned roots, the bundled Intel root."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509

from atlas_intoto.errors import LayoutSchemaError
from atlas_intoto.tee.policy import INTEL_ROOT_SHA256, TeePolicy, intel_root_der, roots_from_layout
from atlas_intoto.tee.simulated import generate_platform

HEX = "ab" * 48


def test_intel_root_is_bundled_with_documented_fingerprint() -> None:
    der = intel_root_der()
    assert hashlib.sha256(der).hexdigest() == INTEL_ROOT_SHA256
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.rfc4514_string().startswith("C=US,ST=CA,L=Santa Clara,O=Intel Corporation")
    assert "CN=Intel SGX Root CA" in cert.subject.rfc4514_string()


def test_defaults_without_blocks() -> None:
    policy = TeePolicy.from_layout(None, None)
    assert not policy.required
    assert policy.allow_tcb_status == ("UpToDate",)
    assert (policy.mrtd, dict(policy.rtmr), policy.mrconfigid) == ((), {}, ())


def test_step_block() -> None:
    policy = TeePolicy.from_layout(
        {"mrtd": [HEX.upper()], "rtmr": {"3": [HEX]}, "mrconfigid": [HEX]},
        {"roots": ["intel"], "allow_tcb_status": ["UpToDate", "SWHardeningNeeded"]},
    )
    assert policy.required  # a tee block implies a quote
    assert policy.mrtd == (HEX,)
    assert dict(policy.rtmr) == {3: (HEX,)}
    assert policy.mrconfigid == (HEX,)
    assert policy.allow_tcb_status == ("UpToDate", "SWHardeningNeeded")
    assert not TeePolicy.from_layout({"required": False}, None).required


def test_step_overrides_trust() -> None:
    policy = TeePolicy.from_layout(
        {"allow_tcb_status": ["OutOfDate"], "allow_debug": True},
        {"allow_tcb_status": ["UpToDate"], "allow_debug": False},
    )
    assert policy.allow_tcb_status == ("OutOfDate",)
    assert policy.allow_debug


@pytest.mark.parametrize(
    ("step", "match"),
    [
        ({"mrtd": ["abc"]}, "steps\\[\\].tee.mrtd"),
        ({"mrtd": "ab" * 48}, "must be a list"),
        ({"rtmr": {"4": [HEX]}}, "index '4'"),
        ({"rtmr": [HEX]}, "mapping"),
        ({"rtmr": {"0": ["zz" * 48]}}, "rtmr.0"),
        ({"allow_tcb_status": "UpToDate"}, "allow_tcb_status"),
    ],
)
def test_bad_step_blocks(step: dict[str, object], match: str) -> None:
    with pytest.raises(LayoutSchemaError, match=match):
        TeePolicy.from_layout(step, None)


def test_roots() -> None:
    platform = generate_platform(now=1760000000, seed=b"roots")
    pem = platform.root_pem.decode()
    assert roots_from_layout(None) == [intel_root_der()]
    assert roots_from_layout({"roots": ["intel", {"pem": pem}, pem]}) == [
        intel_root_der(),
        platform.root_der,
        platform.root_der,
    ]
    with pytest.raises(LayoutSchemaError, match="roots\\[0\\]"):
        roots_from_layout({"roots": ["keys/sim-root.pem"]})
    with pytest.raises(LayoutSchemaError, match="not a PEM certificate"):
        roots_from_layout({"roots": [{"pem": "-----BEGIN CERTIFICATE-----\ngarbage\n"}]})
