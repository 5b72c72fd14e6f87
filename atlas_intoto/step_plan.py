"""What recording a step resolves before its command runs, so that a missing key, evidence
kind, C2PA or log client fails before an hour-long command and not after it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_intoto.errors import FeatureUnavailableError, UsageError
from atlas_intoto.fileio import ensure_writable_dir
from atlas_intoto.recording import RecordingOptions

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

    from atlas_intoto.evidence.kind import EvidenceKind
    from atlas_intoto.tlog.backend import LogPublisher

__all__ = ["Functionary", "RecordingPlan", "check_step_name", "load_functionary", "prepare"]


@dataclass(frozen=True, kw_only=True)
class Functionary:
    """The signing functionary: signer, key id, public key and the key file — or, keyless
    (:mod:`atlas_intoto.keyless`), an ephemeral key that ``certify`` gets a certificate chain
    for just before signing (:meth:`certified`)."""

    signer: Signer
    #: a PKCS#11 or KMS key's signer URI (``key_path`` is then that URI, not a file), else None
    uri: str | None = None
    keyid: str
    public_pem: bytes
    key_path: Path
    #: keyless: the certificate chain (DER, leaf first) once certified; () for a key file
    certificate_chain: tuple[bytes, ...] = ()
    #: keyless: requests the chain for this functionary's key (None for a key file)
    certify: Callable[[], tuple[bytes, ...]] | None = None

    def certified(self) -> Functionary:
        """This functionary with its certificate chain (itself when it has no ``certify``)."""
        if self.certify is None or self.certificate_chain:
            return self
        return replace(self, certificate_chain=self.certify())

    @property
    def verifier_pem(self) -> bytes:
        """What a log records as the signature's verifier: the leaf certificate (PEM) when
        certified (what sigstore clients compare), else the public key."""
        if not self.certificate_chain:
            return self.public_pem
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        leaf = x509.load_der_x509_certificate(self.certificate_chain[0])
        return leaf.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, kw_only=True)
class RecordingPlan:
    """Everything resolved before the command runs."""

    step: str
    options: RecordingOptions
    functionary: Functionary
    kinds: tuple[tuple[EvidenceKind, Mapping[str, str]], ...]
    sign_products: Callable[..., dict[str, dict[str, str]]] | None
    publisher: LogPublisher | None


def check_step_name(step: str) -> None:
    """A step name is a plain file-name part (links are named after it)."""
    if not step or "/" in step or "\\" in step or step.startswith(".") or "\x00" in step:
        raise UsageError(f"--step {step!r}: must be a plain name (no '/', not starting with '.')")


def load_functionary(key_path: Path) -> Functionary:
    """The functionary whose private key is at ``key_path``: a PEM file, or a signer URI
    (``hsm:``, a cloud KMS) whose key stays in its token (:mod:`atlas_intoto.signer_uri`)."""
    from atlas_intoto.signer_uri import load_key_signer

    loaded = load_key_signer(key_path)
    return Functionary(
        signer=loaded.signer,
        uri=None if loaded.path is not None else loaded.reference,
        keyid=loaded.keyid,
        public_pem=loaded.public_pem,
        key_path=Path(key_path),
    )


def _available(option: str, resolve: Callable[[], Any]) -> Any:
    try:
        return resolve()
    except ImportError as exc:
        raise FeatureUnavailableError(
            f"{option}: not available in this installation ({exc})"
        ) from exc


def _resolve_kinds(
    step: str, options: RecordingOptions
) -> tuple[tuple[EvidenceKind, Mapping[str, str]], ...]:
    from atlas_intoto.errors import UnknownEvidenceKindError
    from atlas_intoto.evidence import registry
    from atlas_intoto.evidence.kind import RecordRequest

    resolved = []
    kinds = [request.kind for request in options.evidence_requests()]
    for kind_name in kinds:
        if kinds.count(kind_name) > 1:
            # One entry per kind: a second one would overwrite the first one's blobs.
            raise UsageError(f"evidence kind {kind_name!r} requested twice (--tee is kind tdx)")
    for request in options.evidence_requests():
        option = f"--tee {options.tee}" if request.kind == "tdx" else f"evidence {request.kind}"
        probe = RecordRequest(step=step, binding=b"", keyid="", options=request.options)
        try:
            kind = registry.get(request.kind)
            kind.check_available(probe)
        except UnknownEvidenceKindError as exc:
            raise UsageError(f"{option}: {exc}") from exc
        except ImportError as exc:
            raise FeatureUnavailableError(
                f"{option}: not available in this installation ({exc})"
            ) from exc
        resolved.append((kind, request.options))
    return tuple(resolved)


def _check_c2pa_chain(options: RecordingOptions) -> None:
    """A token or KMS key has no ``NAME.crt`` beside it: C2PA needs its chain named."""
    from atlas_intoto.signer_uri import is_signer_uri

    if is_signer_uri(str(options.key_path)) and options.cert_path is None:
        raise UsageError(
            f"--c2pa with --key {options.key_path}: pass --cert CHAIN, the certificate chain "
            "of the token's key (keygen --hsm writes NAME.crt), or drop --c2pa"
        )


def prepare(step: str, options: RecordingOptions) -> RecordingPlan:
    """Resolve everything recording ``step`` with ``options`` needs (before the command)."""
    check_step_name(step)
    if options.keyless:
        from atlas_intoto.keyless import with_trust_config

        options = with_trust_config(options)
    kinds = _resolve_kinds(step, options)
    sign_products = None
    if options.c2pa:
        _check_c2pa_chain(options)
        sign_products = _available(
            "--c2pa",
            lambda: importlib.import_module("atlas_intoto.c2pa").sign_products,
        )
    publisher = None
    if options.log_url is not None:
        from atlas_intoto.tlog.select import publisher_for

        publisher = _available("--log", lambda: publisher_for(options))
    if options.keyless:
        from atlas_intoto.keyless import keyless_functionary

        if options.log_visibility == "digest":
            raise UsageError(
                "--log-visibility digest: needs a functionary key pinned in the layout; keyless "
                "signing logs the certificate, which names the identity"
            )
        functionary = keyless_functionary(options)
    else:
        functionary = load_functionary(options.key_path)
    if publisher is not None and options.log_visibility == "digest":
        from atlas_intoto.tlog.visibility import check_can_publish

        check_can_publish(publisher, functionary.public_pem)
    ensure_writable_dir(options.out_dir)
    return RecordingPlan(
        step=step,
        options=options,
        functionary=functionary,
        kinds=kinds,
        sign_products=sign_products,
        publisher=publisher,
    )
