"""Rekor v1 entry kinds, handled the way Rekor handles them (pure: bytes in, bytes out).

Supported kinds: ``hashedrekord`` 0.0.1, ``dsse`` 0.0.1 and ``intoto`` 0.0.2 (sigstore/rekor
``pkg/types/<kind>/<version>/entry.go``). For each proposed entry this module

1. validates the fields the kind's schema requires,
2. verifies every signature with the supplied public key or certificate (on upload),
3. builds the body Rekor stores — the kind's ``Canonicalize()`` output serialised with RFC 8785
   (JCS); its RFC 6962 leaf hash is the entry UUID,
4. derives the search-index keys of the kind's ``IndexKeys()``.

What each kind stores (mirroring Rekor, not the proposed entry):

* ``hashedrekord``: the artifact hash, the signature and the canonical PEM of the key/certificate.
* ``dsse``: ``envelopeHash`` (SHA-256 of the envelope string as sent), ``payloadHash`` and the
  signatures each with the canonical PEM of the key that verified it — never the envelope.
* ``intoto`` 0.0.2: payloadType, the signatures as sent (double base64, as Rekor's model has it),
  the client's envelope hash and the server-computed payload hash — never the payload.

Known differences from Rekor: Ed25519 keys cannot sign ``hashedrekord`` entries here (Rekor
uses Ed25519ph, which ``cryptography`` lacks); a PEM key followed by trailing whitespace is
accepted (Go would try to parse it as a certificate chain); an undecodable in-toto statement
only drops the statement's subject keys instead of all index keys.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from atlas_intoto.errors import EntryFormatError, EntrySignatureError

__all__ = [
    "INTOTO_PAYLOAD_TYPE",
    "SUPPORTED_KINDS",
    "CanonicalEntry",
    "Verifier",
    "canonical_entry",
    "dsse_proposed_entry",
    "hashedrekord_proposed_entry",
    "intoto_proposed_entry",
    "load_verifier",
    "pae",
    "parse_proposed_entry",
]

#: ``(kind, apiVersion)`` pairs this log accepts.
SUPPORTED_KINDS = frozenset({("hashedrekord", "0.0.1"), ("dsse", "0.0.1"), ("intoto", "0.0.2")})
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"

_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_PREHASH = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----[^\n]*(?:\n|$)", re.DOTALL
)

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, kw_only=True)
class CanonicalEntry:
    """An accepted entry: what the log stores and indexes."""

    kind: str
    api_version: str
    #: RFC 8785 JSON of the canonicalised entry: the Merkle leaf.
    body: bytes
    #: Search-index keys (``sha256:<hex>`` digests, key hashes, certificate subjects).
    index_keys: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Verifier:
    """A parsed public key or certificate (chain) as Rekor's ``pki/x509.PublicKey`` holds it."""

    key: PublicKey
    #: Rekor's ``CanonicalValue()``: re-encoded SPKI PEM, or the certificates' PEM.
    canonical_pem: bytes
    #: Subject alternative names of the (leaf) certificate; empty for a bare key.
    subjects: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Small decoding helpers
# --------------------------------------------------------------------------------------------


def _fail(message: str) -> EntryFormatError:
    return EntryFormatError(message)


def _obj(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(f"{field}: expected a JSON object")
    return value


def _str(value: Any, field: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _fail(f"{field}: expected a string")
    if required and not value:
        raise _fail(f"{field}: must not be empty")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise _fail(f"{field}: expected a non-empty array")
    return value


def _b64_strict(value: str, field: str) -> bytes:
    """Go's ``base64.StdEncoding`` (what ``strfmt.Base64`` fields decode with)."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise _fail(f"{field}: not valid base64") from exc


def _b64_dsse(value: str, field: str) -> bytes:
    """go-securesystemslib's ``b64Decode``: standard alphabet, then URL-safe, both padded."""
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise _fail(f"{field}: not valid base64") from exc
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(raw, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise _fail(f"{field}: not valid base64")


def _hex_digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding (DSSE v1 protocol)."""
    encoded_type = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(encoded_type), encoded_type, len(payload), payload)


# --------------------------------------------------------------------------------------------
# Keys and certificates (Rekor pkg/pki/x509)
# --------------------------------------------------------------------------------------------


def _subjects(cert: x509.Certificate) -> tuple[str, ...]:
    """Subject alternative names as sigstore's ``cryptoutils.GetSubjectAlternateNames``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    except ValueError:  # a malformed extension: Go would have rejected the certificate
        return ()
    names: list[str] = []
    names.extend(san.get_values_for_type(x509.DNSName))
    names.extend(san.get_values_for_type(x509.RFC822Name))
    names.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress) if _is_ip(ip))
    names.extend(san.get_values_for_type(x509.UniformResourceIdentifier))
    return tuple(names)


def _is_ip(value: object) -> bool:
    return isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address)


