"""Recording a step's Statement v1 beside its v0.9 link (at the edge: reads the functionary's
certificate, publishes to the log).

:func:`atlas_intoto.step.record_step` and friends call :func:`statement_bundle` once per step:
the same fields as the link (so the same binding digest B and the same TEE quote) become an
in-toto Statement v1 with the Link v0.3 predicate, signed in DSSE and kept as a Sigstore bundle
v0.3 ``NAME.KEYID8.sigstore.json`` written with the link; :func:`publish_statement` logs it
when the link is logged (Rekor v1 or v2) and adds the entry, and any RFC 3161 timestamps,
to the bundle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.sigstore_bundle import bundle_file_name, make_bundle
from atlas_intoto.statement import link_statement, sign_statement

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

    from atlas_intoto.tlog.backend import LogPublisher

__all__ = [
    "UPSTREAM_KEY",
    "functionary_certificate",
    "publish_statement",
    "statement_bundle",
    "statement_upstream",
]

#: The link's record of the upstream envelopes it consumed (``environment["atlas-intoto"]``,
#: material -> SHA-256 of the producer's envelope). A Statement records its producers'
#: *Statement* envelopes instead: a format v2 bundle carries those, not the links.
UPSTREAM_KEY = "upstream"


def functionary_certificate(key_path: Path, public_pem: bytes) -> bytes | None:
    """The DER leaf certificate keygen issued for ``key_path`` (``NAME.crt``), if there is one
    and it certifies this very key; else None (the bundle then carries a public key hint)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto.keys import certificate_chain_path

    path = certificate_chain_path(key_path)
    try:
        leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    except (OSError, ValueError, IndexError):
        return None
    spki = leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki != public_pem:
        return None
    return leaf.public_bytes(serialization.Encoding.DER)


