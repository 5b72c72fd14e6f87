"""Creating a functionary key pair on a PKCS#11 token (``keygen --hsm``), with python-pkcs11.

securesystemslib's ``HSMSigner`` signs with and reads keys from a token but does not create
them; this is the one place that does. The private key is generated on the token as sensitive
and non-extractable, so it never leaves it; only the public key is read back.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

from atlas_intoto.errors import FeatureUnavailableError, SignerUriError, UsageError
from atlas_intoto.signer_uri import MODULE_ENV, pin_handler

__all__ = ["generate_token_key"]

_DEFAULT_KEYID = 2


def _parse(uri: str) -> tuple[int, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "hsm":
        raise UsageError(f"--hsm {uri}: expected hsm:KEYID?label=TOKEN")
    try:
        keyid = int(parsed.path) if parsed.path else _DEFAULT_KEYID
    except ValueError as exc:
        raise UsageError(f"--hsm {uri}: the key id must be a number (hsm:2?label=TOKEN)") from exc
    label = dict(parse_qsl(parsed.query)).get("label")
    if not label:
        # Creating a key on whichever token answers first is too easy to get wrong.
        raise UsageError(f"--hsm {uri}: name the token (hsm:{keyid}?label=TOKEN)")
    if not 0 <= keyid < 256:
        raise UsageError(f"--hsm {uri}: the key id must be 0..255")
    return keyid, label


def generate_token_key(uri: str, *, name: str) -> str:
    """Generate an ECDSA P-256 key pair with ``CKA_ID`` KEYID and ``CKA_LABEL`` ``name`` on the
    token of ``uri`` (``hsm:KEYID?label=TOKEN``); return the URI ``--key`` takes.

    Steps: 1. parse the URI (a token label is required); 2. open the token's module
    (``PYKCS11LIB``) and log in (``ATLAS_INTOTO_HSM_PIN`` or a prompt); 3. refuse a key id
    already in use; 4. generate the pair on the token (private: sensitive, never extractable)."""
    keyid, label = _parse(uri)
    try:
        import pkcs11
        from pkcs11.util.ec import encode_named_curve_parameters
    except ImportError as exc:
        raise FeatureUnavailableError(
            f"--hsm: needs python-pkcs11 (pip install 'atlas-intoto[hsm]'): {exc}"
        ) from exc
    module = os.environ.get(MODULE_ENV)
    if not module or not Path(module).is_file():
        raise SignerUriError(
            f"--hsm {uri}: set {MODULE_ENV} to the token's PKCS#11 module "
            "(SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
        )
    uri = f"hsm:{keyid}?label={label}"
    attribute = pkcs11.Attribute
    try:
        token = pkcs11.lib(module).get_token(token_label=label)
        with token.open(rw=True, user_pin=pin_handler(uri)("pin")) as session:
            if list(session.get_objects({attribute.ID: bytes([keyid])})):
                raise SignerUriError(f"--hsm {uri}: the token already holds key id {keyid}")
            params = session.create_domain_parameters(
                pkcs11.KeyType.EC,
                {attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            params.generate_keypair(
                store=True,
                label=name,
                id=bytes([keyid]),
                private_template={attribute.SENSITIVE: True, attribute.EXTRACTABLE: False},
            )
    except SignerUriError:
        raise
    except Exception as exc:  # python-pkcs11's PKCS11Error tree (no token, wrong PIN, ...)
        raise SignerUriError(f"--hsm {uri}: {exc or type(exc).__name__}") from exc
    return uri
