"""An RFC 3161 time-stamping authority (pure apart from the caller's clock): answering a
``TimeStampReq`` with a ``TimeStampResp`` whose token is a CMS SignedData over a TSTInfo,
signed by the TSA's key (ECDSA P-256) under its own certificate chain — as Sigstore's
timestamp-authority answers ``POST /api/v1/timestamp``.

The token carries the TSA certificate, a ``signingCertificateV2`` (ESSCertIDv2) attribute
naming it, the message digest of the TSTInfo and the content type; the TSA certificate has the
critical ``timeStamping`` extended key usage RFC 3161 §2.3 requires. Requests are parsed with
asn1crypto; a malformed request gets a ``rejection`` response (``badDataFormat``), not an
exception, so the HTTP edge always answers ``application/timestamp-reply``.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["POLICY_OID", "TimestampAuthority"]

#: The TSA policy of atlas-intoto timestamps (a private arc; rfc3161 requires one).
POLICY_OID = "1.3.6.1.4.1.57264.2"
_HASHES = {"sha256": 32, "sha384": 48, "sha512": 64}
#: Largest request accepted (a TimeStampReq is a few hundred bytes).
MAX_REQUEST = 16 * 1024


class _StatusOnly(core.Sequence):  # type: ignore[misc]
    """A TimeStampResp without a token (asn1crypto's own class requires the token)."""

    _fields: ClassVar[list[tuple[str, Any]]] = [("status", tsp.PKIStatusInfo)]


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({failure}),
        }
    )
    return bytes(_StatusOnly({"status": status}).dump())


@dataclass(frozen=True, kw_only=True)
class TimestampAuthority:
    """A TSA: its signing key and certificate chain (TSA certificate first, root last)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    def chain_pem(self) -> bytes:
        """``GET /api/v1/timestamp/certchain``: the chain as concatenated PEM."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def respond(self, request: bytes, *, now: datetime.datetime) -> tuple[bytes, bool]:
        """A DER TimeStampResp answering the DER TimeStampReq ``request`` at ``now``, and
        whether it grants a timestamp (False: a rejection naming the failure)."""
        if len(request) > MAX_REQUEST:
            return _rejection("bad_data_format", "request too large"), False
        try:
            req = tsp.TimeStampReq.load(request, strict=True)
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = bytes(imprint["hashed_message"].native)
            nonce = req["nonce"].native
            cert_req = bool(req["cert_req"].native)
            policy = req["req_policy"].native
        except (ValueError, TypeError, KeyError) as exc:
            return _rejection("bad_data_format", f"malformed TimeStampReq ({exc})"), False
        if algorithm not in _HASHES:
            return _rejection("bad_alg", f"unsupported hash algorithm {algorithm}"), False
        if len(digest) != _HASHES[algorithm]:
            return _rejection("bad_data_format", "message imprint has the wrong length"), False
        if policy is not None and policy != POLICY_OID:
            return _rejection("unaccepted_policy", f"policy {policy} is not offered"), False
        info = self._tst_info(algorithm, digest, nonce, now)
        token = self._token(info, include_certs=cert_req)
        status = tsp.PKIStatusInfo({"status": "granted"})
        return bytes(tsp.TimeStampResp({"status": status, "time_stamp_token": token}).dump()), True

    def _tst_info(
        self, algorithm: str, digest: bytes, nonce: int | None, now: datetime.datetime
    ) -> tsp.TSTInfo:
        fields = {
            "version": "v1",
            "policy": POLICY_OID,
            "message_imprint": {
                "hash_algorithm": {"algorithm": algorithm},
                "hashed_message": digest,
            },
            "serial_number": secrets.randbits(127),
            "gen_time": now.astimezone(datetime.UTC).replace(microsecond=0),
            "accuracy": {"seconds": 1},
            "ordering": False,
        }
        if nonce is not None:
            fields["nonce"] = nonce
        return tsp.TSTInfo(fields)

    def _token(self, info: tsp.TSTInfo, *, include_certs: bool) -> cms.ContentInfo:
        leaf = self.chain[0]
        leaf_der = leaf.public_bytes(serialization.Encoding.DER)
        info_der = info.dump()
        ess = tsp.SigningCertificateV2(
            {"certs": [{"cert_hash": hashlib.sha256(leaf_der).digest()}]}
        )
        attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [hashlib.sha256(info_der).digest()]},
                {"type": "signing_certificate_v2", "values": [ess]},
            ]
        )
        signature = self.key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        asn1_leaf = asn1_x509.Certificate.load(leaf_der)
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": asn1_leaf.issuer,
                            "serial_number": asn1_leaf.serial_number,
                        }
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        certs: Sequence[asn1_x509.Certificate] = (
            [
                asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                for c in self.chain
            ]
            if include_certs
            else []
        )
        fields: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(info_der),
            },
            "signer_infos": [signer],
        }
        if certs:
            fields["certificates"] = list(certs)
        signed = cms.SignedData(fields)
        return cms.ContentInfo({"content_type": "signed_data", "content": signed})