def statement_upstream(
    out_dir: Path, *, step: str, materials: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """For each material another step's Statement in ``out_dir`` produced (same path, same
    SHA-256): the SHA-256 of that Statement's envelope bytes. Unreadable or foreign files are
    skipped: they are not this pipeline's."""
    import hashlib
    import json

    from atlas_intoto.errors import AtlasError
    from atlas_intoto.link import read_unverified_link
    from atlas_intoto.sigstore_bundle import SUFFIX, parse_sigstore_bundle

    wanted = {path: d.get("sha256") for path, d in materials.items()}
    found: dict[str, str] = {}
    for path in sorted(out_dir.glob(f"*{SUFFIX}")) if out_dir.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue
        try:
            parsed = parse_sigstore_bundle(json.loads(path.read_bytes()), source=str(path))
            statement = read_unverified_link(parsed.envelope, source=str(path))
        except (OSError, ValueError, RecursionError, AtlasError):
            continue
        if statement.name == step:
            continue
        for product, digests in statement.products.items():
            if product in wanted and wanted[product] == digests.get("sha256"):
                found[product] = hashlib.sha256(parsed.envelope).hexdigest()
    return dict(sorted(found.items()))


def _with_statement_upstream(
    environment: Mapping[str, Any],
    out_dir: Path,
    step: str,
    materials: Mapping[str, Mapping[str, str]],
) -> Mapping[str, Any]:
    from atlas_intoto.link import EVIDENCE_KEY

    evidence = environment.get(EVIDENCE_KEY)
    if not isinstance(evidence, Mapping) or UPSTREAM_KEY not in evidence:
        return environment
    link_upstream = evidence[UPSTREAM_KEY]
    # Per material: the producer's Statement when there is one, else the producer's link as
    # the link records it (in a v2 bundle such a producer travels as its link): a material
    # never loses its structural binding.
    upstream = dict(link_upstream) if isinstance(link_upstream, Mapping) else {}
    upstream.update(statement_upstream(out_dir, step=step, materials=materials))
    evidence = {k: v for k, v in evidence.items() if k != UPSTREAM_KEY}
    if upstream:
        evidence[UPSTREAM_KEY] = dict(sorted(upstream.items()))
    return {**environment, EVIDENCE_KEY: evidence}


def statement_bundle(
    *,
    step: str,
    materials: Mapping[str, Mapping[str, str]],
    products: Mapping[str, Mapping[str, str]],
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    environment: Mapping[str, Any],
    signer: Signer,
    public_pem: bytes,
    key_path: Path,
    out_dir: Path,
    certificate: bytes | None = None,
) -> tuple[Path, bytes]:
    """Sign the step's Statement and return its Sigstore bundle's path and bytes (not yet
    logged: :func:`publish_statement` adds the log entry) for the caller to write with the link.

    The evidence block is the link's, except its upstream record (when the link has one):
    the Statement names its producers' Statements (:func:`statement_upstream`). The bundle
    carries ``certificate`` (DER; keyless recording's leaf) when given, else keygen's
    certificate of the key (:func:`functionary_certificate`), if any.
    """
    import json

    statement = link_statement(
        name=step,
        materials=materials,
        products=products,
        command=command,
        byproducts=byproducts,
        environment=_with_statement_upstream(environment, out_dir, step, materials),
    )
    envelope = sign_statement(statement, signer)
    if certificate is None:
        certificate = functionary_certificate(key_path, public_pem)
    document = make_bundle(envelope, log_entry=None, certificate=certificate)
    path = out_dir / bundle_file_name(step, signer.public_key.keyid)
    return path, json.dumps(document, indent=2).encode() + b"\n"


def publish_statement(
    path: Path,
    *,
    publisher: LogPublisher,
    public_pem: bytes,
    log_backend: str,
    tsa_url: str | None = None,
) -> bool:
    """Log the Statement of the Sigstore bundle at ``path`` and rewrite the bundle with its
    log entry. Call it wherever the step's link is published (recording, or publishing later).

    - Rekor v1: a ``dsse`` entry (inclusion proof, checkpoint, SET); with ``tsa_url`` also an
      RFC 3161 timestamp over the Statement's signature, in ``timestampVerificationData``;
    - Rekor v2: the rekor-v2 publisher's ``hashedrekord`` 0.0.2 entry over the envelope's PAE
      (its TransparencyLogEntry in ``tlogEntries``; its verifier the bundle's certificate, if
      any, else the public key) and its TSA timestamps.

    Idempotent: a bundle that has its entry is left alone (False), as is every bundle when
    ``log_backend`` is neither (the link is logged as before). True when written.
    """
    import json

    from atlas_intoto.errors import AtlasError, InputError
    from atlas_intoto.fileio import atomic_write, read_json
    from atlas_intoto.recording import DEFAULT_LOG_BACKEND
    from atlas_intoto.sigstore_bundle import parse_sigstore_bundle
    from atlas_intoto.tlog.rekor_v2 import NAME as REKOR_V2

    if log_backend not in (DEFAULT_LOG_BACKEND, REKOR_V2):
        return False
    doc = read_json(path, what="Sigstore bundle")
    try:
        parsed = parse_sigstore_bundle(doc, source=str(path))
    except AtlasError as exc:
        raise InputError(f"{path}: {exc}") from exc
    if parsed.log_entry is not None:
        return False
    entry = publisher.publish(
        parsed.envelope, _verifier_pem(parsed.certificate, public_pem, log_backend)
    )
    stamps = _timestamps(parsed.envelope, tsa_url) if log_backend == DEFAULT_LOG_BACKEND else []
    document = make_bundle(
        parsed.envelope,
        log_entry=entry,
        certificate=parsed.certificate,
        key_hint=parsed.key_hint or "",
        timestamps=stamps,
    )
    atomic_write(path, json.dumps(document, indent=2).encode() + b"\n")
    return True


def _verifier_pem(certificate: bytes | None, public_pem: bytes, log_backend: str) -> bytes:
    """What the log records as the Statement's verifier: on Rekor v2 the bundle's certificate
    when it has one (sigstore verifiers compare the entry's verifier with the bundle's
    certificate), else — and always on Rekor v1, unchanged — the functionary's public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto.errors import InputError
    from atlas_intoto.tlog.rekor_v2 import NAME as REKOR_V2

    if certificate is None or log_backend != REKOR_V2:
        return public_pem
    try:
        cert = x509.load_der_x509_certificate(certificate)
    except ValueError as exc:
        raise InputError(
            f"verificationMaterial.certificate: not a DER certificate ({exc})"
        ) from exc
    return cert.public_bytes(serialization.Encoding.PEM)


def _timestamps(envelope: bytes, tsa_url: str | None) -> list[bytes]:
    """An RFC 3161 timestamp over the envelope's signature from ``tsa_url`` (none without one)."""
    from atlas_intoto import dsse
    from atlas_intoto.tsa.client import request_timestamp

    if tsa_url is None:
        return []
    return [request_timestamp(tsa_url, dsse.parse(envelope).signatures[0].sig)]