def _check_key(key: object, field: str) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return key
    raise _fail(f"{field}: unsupported key type {type(key).__name__}")


def load_verifier(data: bytes, *, field: str = "publicKey") -> Verifier:
    """Parse PEM verification material as Rekor's ``x509.NewPublicKey``: one SPKI public key,
    one certificate, or several concatenated certificates (a chain, leaf first)."""
    try:
        return _load_verifier_cached(bytes(data))
    except EntryFormatError as exc:
        # The cached parser reports an empty field name (": reason"): add this call's.
        raise EntryFormatError(f"{field}{exc}") from exc


@functools.lru_cache(maxsize=1024)
def _load_verifier_cached(data: bytes) -> Verifier:
    """Functionaries publish many entries with one key: parse each key once."""
    return _load_verifier(data, field="")


def _load_verifier(data: bytes, *, field: str) -> Verifier:
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise _fail(f"{field}: invalid public key: failure decoding PEM")
    first = blocks[0]
    rest = data[first.end() :]
    if rest.strip():
        return _load_chain(data, blocks, field)
    kind = first.group(1).decode()
    der = _pem_body(first.group(2), field)
    if kind == "PUBLIC KEY":
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise _fail(f"{field}: invalid public key") from exc
        checked = _check_key(key, field)
        pem = checked.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return Verifier(key=checked, canonical_pem=pem, subjects=())
    if kind == "CERTIFICATE":
        cert = _load_cert(der, field)
        return Verifier(
            key=_cert_key(cert, field),
            canonical_pem=cert.public_bytes(serialization.Encoding.PEM),
            subjects=_subjects(cert),
        )
    raise _fail(f"{field}: invalid public key: cannot handle type {kind}")


def _load_chain(data: bytes, blocks: Sequence[re.Match[bytes]], field: str) -> Verifier:
    certs: list[x509.Certificate] = []
    for block in blocks:
        if block.group(1) != b"CERTIFICATE":
            raise _fail(f"{field}: a PEM chain may only hold certificates")
        certs.append(_load_cert(_pem_body(block.group(2), field), field))
    return Verifier(
        key=_cert_key(certs[0], field),
        canonical_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs),
        subjects=_subjects(certs[0]),
    )


def _pem_body(text: bytes, field: str) -> bytes:
    lines = [line.strip() for line in text.splitlines()]
    if any(b":" in line for line in lines):  # RFC 1421 headers: Go parses, we do not need them
        raise _fail(f"{field}: PEM headers are not supported")
    return _b64_strict(b"".join(lines).decode("ascii", "replace"), field)


def _load_cert(der: bytes, field: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise _fail(f"{field}: invalid certificate") from exc


def _cert_key(cert: x509.Certificate, field: str) -> PublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"{field}: certificate has an unsupported public key") from exc
    return _check_key(key, field)


