"""The one seam that turns a ``--key`` value into a securesystemslib signer and its public key.

A ``--key`` is a PEM private key file (encrypted or not: the password comes from
``ATLAS_INTOTO_KEY_PASSWORD`` or a prompt) or a securesystemslib signer URI:

* ``file:PATH`` — the same as ``PATH`` (securesystemslib's ``?encrypted=`` query is ignored:
  encryption is read from the file);
* ``hsm:[KEYID][?label=TOKEN]`` — a PKCS#11 token (securesystemslib's ``HSMSigner``): the module
  is ``PYKCS11LIB`` (SoftHSM2: ``/usr/lib/softhsm/libsofthsm2.so``), the user PIN
  ``ATLAS_INTOTO_HSM_PIN`` or a prompt; KEYID is the ``CKA_ID`` of the key pair (default 2);
* ``gcpkms:KEY-VERSION``, ``awskms:KEY-ID``, ``azurekms://VAULT.vault.azure.net/keys/KEY`` — cloud
  KMS keys, with ``securesystemslib[gcpkms|awskms|azurekms]`` installed and the provider's
  ambient credentials.

For a URI the private key never leaves the token or KMS: the public key (and so the key id) is
read from it, and every signature is made there. The key is tried once when loaded, so a wrong
PIN or a missing key fails before a step's command runs, not after it.

``--key`` reaches recording as ``RecordingOptions.key_path`` unchanged, so a ``Path`` whose text
is a URI is one (``Path`` keeps these URIs' text, except azurekms's ``//``, restored here).
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlparse

from atlas_intoto.errors import FeatureUnavailableError, SignerUriError

if TYPE_CHECKING:
    from securesystemslib.signer import Signer, SSlibKey

__all__ = [
    "KMS_SCHEMES",
    "MODULE_ENV",
    "PIN_ENV",
    "SCHEMES",
    "KeySigner",
    "is_signer_uri",
    "load_key_signer",
]

#: Environment variable with the PKCS#11 token's user PIN (``hsm:`` keys).
PIN_ENV = "ATLAS_INTOTO_HSM_PIN"
#: Environment variable with the PKCS#11 module path (securesystemslib's name for it).
MODULE_ENV = "PYKCS11LIB"
#: Cloud KMS schemes and the securesystemslib extra each needs.
KMS_SCHEMES = {"gcpkms": "gcpkms", "awskms": "awskms", "azurekms": "azurekms"}
SCHEMES = ("file", "hsm", *KMS_SCHEMES)
_PROBE = b"atlas-intoto: signer check"


@dataclass(frozen=True, kw_only=True)
class KeySigner:
    """A functionary's signing key: the ``--key`` value, its signer and public key.

    ``path`` is the key file for file keys (C2PA and OpenSSF model signing use the key itself),
    None for a token or KMS key."""

    reference: str
    signer: Signer
    public_key: SSlibKey
    public_pem: bytes
    path: Path | None

    @property
    def keyid(self) -> str:
        return str(self.public_key.keyid)


def is_signer_uri(value: str | Path) -> bool:
    """Whether ``value`` is a signer URI (a known scheme), not a file path. A ``Path`` counts
    too: ``RecordingOptions.key_path`` carries ``--key`` as given (a file literally named
    ``hsm:2`` is ``file:hsm:2`` or an absolute path)."""
    scheme, sep, _ = str(value).partition(":")
    return bool(sep) and scheme in SCHEMES


def load_key_signer(value: str | Path, *, password: bytes | None = None) -> KeySigner:
    """The signer for a ``--key`` value: a PEM file path or a signer URI (module docstring).

    Steps: 1. a path or ``file:`` URI loads the PEM key (password from the environment or a
    prompt when encrypted); 2. ``hsm:`` reads the public key from the PKCS#11 token; 3. a KMS
    scheme imports the public key from the KMS; 4. a token or KMS key signs a probe once, so an
    unusable key fails now."""
    if not is_signer_uri(value):
        _refuse_unknown_scheme(value)
        return _file_signer(Path(value), password=password)
    uri = str(value)
    scheme = uri.partition(":")[0]
    if scheme == "azurekms" and not uri.startswith("azurekms://"):
        # Carried in a Path, azurekms://VAULT lost a slash: the URI has no other form.
        uri = "azurekms://" + uri.removeprefix("azurekms:").lstrip("/")
    if scheme == "file":
        return _file_signer(_file_path(uri), password=password)
    loaded = _hsm_signer(uri) if scheme == "hsm" else _kms_signer(uri, scheme)
    try:
        loaded.signer.sign(_PROBE)
    except Exception as exc:  # each token library raises its own errors
        raise SignerUriError(f"--key {uri}: the key cannot sign ({_reason(exc)})") from exc
    return loaded


def _refuse_unknown_scheme(value: str | Path) -> None:
    """A value shaped like a URI (``scheme:…``) that names no file is a signer URI of a scheme
    this build does not know (``pkcs11:``, ``https://``, ``HSM:2``), not a missing key file:
    say so, naming ``--key`` and the schemes there are."""
    text = str(value)
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
    if match is None or Path(text).exists():
        return
    raise SignerUriError(
        f"--key {text}: unknown signer URI scheme {match.group(1)!r} and no such key file "
        f"(schemes: {', '.join(f'{s}:' for s in SCHEMES)})"
    )


def _file_path(uri: str) -> Path:
    """The path of a ``file:`` URI: ``file:PATH``, ``file:///PATH`` or ``file://localhost/PATH``
    (another host would be ignored by a path lookup: refused)."""
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise SignerUriError(
            f"--key {uri}: a file: URI names a local path, not host {parsed.netloc}"
        )
    path = parsed.path or uri[5:].partition("?")[0]
    if not path:
        raise SignerUriError(f"--key {uri}: no path after 'file:'")
    return Path(path)


def _hsm_address(uri: str) -> tuple[int, str | None]:
    """The key id (``CKA_ID``, decimal) and token label of an ``hsm:`` URI; anything else in
    it — a host, a fragment, a query parameter other than one ``label`` — is refused (a PIN in
    the URI would land in shell history: it comes from the environment or a prompt)."""
    from securesystemslib.signer import HSMSigner

    parsed = urlparse(uri)
    if parsed.netloc or parsed.fragment:
        raise SignerUriError(f"--key {uri}: expected hsm:KEYID?label=TOKEN")
    if parsed.path and not re.fullmatch(r"[0-9]{1,9}", parsed.path):
        raise SignerUriError(f"--key {uri}: the key id must be a number (hsm:2)")
    keyid = int(parsed.path) if parsed.path else HSMSigner.SCHEME_KEYID
    query = parse_qsl(parsed.query, keep_blank_values=True)
    unknown = sorted({name for name, _ in query} - {"label"})
    if unknown:
        hint = f"; the PIN comes from {PIN_ENV} or a prompt" if "pin" in unknown else ""
        raise SignerUriError(f"--key {uri}: unknown parameter {unknown[0]!r} (only label){hint}")
    labels = [value for _, value in query]
    if len(labels) > 1 or labels == [""]:
        raise SignerUriError(f"--key {uri}: give one non-empty label=TOKEN")
    return keyid, (labels[0] if labels else None)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _file_signer(path: Path, *, password: bytes | None) -> KeySigner:
    from securesystemslib.signer import CryptoSigner

    from atlas_intoto.keys import load_private_key, sslib_key

    private = load_private_key(path, password=password)
    key = sslib_key(private.public_key())
    return KeySigner(
        reference=str(path),
        signer=CryptoSigner(private, key),
        public_key=key,
        public_pem=_pem(private.public_key()),
        path=path,
    )


def _pem(public: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return public.public_bytes(serialization.Encoding.PEM, spki)  # type: ignore[attr-defined, no-any-return]


def _from_key(uri: str, key: SSlibKey, signer: Signer) -> KeySigner:
    from atlas_intoto.keys import load_public_key_pem

    try:
        public = load_public_key_pem(str(key.keyval["public"]).encode(), source=uri)
    except (KeyError, ValueError) as exc:
        raise SignerUriError(f"--key {uri}: the token's public key is not PEM") from exc
    return KeySigner(
        reference=uri, signer=signer, public_key=key, public_pem=_pem(public), path=None
    )


def pin_handler(uri: str) -> Callable[[str], str]:
    """The token PIN: ``ATLAS_INTOTO_HSM_PIN``, else asked once on a terminal (kept for the
    signatures that follow)."""
    cached: list[str] = []

    def handler(_secret: str) -> str:
        if not cached:
            env = os.environ.get(PIN_ENV)
            if env is not None:
                cached.append(env)
            elif sys.stdin is not None and sys.stdin.isatty():
                cached.append(getpass.getpass(f"PIN for {uri}: "))
            else:
                raise SignerUriError(f"--key {uri}: set {PIN_ENV} or run interactively")
        return cached[0]

    return handler


def _hsm_signer(uri: str) -> KeySigner:
    from securesystemslib.exceptions import UnsupportedLibraryError
    from securesystemslib.signer import HSMSigner

    keyid, label = _hsm_address(uri)
    module = os.environ.get(MODULE_ENV)
    if not module:
        raise SignerUriError(
            f"--key {uri}: set {MODULE_ENV} to the token's PKCS#11 module "
            "(SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
        )
    if not Path(module).is_file():
        raise SignerUriError(f"--key {uri}: {MODULE_ENV}={module}: no such PKCS#11 module")
    pins = pin_handler(uri)
    try:
        _, key = HSMSigner.import_(keyid, label, pins)
        signer = HSMSigner.from_priv_key_uri(uri, key, pins)
    except UnsupportedLibraryError as exc:
        raise FeatureUnavailableError(
            f"--key {uri}: PKCS#11 needs python-pkcs11 (pip install 'atlas-intoto[hsm]')"
        ) from exc
    except SignerUriError:
        raise
    except Exception as exc:  # python-pkcs11 raises its own PKCS11Error tree and ValueError
        raise SignerUriError(f"--key {uri}: {_reason(exc)}") from exc
    return _from_key(uri, key, signer)


def _kms_import(uri: str, scheme: str) -> tuple[str, SSlibKey]:
    from securesystemslib.signer import SIGNER_FOR_URI_SCHEME

    cls: Any = SIGNER_FOR_URI_SCHEME[scheme]
    rest = uri.partition(":")[2]
    if scheme == "azurekms":
        # azurekms://VAULT.vault.azure.net/keys/KEY[/VERSION]
        parsed = urlparse(uri)
        parts = parsed.path.strip("/").split("/")
        if not parsed.netloc or len(parts) < 2 or parts[0] != "keys":
            raise SignerUriError(f"--key {uri}: expected azurekms://VAULT.vault.azure.net/keys/KEY")
        imported: tuple[str, SSlibKey] = cls.import_(parsed.netloc.split(".")[0], parts[1])
        return imported
    if not rest:
        raise SignerUriError(f"--key {uri}: no key after '{scheme}:'")
    imported = cls.import_(rest)
    return imported


def _kms_signer(uri: str, scheme: str) -> KeySigner:
    from securesystemslib.exceptions import UnsupportedLibraryError
    from securesystemslib.signer import Signer

    try:
        imported_uri, key = _kms_import(uri, scheme)
        signer = Signer.from_priv_key_uri(imported_uri, key)
    except (UnsupportedLibraryError, ImportError) as exc:
        raise FeatureUnavailableError(
            f"--key {uri}: needs pip install 'securesystemslib[{KMS_SCHEMES[scheme]}]'"
        ) from exc
    except SignerUriError:
        raise
    except Exception as exc:  # each cloud SDK raises its own errors (credentials, not found)
        raise SignerUriError(f"--key {uri}: {_reason(exc)}") from exc
    return _from_key(uri, key, signer)
