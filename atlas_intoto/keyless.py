"""Keyless recording (at the edge): a step signed by a short-lived certificate bound to an OIDC
identity, as Sigstore clients sign.

1. The identity token: ``RecordingOptions.identity_token`` (``--identity-token``, or
   ``--identity-token-file``), else ``$ATLAS_INTOTO_IDENTITY_TOKEN`` or ``$SIGSTORE_ID_TOKEN``,
   else ambient CI credentials detected by the ``id`` package, as sigstore-python does
   (GitHub Actions with ``id-token: write``, GitLab ``id_tokens``, Buildkite, CircleCI, GCP).
   It is resolved before the step's command runs, so a missing one fails first.
2. An ephemeral ECDSA P-256 key is made in memory; the link's ``keyid`` is its securesystemslib
   key id, as for any key (so the binding digest B and TEE quotes bind it as usual). A layout
   cannot pin a key that does not exist yet: it names the identity instead (issuer + subject),
   and the certificate binds the key to it.
3. Just before signing — after the command, so a long step does not outlive the 10-minute
   certificate — the key is certified by the CA the trust config names (``caUrls``; Fulcio's
   ``/api/v2/signingCert`` with a CSR). The key is never written anywhere.
4. The link's evidence block carries the chain under ``certificates`` (base64 DER, leaf
   first); the Statement's Sigstore bundle carries the leaf certificate (as v0.3 bundles do:
   the rest of the chain is in the verifier's trusted root); both log entries record the leaf
   certificate as their verifier, which is what sigstore clients compare.

C2PA signing is not keyless: c2pa-rs refuses a Fulcio-profile certificate as a manifest signer
("the certificate is invalid" — it has an empty subject and only the codeSigning EKU, outside
C2PA's signer profile), so ``--c2pa`` with keyless recording is refused before anything runs.
"""

from __future__ import annotations

import base64
import os
import time
from typing import TYPE_CHECKING

from atlas_intoto.errors import KeylessSigningError, UsageError

if TYPE_CHECKING:
    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step_plan import Functionary

__all__ = [
    "CERTIFICATES_KEY",
    "TOKEN_ENV",
    "chain_field",
    "keyless_functionary",
    "resolve_ca_url",
    "resolve_token",
    "with_trust_config",
]

#: Environment variables read for the token, in order (ours, then sigstore-python's).
TOKEN_ENV = ("ATLAS_INTOTO_IDENTITY_TOKEN", "SIGSTORE_ID_TOKEN")
#: Where a keyless link's evidence block carries the certificate chain.
CERTIFICATES_KEY = "certificates"
#: The audience Fulcio requires (and ambient credentials are requested for).
AUDIENCE = "sigstore"


def resolve_token(options: RecordingOptions) -> str:
    """The identity token to certify with (KeylessSigningError when there is none)."""
    if options.identity_token:
        return options.identity_token.strip()
    for name in TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    import id as ambient

    try:
        token = ambient.detect_credential(AUDIENCE)
    except ambient.IdentityError as exc:
        raise KeylessSigningError(f"ambient CI credentials: {exc}") from exc
    if not token:
        raise KeylessSigningError(
            "keyless: no identity token — give --identity-token or --identity-token-file, set "
            f"{TOKEN_ENV[0]}, or run in CI with OIDC enabled (GitHub Actions: permissions "
            "id-token: write; GitLab: id_tokens with aud sigstore)"
        )
    return token


def _check_token_usable(token: str, *, now: float | None = None) -> None:
    """Refuse, before the step's command runs, a token the CA would certainly refuse after it:
    not a JWT, or already expired (only the CA verifies its signature; this reads the claims
    to spare a long run ending unsigned)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise KeylessSigningError(f"identity token: not a JWT ({type(exc).__name__})") from exc
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        return  # no (readable) expiry: the CA judges it
    if expires <= (time.time() if now is None else now):
        raise KeylessSigningError("identity token: expired before the step ran; get a fresh one")


def resolve_ca_url(options: RecordingOptions) -> str:
    """The CA to certify with: ``ca_url``, else the trust config's (``caUrls``)."""
    if options.ca_url is not None:
        return options.ca_url
    if options.trust_config is None:
        raise UsageError("keyless recording needs --trust-config (or a CA URL)")
    from atlas_intoto.ca.trust_config import read_services
    from atlas_intoto.fileio import read_json

    doc = read_json(options.trust_config, what="trust config")
    return read_services(doc, now=time.time(), source=str(options.trust_config)).ca_url


def with_trust_config(options: RecordingOptions) -> RecordingOptions:
    """Keyless options completed from their trust config, as sigstore clients read it: the CA
    (``ca_url``) and — unless a log is given — the log, its API version and the TSA."""
    if not options.keyless or options.trust_config is None:
        return options
    from atlas_intoto.ca.trust_config import read_services
    from atlas_intoto.fileio import read_json

    doc = read_json(options.trust_config, what="trust config")
    services = read_services(doc, now=time.time(), source=str(options.trust_config))
    changes: dict[str, object] = {"ca_url": options.ca_url or services.ca_url}
    if options.log_url is None:
        changes |= {"log_url": services.log.log_url, "log_backend": services.log.log_backend}
        changes["tsa_url"] = options.tsa_url or services.log.tsa_url
    return options.with_changes(**changes)


def keyless_functionary(options: RecordingOptions) -> Functionary:
    """A functionary with a fresh in-memory key, certified on first use (step 3 above)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from securesystemslib.signer import CryptoSigner

    from atlas_intoto.ca.client import request_certificate
    from atlas_intoto.keys import sslib_key
    from atlas_intoto.step_plan import Functionary

    if options.c2pa:
        raise UsageError(
            "--c2pa is not available with keyless recording: C2PA needs a signing certificate "
            "with a C2PA-accepted EKU (use --key and --cert for C2PA steps)"
        )
    token = resolve_token(options)
    _check_token_usable(token)
    ca_url = resolve_ca_url(options)
    key = ec.generate_private_key(ec.SECP256R1())
    signer = CryptoSigner(key, sslib_key(key.public_key()))
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def certify() -> tuple[bytes, ...]:
        chain = request_certificate(ca_url, token, key)
        return tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)

    return Functionary(
        signer=signer,
        keyid=signer.public_key.keyid,
        public_pem=pem,
        key_path=options.key_path,
        certify=certify,
    )


def chain_field(chain: tuple[bytes, ...]) -> list[str]:
    """The evidence block's ``certificates`` value: base64 DER, leaf first."""
    return [base64.b64encode(der).decode() for der in chain]
