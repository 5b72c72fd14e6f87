"""Check 2 for identity functionaries: loading a certificate-signed attestation, and judging
its certificate at the trusted time once check 6 has established it
(:mod:`atlas_intoto.verify.identity` does the verification)."""

from __future__ import annotations

from typing import Any

from atlas_intoto.bundle import LinkEvidence
from atlas_intoto.errors import AtlasError, CertificateFormatError, FormatError
from atlas_intoto.layout import Layout, StepSpec
from atlas_intoto.verify.checks import failed, passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import LinkKey, VerificationState, VerifiedLink

__all__ = [
    "check_certificate_times",
    "has_certificate",
    "load_certified_link",
    "logged_certificates",
]


def _carried_chain(envelope: bytes) -> tuple[bytes, ...]:
    """The chain (DER, leaf first) keyless recording writes into the attestation's evidence
    block (``certificates``): read before the signature is checked, so only ever used as
    untrusted input — the chain must still reach a pinned root and the leaf's key must
    verify the signature."""
    import base64

    from atlas_intoto.errors import AtlasError
    from atlas_intoto.keyless import CERTIFICATES_KEY
    from atlas_intoto.link import read_unverified_link

    try:
        carried = read_unverified_link(envelope).atlas.get(CERTIFICATES_KEY)
        if not isinstance(carried, list):
            return ()
        return tuple(base64.b64decode(str(item), validate=True) for item in carried)
    except (AtlasError, ValueError):
        return ()


def _certificate(evidence: LinkEvidence, *, source: str) -> tuple[bytes | None, tuple[bytes, ...]]:
    """The signing certificate (or None) and the intermediates that come with it: the
    Sigstore bundle's leaf (and chain, in bundles v0.2), else the leaf of the chain in the
    attestation's evidence block (a v0.9 link recorded keyless), whose other certificates are
    intermediates either way."""
    from atlas_intoto.sigstore_bundle import parse_sigstore_bundle

    leaf: bytes | None = None
    chain: tuple[bytes, ...] = ()
    if evidence.sigstore_bundle is not None:
        try:
            parsed = parse_sigstore_bundle(evidence.sigstore_bundle, source=source)
        except FormatError as exc:
            raise CertificateFormatError(str(exc)) from exc
        leaf, chain = parsed.certificate, parsed.chain
    carried = _carried_chain(evidence.envelope)
    if leaf is None and carried:
        leaf = carried[0]
    return leaf, (*chain, *(der for der in carried[1:] if der not in chain))


def has_certificate(evidence: LinkEvidence) -> bool:
    """Whether the attestation comes with a signing certificate — in its Sigstore bundle or
    in the chain its evidence block carries (else it is checked as a key functionary's)."""
    try:
        return _certificate(evidence, source="attestation")[0] is not None
    except CertificateFormatError:
        return False


def check_key_certificate(link: VerifiedLink) -> VerifiedLink:
    """A key functionary's attestation that comes with a certificate (keygen's CA issues one
    per key; the Sigstore bundle carries it) must carry a certificate of a key that signed:
    material that does not parse, or that names another key, makes the bundle malformed, as
    sigstore-python would refuse it — never silently ignored."""
    from cryptography import x509

    from atlas_intoto.keys import sslib_key

    source = f"attestation of step {link.step}"
    leaf, _ = _certificate(link.evidence, source=source)
    if leaf is None:
        return link
    try:
        keyid = sslib_key(x509.load_der_x509_certificate(leaf).public_key()).keyid  # type: ignore[arg-type]
    except (ValueError, TypeError, AtlasError) as exc:
        raise CertificateFormatError(
            f"{source}: verificationMaterial.certificate is not a DER X.509 certificate of a "
            "supported key"
        ) from exc
    if keyid not in link.signed_by:
        raise CertificateFormatError(
            f"{source}: verificationMaterial.certificate certifies key {keyid[:16]}, not the "
            f"key that signed ({', '.join(k[:16] for k in link.signed_by)})"
        )
    return link