def _verify_message(key: PublicKey, signature: bytes, message: bytes) -> bool:
    """sigstore ``signature.LoadVerifier(key, crypto.SHA256)``: ECDSA and RSA PKCS#1 v1.5 over
    SHA-256 of the message, Ed25519 over the message itself."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _verify_prehashed(key: PublicKey, signature: bytes, digest: bytes, algorithm: str) -> bool:
    prehashed = utils.Prehashed(_PREHASH[algorithm])
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


# --------------------------------------------------------------------------------------------
# DSSE envelopes (go-securesystemslib dsse.EnvelopeVerifier, as Rekor's verifyEnvelope uses it)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Envelope:
    payload_b64: str
    payload_type: str
    signatures: tuple[tuple[str, str], ...]  # (keyid, sig base64)


def _parse_envelope(text: str, field: str) -> _Envelope:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge integers
        raise _fail(f"{field}: not a JSON DSSE envelope") from exc
    env = _obj(doc, field)
    payload = _str(env.get("payload"), f"{field}.payload", required=False)
    payload_type = _str(env.get("payloadType"), f"{field}.payloadType", required=False)
    sigs = env.get("signatures")
    if sigs is None:
        sigs = []
    if not isinstance(sigs, list):
        raise _fail(f"{field}.signatures: expected an array")
    parsed: list[tuple[str, str]] = []
    for i, raw in enumerate(sigs):
        sig = _obj(raw, f"{field}.signatures[{i}]")
        keyid = _str(sig.get("keyid"), f"{field}.signatures[{i}].keyid", required=False)
        value = _str(sig.get("sig"), f"{field}.signatures[{i}].sig", required=False)
        parsed.append((keyid, value))
    return _Envelope(payload_b64=payload, payload_type=payload_type, signatures=tuple(parsed))


def _verify_envelope(
    verifiers: Sequence[Verifier], env: _Envelope, field: str
) -> dict[str, Verifier]:
    """Rekor's ``verifyEnvelope``: every key must verify at least one signature (the DSSE
    verifier's threshold of 1) and every signature must be verified by some key. Returns the
    verifying key of each signature (base64 string); a later key wins, as in Rekor's map."""
    if not env.signatures:
        raise EntrySignatureError(f"{field}: could not verify envelope: no signatures")
    payload = _b64_dsse(env.payload_b64, f"{field}.payload")
    message = pae(env.payload_type, payload)
    decoded = [
        (sig, _b64_dsse(sig, f"{field}.signatures[{i}].sig"))
        for i, (_, sig) in enumerate(env.signatures)
    ]
    by_sig: dict[str, Verifier] = {}
    for n, verifier in enumerate(verifiers):
        accepted = [text for text, raw in decoded if _verify_message(verifier.key, raw, message)]
        if not accepted:
            raise EntrySignatureError(
                f"{field}: could not verify envelope: key {n} verifies no signature"
            )
        for text in accepted:
            by_sig[text] = verifier
    if any(text not in by_sig for text, _ in decoded):
        raise EntrySignatureError(f"{field}: all signatures must have a key that verifies it")
    return by_sig


def _statement_keys(payload: bytes) -> list[str]:
    """Subject digests (and SLSA v0.2 material digests) of an in-toto statement, as Rekor
    indexes them; anything that does not decode contributes nothing."""
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    keys = _digest_keys(doc.get("subject"))
    predicate = doc.get("predicate")
    if isinstance(predicate, dict):
        keys.extend(_digest_keys(predicate.get("materials")))
    return keys


