"""Regenerate the identity verification vectors: one JSON file per case of a certificate-signed
DSSE envelope checked against identity functionaries (atlas_intoto.verify.identity), plus
``valid.json`` (must verify). Fixed keys: the CA root, intermediate, CT log and signer keys
under ``tests/verify/identity_vectors/keys`` (created on the first run, then reused) and a fixed
issuance time, so regenerating changes only serial numbers and signatures.

    .venv/bin/python tests/verify/identity_vectors/generate.py

Each vector: {"name", "description", "expected": {"ok": true} | {"error", "check"}, "at": the
trusted time (unix seconds) or null, "identities": [FunctionaryIdentity documents with
"name"], "ca": {"roots": [PEM], "ct_keys": [PEM]}, "envelope": b64, "certificate": b64 DER,
"intermediates": [b64 DER] (untrusted chain the bundle carries; optional)}.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner

from atlas_intoto.ca import oids
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


@dataclass(frozen=True, kw_only=True)
class _Crafted(CertificateAuthority):
    """A CA whose leaves have some of their extensions replaced (by OID), to make the
    certificates a CA should never issue but a verifier must still refuse."""

    replace_extensions: tuple[x509.Extension[x509.ExtensionType], ...] = ()

    def _leaf_builder(self, *args: Any, **kwargs: Any) -> x509.CertificateBuilder:
        built = super()._leaf_builder(*args, **kwargs)
        swapped = {ext.oid for ext in self.replace_extensions}
        kept = [ext for ext in built._extensions if ext.oid not in swapped]
        builder = (
            x509.CertificateBuilder()
            .subject_name(built._subject_name)
            .issuer_name(built._issuer_name)
            .public_key(built._public_key)
            .serial_number(built._serial_number)
            .not_valid_before(built._not_valid_before)
            .not_valid_after(built._not_valid_after)
        )
        for ext in [*kept, *self.replace_extensions]:
            builder = builder.add_extension(ext.value, ext.critical)
        return builder


def _crafted(*extensions: tuple[x509.ExtensionType, bool]) -> bytes:
    ca = _Crafted(
        **{k: getattr(_authority(), k) for k in ("root", "intermediate", "intermediate_key")},
        ct_key=_key("ct"),
        replace_extensions=tuple(
            x509.Extension(value.oid, critical, value) for value, critical in extensions
        ),
    )
    return _leaf(ca)


def _issuer_ext(v1: str, v2: str) -> tuple[tuple[x509.ExtensionType, bool], ...]:
    return (
        (x509.UnrecognizedExtension(oids.OIDC_ISSUER_V1, v1.encode()), False),
        (x509.UnrecognizedExtension(oids.OIDC_ISSUER_V2, core.UTF8String(v2).dump()), False),
    )


def _san(*names: x509.GeneralName) -> tuple[x509.ExtensionType, bool]:
    return (x509.SubjectAlternativeName(list(names)), True)


def _other_name(raw: bytes) -> x509.GeneralName:
    return x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7"), raw)


def _not_a_ca_issuer() -> dict[str, Any]:
    """A leaf issued by a certificate the pinned intermediate issued without CA rights."""
    ca = _authority()
    key = _key("other-intermediate")
    fake = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "not a CA")]))
        .issuer_name(ca.intermediate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ISSUED - dt.timedelta(minutes=5))
        .not_valid_after(ISSUED + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca.intermediate_key, hashes.SHA256())
    )
    issuing = replace(ca, intermediate=fake, intermediate_key=key)
    return {
        "certificate": _b64(_leaf(issuing)),
        "intermediates": [_b64(fake.public_bytes(serialization.Encoding.DER))],
    }


def _sct_of_another() -> str:
    """A leaf carrying the (valid) SCT list of another certificate of the same CA."""
    ca = _authority()
    other = x509.load_der_x509_certificate(_leaf(ca, subject=WORKFLOW + "-other"))
    scts = other.extensions.get_extension_for_oid(oids.SCT_LIST).value
    swapped = (x509.Extension(oids.SCT_LIST, False, scts),)
    return _b64(_leaf(_Crafted(**vars(ca), replace_extensions=swapped), sct=False))


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
    "issuer-extensions-disagree": lambda: _vector(
        "issuer-extensions-disagree",
        "the deprecated issuer extension names the functionary's issuer, the current one another",
        _fails("IdentityIssuerError", "links.identity.issuer"),
        certificate=_b64(_crafted(*_issuer_ext(GITHUB, "https://evil.example"))),
    ),
    "issuer-extensions-disagree-v2": lambda: _vector(
        "issuer-extensions-disagree-v2",
        "the current issuer extension names the functionary's issuer, the deprecated one another",
        _fails("IdentityIssuerError", "links.identity.issuer"),
        certificate=_b64(_crafted(*_issuer_ext("https://evil.example", GITHUB))),
    ),
    "issuer-case-folded": lambda: _vector(
        "issuer-case-folded",
        "the issuer URL in another letter case is another issuer (OIDC compares exactly)",
        _fails("IdentityIssuerError", "links.identity.issuer"),
        certificate=_b64(_leaf(_authority(), issuer=GITHUB.replace("actions", "Actions"))),
    ),
    "issuer-trailing-slash": lambda: _vector(
        "issuer-trailing-slash",
        "the issuer URL with a trailing slash is another issuer",
        _fails("IdentityIssuerError", "links.identity.issuer"),
        certificate=_b64(_leaf(_authority(), issuer=GITHUB + "/")),
    ),
    "san-several-subjects": lambda: _vector(
        "san-several-subjects",
        "a certificate naming another subject and the functionary's: which one was vouched for?",
        _fails("IdentitySubjectError", "links.identity.subject"),
        certificate=_b64(
            _crafted(
                _san(
                    x509.UniformResourceIdentifier(WORKFLOW.replace("acme", "evil")),
                    x509.UniformResourceIdentifier(WORKFLOW),
                )
            )
        ),
    ),
    "valid-othername": lambda: _vector(
        "valid-othername",
        "Sigstore's other-name subject (a DER UTF8String) matching exactly",
        {"ok": True},
        identities=[{"name": "trainer", "identity": {"issuer": GITHUB, "subject": "ci@acme"}}],
        certificate=_b64(_crafted(_san(_other_name(core.UTF8String("ci@acme").dump())))),
    ),
    "pattern-suffix-only": lambda: _vector(
        "pattern-suffix-only",
        "a pattern matching only a suffix of the subject is not a match",
        _fails("IdentitySubjectError", "links.identity.subject"),
        identities=[
            {
                "name": "trainer",
                "identity": {"issuer": GITHUB, "subject_pattern": "refs/heads/main"},
            }
        ],
    ),
    "pattern-dollar-newline": lambda: _vector(
        "pattern-dollar-newline",
        "a pattern ending in $ does not match the subject followed by a newline",
        _fails("IdentitySubjectError", "links.identity.subject"),
        identities=[
            {
                "name": "trainer",
                "identity": {"issuer": GITHUB, "subject_pattern": r"ci@acme\.example$"},
            }
        ],
        certificate=_b64(_crafted(_san(x509.RFC822Name("ci@acme.example\n")))),
    ),
    "leaf-is-ca": lambda: _vector(
        "leaf-is-ca",
        "the signing certificate is itself a CA",
        _fails("CertificateChainError", "links.identity.chain"),
        certificate=_b64(_crafted((x509.BasicConstraints(ca=True, path_length=None), True))),
    ),
    "issued-by-non-ca": lambda: _vector(
        "issued-by-non-ca",
        "the leaf's issuer (carried as an intermediate) is not a CA, though a pinned CA issued it",
        _fails("CertificateChainError", "links.identity.chain"),
        ca={"roots": [_pem(_authority().root)], "ct_keys": [_ct_pem(_authority())]},
        **_not_a_ca_issuer(),
    ),
    "other-ca-pinned-root-carried": lambda: _vector(
        "other-ca-pinned-root-carried",
        "the right subject from an unpinned CA, the pinned root and intermediate carried too",
        _fails("CertificateChainError", "links.identity.chain"),
        certificate=_b64(_leaf(replace(_authority("other-"), ct_key=_key("ct")))),
        intermediates=[
            _b64(c.public_bytes(serialization.Encoding.DER))
            for c in (*_authority("other-").chain, *_authority().chain)
        ][:1]
        + [_b64(c.public_bytes(serialization.Encoding.DER)) for c in _authority().chain],
    ),
    "sct-of-another-certificate": lambda: _vector(
        "sct-of-another-certificate",
        "the certificate embeds a valid SCT of another certificate of the same CA",
        _fails("CertificateSctError", "links.identity.sct"),
        certificate=_sct_of_another(),
    ),
    "chain-junk": lambda: _vector(
        "chain-junk",
        "the carried chain holds bytes that are not a certificate",
        _fails("CertificateFormatError", "links.identity.certificate"),
        intermediates=[_b64(b"junk")],
    ),
}


def main() -> None:
    for name, make in CASES.items():
        (HERE / f"{name}.json").write_text(json.dumps(make(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
