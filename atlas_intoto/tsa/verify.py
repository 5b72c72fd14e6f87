"""Verifying an RFC 3161 timestamp (pure) with ``rfc3161-client``: the response is granted,
its token's signature chains to a pinned TSA root at the time it states, the TSA certificate
has the critical timeStamping EKU, and its message imprint is the hash of ``message``."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from atlas_intoto.errors import TimestampError

__all__ = ["load_roots", "verify_timestamp"]


def load_roots(pems: Sequence[bytes | str]) -> list[x509.Certificate]:
    """TSA root certificates from PEM (each may hold several); TimestampError if none parse."""
    roots: list[x509.Certificate] = []
    for pem in pems:
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            roots.extend(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise TimestampError(f"TSA root: not a PEM certificate ({exc})") from exc
    return roots


def verify_timestamp(response: bytes, *, message: bytes, roots: Sequence[x509.Certificate]) -> int:
    """The unix time (seconds) a timestamp over ``message`` proves.

    1. ``response`` decodes as a TimeStampResp (a bare TimeStampToken is not accepted);
    2. its status is granted and its token's CMS signature verifies, chaining to one of
       ``roots`` at the token's own time;
    3. the signing certificate has the critical timeStamping extended key usage;
    4. the message imprint is the hash of ``message``.
    Raises :class:`TimestampError`.
    """
    from rfc3161_client import VerificationError, VerifierBuilder, decode_timestamp_response

    if not roots:
        raise TimestampError("timestamp: no TSA roots pinned to verify it against")
    try:
        decoded = decode_timestamp_response(response)
    except Exception as exc:  # the parser raises its own exception types on hostile input
        raise TimestampError(f"timestamp: not an RFC 3161 TimeStampResp ({exc})") from exc
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(decoded, message)
        return int(decoded.tst_info.gen_time.timestamp())
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"timestamp: does not verify ({exc})") from exc
    except Exception as exc:  # e.g. cryptography's InvalidVersion on a malformed token
        raise TimestampError(f"timestamp: malformed ({type(exc).__name__}: {exc})") from exc