def _digest_keys(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    keys: list[str] = []
    for item in items:
        digest = item.get("digest") if isinstance(item, dict) else None
        if isinstance(digest, dict):
            keys.extend(f"{alg}:{value}" for alg, value in digest.items() if isinstance(value, str))
    return keys


def _dsse_payload_keys(payload_type: str, payload_b64: str) -> list[str]:
    if payload_type != INTOTO_PAYLOAD_TYPE or not payload_b64:
        return []
    try:
        payload = _b64_dsse(payload_b64, "payload")
    except EntryFormatError:
        return []
    return _statement_keys(payload)


def _key_index(verifier: Verifier) -> list[str]:
    return ["sha256:" + _hex_digest(verifier.canonical_pem), *verifier.subjects]


def _hash_obj(value: Any, field: str, allowed: Mapping[str, int]) -> dict[str, str]:
    obj = _obj(value, field)
    algorithm = _str(obj.get("algorithm"), f"{field}.algorithm")
    if algorithm not in allowed:
        raise _fail(f"{field}.algorithm: unsupported {algorithm!r}")
    hex_value = _str(obj.get("value"), f"{field}.value")
    return {"algorithm": algorithm, "value": hex_value}


# --------------------------------------------------------------------------------------------
# Kinds
# --------------------------------------------------------------------------------------------


def _canonical_body(kind: str, api_version: str, spec: Mapping[str, Any]) -> bytes:
    return rfc8785.dumps({"apiVersion": api_version, "kind": kind, "spec": spec})


def _dsse(spec: Mapping[str, Any], *, for_insert: bool) -> CanonicalEntry:
    proposed = spec.get("proposedContent")
    computed = [spec.get(k) for k in ("envelopeHash", "payloadHash", "signatures")]
    if proposed is None:
        if for_insert:
            raise _fail("spec.proposedContent: required to add a dsse entry")
        if any(v is None for v in computed) or not spec.get("signatures"):
            raise _fail(
                "spec: either proposedContent or envelopeHash, payloadHash and signatures "
                "must be present"
            )
        return _dsse_from_canonical(spec)
    if any(v is not None for v in computed):
        raise _fail(
            "spec: either proposedContent or envelopeHash, payloadHash and signatures "
            "must be present but not both"
        )
    content = _obj(proposed, "spec.proposedContent")
    envelope_text = _str(content.get("envelope"), "spec.proposedContent.envelope")
    raw_verifiers = _list(content.get("verifiers"), "spec.proposedContent.verifiers")
    verifiers = [
        load_verifier(
            _b64_strict(
                _str(v, f"spec.proposedContent.verifiers[{i}]"),
                f"spec.proposedContent.verifiers[{i}]",
            ),
            field=f"spec.proposedContent.verifiers[{i}]",
        )
        for i, v in enumerate(raw_verifiers)
    ]
    env = _parse_envelope(envelope_text, "spec.proposedContent.envelope")
    by_sig = _verify_envelope(verifiers, env, "spec.proposedContent.envelope")
    payload = _b64_dsse(env.payload_b64, "spec.proposedContent.envelope.payload")
    signatures = [
        {"signature": sig, "verifier": base64.b64encode(by_sig[sig].canonical_pem).decode()}
        for sig in sorted(by_sig)
    ]
    envelope_hash = _hex_digest(envelope_text.encode())
    payload_hash = _hex_digest(payload)
    canonical_spec = {
        "envelopeHash": {"algorithm": "sha256", "value": envelope_hash},
        "payloadHash": {"algorithm": "sha256", "value": payload_hash},
        "signatures": signatures,
    }
    keys: list[str] = []
    for sig in sorted(by_sig):
        keys.extend(_key_index(by_sig[sig]))
    keys.append("sha256:" + payload_hash)
    keys.append("sha256:" + envelope_hash)
    keys.extend(_dsse_payload_keys(env.payload_type, env.payload_b64))
    return CanonicalEntry(
        kind="dsse",
        api_version="0.0.1",
        body=_canonical_body("dsse", "0.0.1", canonical_spec),
        index_keys=_dedupe(keys),
    )


def _dsse_from_canonical(spec: Mapping[str, Any]) -> CanonicalEntry:
    """A dsse spec already in stored form (search by entry): re-serialise, verify nothing."""
    sha = {"sha256": 64}
    envelope_hash = _hash_obj(spec.get("envelopeHash"), "spec.envelopeHash", sha)
    payload_hash = _hash_obj(spec.get("payloadHash"), "spec.payloadHash", sha)
    signatures: list[dict[str, str]] = []
    keys: list[str] = []
    for i, raw in enumerate(_list(spec.get("signatures"), "spec.signatures")):
        sig = _obj(raw, f"spec.signatures[{i}]")
        text = _str(sig.get("signature"), f"spec.signatures[{i}].signature")
        verifier_b64 = _str(sig.get("verifier"), f"spec.signatures[{i}].verifier")
        verifier = load_verifier(
            _b64_strict(verifier_b64, f"spec.signatures[{i}].verifier"),
            field=f"spec.signatures[{i}].verifier",
        )
        signatures.append({"signature": text, "verifier": verifier_b64})
        keys.extend(_key_index(verifier))
    signatures.sort(key=lambda s: s["signature"])
    keys.append(f"{payload_hash['algorithm']}:{payload_hash['value']}".lower())
    keys.append(f"{envelope_hash['algorithm']}:{envelope_hash['value']}".lower())
    canonical_spec = {
        "envelopeHash": envelope_hash,
        "payloadHash": payload_hash,
        "signatures": signatures,
    }
    return CanonicalEntry(
        kind="dsse",
        api_version="0.0.1",
        body=_canonical_body("dsse", "0.0.1", canonical_spec),
        index_keys=_dedupe(keys),
    )


def _hashedrekord(spec: Mapping[str, Any]) -> CanonicalEntry:
    sig_obj = _obj(spec.get("signature"), "spec.signature")
    signature = _b64_strict(
        _str(sig_obj.get("content"), "spec.signature.content"), "spec.signature.content"
    )
    key_obj = _obj(sig_obj.get("publicKey"), "spec.signature.publicKey")
    key_content = _b64_strict(
        _str(key_obj.get("content"), "spec.signature.publicKey.content"),
        "spec.signature.publicKey.content",
    )
    verifier = load_verifier(key_content, field="spec.signature.publicKey.content")
    data = _obj(spec.get("data"), "spec.data")
    digest = _hash_obj(data.get("hash"), "spec.data.hash", _HASH_LENGTHS)
    algorithm, value = digest["algorithm"], digest["value"]
    if len(value) != _HASH_LENGTHS[algorithm]:
        raise _fail("spec.data.hash.value: invalid value for hash")
    try:
        digest_bytes = bytes.fromhex(value)
    except ValueError as exc:
        raise _fail("spec.data.hash.value: not hexadecimal") from exc
    if isinstance(verifier.key, ed25519.Ed25519PublicKey):
        raise EntrySignatureError(
            "spec.signature: Ed25519 keys need Ed25519ph for hashedrekord, which is not supported"
        )
    if not _verify_prehashed(verifier.key, signature, digest_bytes, algorithm):
        raise EntrySignatureError("spec.signature: verifying signature: invalid signature")
    canonical_spec = {
        "data": {"hash": digest},
        "signature": {
            "content": base64.b64encode(signature).decode(),
            "publicKey": {"content": base64.b64encode(verifier.canonical_pem).decode()},
        },
    }
    keys = [_hex_digest(key_content), *verifier.subjects, f"{algorithm}:{value}".lower()]
    return CanonicalEntry(
        kind="hashedrekord",
        api_version="0.0.1",
        body=_canonical_body("hashedrekord", "0.0.1", canonical_spec),
        index_keys=_dedupe(keys),
    )


def _intoto(spec: Mapping[str, Any], *, for_insert: bool) -> CanonicalEntry:
    content = _obj(spec.get("content"), "spec.content")
    envelope = _obj(content.get("envelope"), "spec.content.envelope")
    payload_type = _str(envelope.get("payloadType"), "spec.content.envelope.payloadType")
    # The model's payload, sig and publicKey are strfmt.Base64: the JSON carries base64 of
    # the envelope's own base64 strings (and of the PEM key).
    payload_field = envelope.get("payload")
    payload_b64 = ""
    if payload_field is not None:
        payload_b64 = _b64_strict(
            _str(payload_field, "spec.content.envelope.payload", required=False),
            "spec.content.envelope.payload",
        ).decode("ascii", "replace")
    stored_sigs: list[dict[str, str]] = []
    sig_pairs: list[tuple[str, str]] = []
    verifiers: list[Verifier] = []
    for i, raw in enumerate(_list(envelope.get("signatures"), "spec.content.envelope.signatures")):
        field = f"spec.content.envelope.signatures[{i}]"
        sig = _obj(raw, field)
        keyid = _str(sig.get("keyid"), f"{field}.keyid", required=False)
        sig_text = _b64_strict(_str(sig.get("sig"), f"{field}.sig"), f"{field}.sig")
        key_pem = _b64_strict(
            _str(sig.get("publicKey"), f"{field}.publicKey"), f"{field}.publicKey"
        )
        verifiers.append(load_verifier(key_pem, field=f"{field}.publicKey"))
        stored: dict[str, str] = {}
        if keyid:
            stored["keyid"] = keyid
        stored["sig"] = base64.b64encode(sig_text).decode()
        stored["publicKey"] = base64.b64encode(key_pem).decode()
        stored_sigs.append(stored)
        sig_pairs.append((keyid, sig_text.decode("ascii", "replace")))
    env_hash_raw = content.get("hash")
    if env_hash_raw is None:
        raise _fail("spec.content.hash: missing envelope digest")
    env_hash = _hash_obj(env_hash_raw, "spec.content.hash", {"sha256": 64})
    payload: bytes | None = None
    if payload_b64:
        env = _Envelope(
            payload_b64=payload_b64, payload_type=payload_type, signatures=tuple(sig_pairs)
        )
        _verify_envelope(verifiers, env, "spec.content.envelope")
        try:
            payload = base64.b64decode(payload_b64.encode("ascii"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _fail("spec.content.envelope.payload: could not decode envelope payload") from exc
        payload_hash = {"algorithm": "sha256", "value": _hex_digest(payload)}
    elif for_insert:
        raise _fail("spec.content.envelope.payload: missing envelope content")
    else:
        if content.get("payloadHash") is None:
            raise _fail("spec.content.payloadHash: missing payload digest")
        payload_hash = _hash_obj(
            content.get("payloadHash"), "spec.content.payloadHash", {"sha256": 64}
        )
    canonical_spec = {
        "content": {
            "envelope": {"payloadType": payload_type, "signatures": stored_sigs},
            "hash": env_hash,
            "payloadHash": payload_hash,
        }
    }
    keys: list[str] = []
    for verifier in verifiers:
        keys.extend(_key_index(verifier))
    keys.append(f"{payload_hash['algorithm']}:{payload_hash['value']}".lower())
    if payload_type == INTOTO_PAYLOAD_TYPE and payload is not None:
        keys.extend(_statement_keys(payload))
    return CanonicalEntry(
        kind="intoto",
        api_version="0.0.2",
        body=_canonical_body("intoto", "0.0.2", canonical_spec),
        index_keys=_dedupe(keys),
    )


def _dedupe(keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def canonical_entry(doc: Any, *, for_insert: bool = True) -> CanonicalEntry:
    """Validate a proposed entry (parsed JSON) and return what the log stores.

    1. ``kind`` and ``apiVersion`` name a supported kind; ``spec`` is an object.
    2. The kind's fields are present and well-formed.
    3. With ``for_insert`` (POST /log/entries) every signature verifies with its key and the
       entry is insertable; without it (search by entry) a dsse spec may already be in stored
       form, as Rekor's ``UnmarshalEntry`` allows.
    4. The canonical body is built (RFC 8785) and the index keys derived.

    Raises :class:`EntryFormatError` / :class:`EntrySignatureError` (HTTP 400).
    """
    entry = _obj(doc, "proposed entry")
    kind = _str(entry.get("kind"), "kind")
    api_version = _str(entry.get("apiVersion"), "apiVersion")
    if (kind, api_version) not in SUPPORTED_KINDS:
        supported = ", ".join(f"{k} {v}" for k, v in sorted(SUPPORTED_KINDS))
        raise _fail(f"kind: unsupported {kind} {api_version} (supported: {supported})")
    spec = _obj(entry.get("spec"), "spec")
    if kind == "dsse":
        return _dsse(spec, for_insert=for_insert)
    if kind == "hashedrekord":
        return _hashedrekord(spec)
    return _intoto(spec, for_insert=for_insert)


def parse_proposed_entry(data: bytes, *, for_insert: bool = True) -> CanonicalEntry:
    """:func:`canonical_entry` for raw request bytes (JSON)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # ValueError: also huge integers
        raise _fail("request body: not valid JSON") from exc
    return canonical_entry(doc, for_insert=for_insert)


# --------------------------------------------------------------------------------------------
# Building proposed entries (the client side)
# --------------------------------------------------------------------------------------------


def dsse_proposed_entry(envelope: bytes, verifiers_pem: Sequence[bytes]) -> dict[str, Any]:
    """The ``dsse`` 0.0.1 proposed entry for an envelope and its keys/certificates (PEM)."""
    return {
        "kind": "dsse",
        "apiVersion": "0.0.1",
        "spec": {
            "proposedContent": {
                "envelope": envelope.decode("utf-8"),
                "verifiers": [base64.b64encode(pem).decode() for pem in verifiers_pem],
            }
        },
    }


def hashedrekord_proposed_entry(
    *, signature: bytes, public_key_pem: bytes, digest: bytes, algorithm: str = "sha256"
) -> dict[str, Any]:
    """The ``hashedrekord`` 0.0.1 proposed entry for a signature over an artifact digest."""
    return {
        "kind": "hashedrekord",
        "apiVersion": "0.0.1",
        "spec": {
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(public_key_pem).decode()},
            },
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
        },
    }


def intoto_proposed_entry(envelope: bytes, public_key_pem: bytes) -> dict[str, Any]:
    """The ``intoto`` 0.0.2 proposed entry (as ``rekor-cli`` builds it) for an envelope whose
    signatures were all made with ``public_key_pem``."""
    try:
        env = json.loads(envelope)
        payload = env["payload"]
        signatures = env["signatures"]
        payload_type = env["payloadType"]
    except (ValueError, RecursionError, KeyError, TypeError) as exc:
        raise _fail("envelope: not a DSSE envelope") from exc

    def b64(text: str | bytes) -> str:
        raw = text.encode() if isinstance(text, str) else text
        return base64.b64encode(raw).decode()

    sigs: list[dict[str, str]] = []
    for sig in signatures:
        item = {"sig": b64(sig["sig"]), "publicKey": b64(public_key_pem)}
        if sig.get("keyid"):
            item = {"keyid": sig["keyid"], **item}
        sigs.append(item)
    return {
        "kind": "intoto",
        "apiVersion": "0.0.2",
        "spec": {
            "content": {
                "envelope": {
                    "payload": b64(payload),
                    "payloadType": payload_type,
                    "signatures": sigs,
                },
                "hash": {"algorithm": "sha256", "value": _hex_digest(envelope)},
            }
        },
    }