def load_certified_link(
    key: LinkKey, evidence: LinkEvidence, layout: Layout, spec: StepSpec
) -> VerifiedLink:
    """The attestation of ``evidence`` verified as signed by one of the step's identity
    functionaries (:func:`~atlas_intoto.verify.identity.verify_certified_signature`: chain,
    SCT, identity, signature); the certificate's time is judged later
    (:func:`check_certificate_times`)."""
    from atlas_intoto.link import read_unverified_link
    from atlas_intoto.verify.identity import verify_certified_signature

    source = f"step {spec.name}: attestation {key[1] + 1}"
    certificate, intermediates = _certificate(evidence, source=source)
    if certificate is None or layout.ca is None:
        raise CertificateFormatError(
            f"{source}: no signing certificate; the step's identity functionaries sign with "
            "short-lived certificates carried in its Sigstore bundle (bundle format v2)"
        )
    identities = [layout.identities[n] for n in spec.functionaries if n in layout.identities]
    signer = verify_certified_signature(
        evidence.envelope,
        certificate,
        identities=identities,
        ca=layout.ca,
        source=source,
        intermediates=intermediates,
    )
    # The signature verified above; this reads the payload it covers.
    fields = read_unverified_link(evidence.envelope, source=source)
    return VerifiedLink(
        key=key,
        step=fields.name or evidence.step,
        evidence=evidence,
        materials=fields.materials,
        products=fields.products,
        command=tuple(fields.command),
        environment=dict(fields.environment),
        signed_by=(signer.keyid,),
        predicate_type=fields.predicate_type,
        certified=(signer,),
    )


def _certificates_in(value: Any, found: set[bytes]) -> None:
    """Collect the certificates a log entry body names as verifiers: Rekor v2's
    ``x509Certificate.rawBytes`` (DER) and Rekor v1's base64 PEM verifiers."""
    import base64
    import binascii
    import contextlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if isinstance(value, dict):
        raw = value.get("x509Certificate")
        if isinstance(raw, dict) and isinstance(raw.get("rawBytes"), str):
            with contextlib.suppress(binascii.Error, ValueError):
                found.add(base64.b64decode(raw["rawBytes"], validate=True))
        for item in value.values():
            _certificates_in(item, found)
    elif isinstance(value, list):
        for item in value:
            _certificates_in(item, found)
    # base64 of "-----BEGIN CERTIFICATE-": a PEM certificate verifier, not a public key
    elif isinstance(value, str) and value.startswith("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS"):
        try:
            pems = x509.load_pem_x509_certificates(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return
        found.update(c.public_bytes(serialization.Encoding.DER) for c in pems)


def logged_certificates(document: Any) -> frozenset[bytes]:
    """The certificates (DER) the log entry ``document`` records as verifiers — empty when it
    records public keys, or cannot be read (check 6 has judged the entry itself)."""
    import base64
    import json

    found: set[bytes] = set()
    bodies: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                if name in ("body", "canonicalizedBody") and isinstance(item, str):
                    bodies.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    for body in bodies:
        try:
            _certificates_in(json.loads(base64.b64decode(body, validate=True)), found)
        except (ValueError, RecursionError):
            continue
    return frozenset(found)


def _check_logged_certificate(link: VerifiedLink, source: str) -> None:
    """A log entry that records a certificate must record this link's signing certificate:
    the time it proves is the time of that certificate's signature."""
    from atlas_intoto.errors import CertificateEntryError

    document = link.evidence.log_entry
    logged = logged_certificates(document) if document is not None else frozenset()
    if logged and any(s.certificate not in logged for s in link.certified):
        raise CertificateEntryError(
            f"{source}: the log entry records another signing certificate than the one the "
            "attestation carries"
        )


def _judge(state: VerificationState, link: VerifiedLink) -> CheckResult:
    from atlas_intoto.errors import AtlasError
    from atlas_intoto.verify.identity import check_certificate_time

    assert state.layout.ca is not None
    trusted = state.times.get(link.key)
    source = f"step {link.step}: attestation {link.key[1] + 1}"
    try:
        _check_logged_certificate(link, source)
        for signer in link.certified:
            check_certificate_time(
                signer,
                ca=state.layout.ca,
                at=trusted.seconds if trusted is not None else None,
                source=source,
            )
    except AtlasError as exc:
        if exc.exit_code == 2:
            raise
        return failed("links", link.step, exc)
    assert trusted is not None
    who = ", ".join(f"{s.functionary} ({s.subject})" for s in link.certified)
    return passed(
        "links",
        link.step,
        f"certificate of {who} valid at the trusted time {trusted.seconds} ({trusted.source})",
    )


def check_certificate_times(state: VerificationState) -> list[CheckResult]:
    """Check 2, identity step 3, for every certificate-signed link (after check 6): the
    signature was made while the certificate was valid, judged at the link's trusted time
    (CertificateTimeError; a link without one fails). A failing link is withdrawn from
    ``state.links``, so later checks never build on it."""
    rows: list[CheckResult] = []
    for spec in state.layout.steps:
        links = state.links.get(spec.name, [])
        for link in [link for link in links if link.certified]:
            result = _judge(state, link)
            rows.append(result)
            if not result.passed:
                links.remove(link)
    return rows
