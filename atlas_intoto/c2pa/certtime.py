"""A sidecar's signing certificate judged at the link's trusted time, not at the verifier's.

Our manifests carry no RFC 3161 timestamp, and c2pa-rs (as used here) then accepts a signing
certificate outside its validity window (an expired leaf still validates as Trusted). Like TDX
collateral, a C2PA signature is judged at the time the transparency log proves the link
existed (else the verifier's clock): a certificate that was not yet, or no longer, valid then
fails; one that expired since does not (should c2pa-rs report it expired now, that code is
left to this check). Pure: bytes and a time in.
"""

from __future__ import annotations

import contextlib
import datetime
from typing import Any

from atlas_intoto.errors import C2paTrustError

#: c2pa-rs's status code for a signing certificate outside its validity window (at "now").
CODE_EXPIRED = "signingCredential.expired"

__all__ = ["CODE_EXPIRED", "check_signing_time", "signing_certificate"]


def _certificates(data: bytes) -> list[Any]:
    """The DER X.509 certificates embedded in ``data`` (the COSE x5chain of the claim
    signature; a certificate of 256 bytes to 64 KiB starts with SEQUENCE, two length bytes)."""
    from cryptography import x509

    found = []
    start = data.find(b"\x30\x82")
    while start != -1:
        end = start + 4 + int.from_bytes(data[start + 2 : start + 4], "big")
        if end <= len(data):
            with contextlib.suppress(ValueError):  # not a certificate: keep scanning
                found.append(x509.load_der_x509_certificate(data[start:end]))
        start = data.find(b"\x30\x82", start + 1)
    return found


def signing_certificate(sidecar: bytes, serial: Any) -> Any | None:
    """The certificate in ``sidecar`` whose serial number is ``serial`` (as the c2pa report
    gives it: decimal or hex text), or None."""
    if serial is None:
        return None
    text = str(serial).strip().lower()
    for cert in _certificates(sidecar):
        number = cert.serial_number
        if text in (str(number), format(number, "x"), format(number, "x").zfill(len(text))):
            return cert
    return None


def check_signing_time(sidecar: bytes, *, serial: Any, at: int, what: str) -> None:
    """The signing certificate (found by ``serial``) was valid at unix time ``at``.

    Raises C2paTrustError when it cannot be found or was not valid then.
    """
    cert = signing_certificate(sidecar, serial)
    if cert is None:
        raise C2paTrustError(f"{what}: signing certificate not found in the manifest")
    when = datetime.datetime.fromtimestamp(at, tz=datetime.UTC)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise C2paTrustError(
            f"{what}: signing certificate was not valid at the link's trusted time {at} "
            f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
        )
