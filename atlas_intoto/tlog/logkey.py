"""The log's signing key on disk: one ECDSA P-256 private key (PKCS#8 PEM, mode 0600), created
on first use, and its public key (SPKI PEM) beside it for verifiers to pin.

``log serve`` and the embedded log (:func:`atlas_intoto.demo.embedded_log`) both use it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.errors import KeyLoadError
from atlas_intoto.fileio import atomic_write, ensure_writable_dir
from atlas_intoto.keys import load_private_key

__all__ = ["load_or_create_log_key", "public_key_pem", "write_public_key"]


def load_or_create_log_key(path: Path, *, create: bool = True) -> ec.EllipticCurvePrivateKey:
    """Load the log key at ``path``; if it does not exist and ``create`` is set, generate one
    first (private to its owner: mode 0600).

    Raises :class:`~atlas_intoto.errors.InputError` for a missing (``create=False``) or
    unreadable file, :class:`~atlas_intoto.errors.KeyLoadError` for anything but an ECDSA
    P-256 private key, and :class:`~atlas_intoto.errors.OutputError` if the key cannot be
    written.
    """
    path = Path(path)
    if create and not path.exists():
        ensure_writable_dir(path.parent)
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(path, pem, mode=0o600)
    key = load_private_key(path)
    # Checkpoints and SETs are ECDSA P-256 signatures, as Rekor's are.
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise KeyLoadError(f"{path}: the log key must be ECDSA P-256")
    return key


def public_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of the log key: what verifiers pin."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_public_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """Write the public key to ``path`` unless it already holds exactly that PEM (so a
    read-only but correct file is fine)."""
    pem = public_key_pem(key)
    path = Path(path)
    if not path.exists() or path.read_bytes() != pem:
        atomic_write(path, pem)
