"""Regenerate the identity verification vectors: one JSON file per case of a certificate-signed
DSSE envelope checked against identity functionaries (atlas_intoto.verify.identity), plus
``valid.json`` (must verify). Fixed keys: the CA root, intermediate, CT log and signer keys
under ``tests/verify/identity_vectors/keys`` (created on the first run, then reused) and a fixed
issuance time, so regenerating changes only serial numbers and signatures.

    .venv/bin/python tests/verify/identity_vectors/generate.py

Each vector: {"name", "description", "expected": {"ok": true} | {"error", "check"}, "at": the
trusted time (unix seconds) or null, "identities": [FunctionaryIdentity documents with
"name"], "ca": {"roots": [PEM], "ct_keys": [PEM]}, "envelope": b64, "certificate": b64 DER}.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner

from atlas_intoto.ca.authority import CertificateAuthority
from atlas_intoto.ca.keys import _ca_certificate
from atlas_intoto.ca.oidc import Principal
from atlas_intoto.statement import link_statement, sign_statement

HERE = Path(__file__).resolve().parent
KEYS = HERE / "keys"
#: the issuance time of every leaf (the CA is valid from 5 minutes before)
ISSUED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
AT = int(ISSUED.timestamp()) + 60
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/model/.github/workflows/train.yml@refs/heads/main"


def _key(name: str) -> ec.EllipticCurvePrivateKey:
    path = KEYS / f"{name}.pem"
    if not path.exists():
        KEYS.mkdir(parents=True, exist_ok=True)
        fresh = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(
            fresh.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _authority(prefix: str = "") -> CertificateAuthority:
    root_key, key = _key(f"{prefix}root"), _key(f"{prefix}intermediate")
    root = _ca_certificate(
        subject=f"{prefix}vector root", issuer=None, key=root_key, signer=root_key, now=ISSUED
    )
    intermediate = _ca_certificate(
        subject=f"{prefix}vector intermediate",
        issuer=root.subject,
        key=key,
        signer=root_key,
        now=ISSUED,
    )
    return CertificateAuthority(
        root=root, intermediate=intermediate, intermediate_key=key, ct_key=_key("ct")
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _leaf(
    ca: CertificateAuthority, *, subject: str = WORKFLOW, issuer: str = GITHUB, sct: bool = True
) -> bytes:
    principal = Principal(issuer=issuer, name=subject, uri=subject)
    public = _key("signer").public_key()
    cert = ca.issue(public, principal, now=ISSUED, embed_sct=sct)[0]
    return cert.public_bytes(serialization.Encoding.DER)


def _envelope() -> bytes:
    statement = link_statement(
        name="train",
        materials={"data/train.csv": {"sha256": "11" * 32}},
        products={"model/model.bin": {"sha256": "22" * 32}},
        command=["python", "train.py"],
        byproducts={},
        environment={},
    )
    return sign_statement(statement, CryptoSigner(_key("signer")))


def _tampered(envelope: bytes) -> bytes:
    doc = json.loads(envelope)
    statement = json.loads(base64.b64decode(doc["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "33" * 32
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(doc, sort_keys=True).encode()


def _vector(name: str, description: str, expected: dict[str, Any], **over: Any) -> dict[str, Any]:
    ca = _authority()
    doc: dict[str, Any] = {
        "name": name,
        "description": description,
        "expected": expected,
        "at": AT,
        "identities": [{"name": "trainer", "identity": {"issuer": GITHUB, "subject": WORKFLOW}}],
        "ca": {"roots": [_pem(ca.intermediate) + _pem(ca.root)], "ct_keys": [_ct_pem(ca)]},
        "envelope": base64.b64encode(_envelope()).decode(),
        "certificate": base64.b64encode(_leaf(ca)).decode(),
    }
    doc.update(over)
    return doc


def _ct_pem(ca: CertificateAuthority) -> str:
    return ca.ct_public_key_pem().decode()


def _fails(error: str, check: str) -> dict[str, str]:
    return {"error": error, "check": check}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "valid": lambda: _vector("valid", "the right identity, chain, SCT and time", {"ok": True}),
    "valid-pattern": lambda: _vector(
        "valid-pattern",
        "a subject_pattern fully matching the workflow",
        {"ok": True},
        identities=[
            {
                "name": "trainer",
                "identity": {
                    "issuer": GITHUB,
                    "subject_pattern": r"https://github\.com/acme/model/\.github/workflows/.+",
                },
            }
        ],
    ),
    "wrong-subject": lambda: _vector(
        "wrong-subject",
        "another repository's workflow, same issuer",
        _fails("IdentitySubjectError", "links.identity.subject"),
        certificate=_b64(_leaf(_authority(), subject=WORKFLOW.replace("acme", "evil"))),
    ),
    "pattern-prefix-only": lambda: _vector(
        "pattern-prefix-only",
        "a pattern matching only a prefix of the subject is not a match",
        _fails("IdentitySubjectError", "links.identity.subject"),
        identities=[
            {"name": "trainer", "identity": {"issuer": GITHUB, "subject_pattern": "https://github"}}
        ],
    ),
    "wrong-issuer": lambda: _vector(
        "wrong-issuer",
        "the same subject from another OIDC issuer",
        _fails("IdentityIssuerError", "links.identity.issuer"),
        certificate=_b64(_leaf(_authority(), issuer="https://evil.example")),
    ),
    "no-sct": lambda: _vector(
        "no-sct",
        "a certificate without an embedded SCT",
        _fails("CertificateSctError", "links.identity.sct"),
        certificate=_b64(_leaf(_authority(), sct=False)),
    ),
    "sct-unpinned-log": lambda: _vector(
        "sct-unpinned-log",
        "an SCT from a CT log key the layout does not pin",
        _fails("CertificateSctError", "links.identity.sct"),
        certificate=_b64(_leaf(replace(_authority(), ct_key=_key("other-ct")))),
    ),
    "other-ca": lambda: _vector(
        "other-ca",
        "a certificate from a CA the layout does not pin",
        _fails("CertificateChainError", "links.identity.chain"),
        certificate=_b64(_leaf(replace(_authority("other-"), ct_key=_key("ct")))),
    ),
    "expired": lambda: _vector(
        "expired",
        "signed (trusted time) an hour after the 10-minute certificate expired",
        _fails("CertificateTimeError", "links.identity.time"),
        at=AT + 3600,
    ),
    "not-yet-valid": lambda: _vector(
        "not-yet-valid",
        "a trusted time before the certificate was issued",
        _fails("CertificateTimeError", "links.identity.time"),
        at=AT - 3600,
    ),
    "no-trusted-time": lambda: _vector(
        "no-trusted-time",
        "no log or TSA time: a short-lived certificate cannot be judged",
        _fails("CertificateTimeError", "links.identity.time"),
        at=None,
    ),
    "payload-changed": lambda: _vector(
        "payload-changed",
        "the Statement was changed after signing",
        _fails("CertificateSignatureError", "links.identity.signature"),
        envelope=_b64(_tampered(_envelope())),
    ),
    "not-a-certificate": lambda: _vector(
        "not-a-certificate",
        "the certificate bytes are not DER X.509",
        _fails("CertificateFormatError", "links.identity.certificate"),
        certificate=_b64(b"\x30\x03\x02\x01\x00"),
    ),
}


def main() -> None:
    for name, make in CASES.items():
        (HERE / f"{name}.json").write_text(json.dumps(make(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
