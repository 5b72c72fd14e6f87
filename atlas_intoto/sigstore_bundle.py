"""Sigstore bundles v0.3 (``application/vnd.dev.sigstore.bundle.v0.3+json``, pure): a DSSE
envelope with its verification material, its Rekor v1 or v2 log entry and its RFC 3161
timestamps, in the protobuf JSON of sigstore/protobuf-specs (``sigstore_bundle.proto``,
``sigstore_rekor.proto``)::

    {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial": {"certificate": {"rawBytes": "<b64 DER leaf>"}
                              | "publicKey": {"hint": "<functionary key id>"},
                              "tlogEntries": [{"logIndex": "42", "logId": {"keyId": "<b64>"},
                                               "kindVersion": {"kind": "dsse", "version": "0.0.1"},
                                               "integratedTime": "1700000000",
                                               "inclusionPromise": {"signedEntryTimestamp": "<b64>"},
                                               "inclusionProof": {"logIndex": "42",
                                                   "rootHash": "<b64>", "treeSize": "43",
                                                   "hashes": ["<b64>"],
                                                   "checkpoint": {"envelope": "<signed note>"}},
                                               "canonicalizedBody": "<b64>"}],
                              "timestampVerificationData": {"rfc3161Timestamps": [
                                  {"signedTimestamp": "<b64 DER TimeStampResp>"}]}},
     "dsseEnvelope": {"payload": "<b64>", "payloadType": "application/vnd.in-toto+json",
                      "signatures": [{"sig": "<b64>", "keyid": "<key id>"}]}}

The envelope is rebuilt as sorted-key JSON (what :func:`atlas_intoto.link.sign_link` and
:func:`atlas_intoto.statement.sign_statement` write and publish), so the log entry's
``envelopeHash`` matches the rebuilt bytes of every envelope we made; a bundle made by
sigstore-python logged its compact protobuf JSON, rebuilt instead when that is what the
entry hashes.

A Rekor v2 entry (``kindVersion.version`` 0.0.2: hashedrekord over the envelope's PAE, no
``integratedTime``, no SET) is read back into the rekor-v2 backend's saved document
(:func:`atlas_intoto.tlog.rekor_v2.document`) with the bundle's timestamps; a Rekor v1 entry
into Rekor's ``{uuid: LogEntry}``, its timestamps (``--tsa`` on a v1 log) kept beside it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from atlas_intoto import dsse
from atlas_intoto.errors import AtlasError, FormatError

#: Media type of the bundles we write.
MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: Media types we read (protobuf-specs: clients accept the older spellings).
READABLE_MEDIA_TYPES = (
    MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
)
#: File name suffix beside the link: ``NAME.KEYID8.sigstore.json``.
SUFFIX = ".sigstore.json"

__all__ = [
    "MEDIA_TYPE",
    "SUFFIX",
    "SigstoreBundle",
    "bundle_file_name",
    "bundle_timestamps",
    "make_bundle",
    "parse_sigstore_bundle",
    "tlog_entry",
]


def bundle_file_name(step: str, keyid: str) -> str:
    """``NAME.KEYID8.sigstore.json``, beside ``NAME.KEYID8.link``."""
    return f"{step}.{keyid[:8]}{SUFFIX}"


@dataclass(frozen=True, kw_only=True)
class SigstoreBundle:
    """A parsed Sigstore bundle holding a DSSE envelope."""

    #: the envelope as sorted-key JSON bytes (what was signed and logged)
    envelope: bytes = field(repr=False)
    #: the log entry in Rekor's ``{entry ID: LogEntry}`` shape, if the bundle has one
    log_entry: Mapping[str, Any] | None = field(default=None, repr=False)
    #: the DER leaf certificate, if the verification material is one
    certificate: bytes | None = field(default=None, repr=False)
    #: the DER certificates after the leaf of an ``x509CertificateChain`` (bundles v0.1/v0.2;
    #: v0.3 carries the leaf only): untrusted intermediates, issuer first
    chain: tuple[bytes, ...] = field(default=(), repr=False)
    #: the public key hint, if the verification material is one
    key_hint: str | None = None
    #: DER RFC 3161 TimeStampResps of ``timestampVerificationData.rfc3161Timestamps``
    timestamps: tuple[bytes, ...] = field(default=(), repr=False)
    #: the bundle document as read
    document: Mapping[str, Any] = field(default_factory=dict, repr=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tlog_entry(log_entry: Mapping[str, Any]) -> dict[str, Any]:
    """A ``TransparencyLogEntry`` (protobuf JSON) of a saved Rekor v1 ``{uuid: LogEntry}``
    (the inverse of :func:`atlas_intoto.tlog.logentry.from_sigstore_bundle_entry`)."""
    from atlas_intoto.tlog.logentry import parse_log_entry

    entry = parse_log_entry(log_entry)
    head = json.loads(entry.body)
    out: dict[str, Any] = {
        "logIndex": str(entry.log_index),
        "logId": {"keyId": _b64(entry.log_id)},
        "kindVersion": {"kind": str(head.get("kind")), "version": str(head.get("apiVersion"))},
        "integratedTime": str(entry.integrated_time or 0),
        "inclusionProof": {
            "logIndex": str(entry.proof_log_index),
            "rootHash": _b64(entry.root_hash),
            "treeSize": str(entry.tree_size),
            "hashes": [_b64(h) for h in entry.hashes],
            "checkpoint": {"envelope": entry.checkpoint},
        },
        "canonicalizedBody": entry.body_b64,
    }
    if entry.signed_entry_timestamp is not None:
        out["inclusionPromise"] = {"signedEntryTimestamp": _b64(entry.signed_entry_timestamp)}
    return out


def _is_v2(log_entry: Mapping[str, Any]) -> bool:
    from atlas_intoto.tlog.rekor_v2 import NAME

    return log_entry.get("backend") == NAME


def make_bundle(
    envelope: bytes,
    *,
    log_entry: Mapping[str, Any] | None,
    certificate: bytes | None = None,
    key_hint: str = "",
    timestamps: Sequence[bytes] = (),
) -> dict[str, Any]:
    """The Sigstore bundle v0.3 document of a single-signature DSSE ``envelope``.

    The verification material is the DER leaf ``certificate`` when given, else the public key
    ``key_hint`` (the envelope signature's key id, as protobuf-specs requires). ``log_entry``
    is a Rekor v1 ``{uuid: LogEntry}`` or a rekor-v2 saved document (its TransparencyLogEntry
    goes in as is, its timestamps before ``timestamps``, the DER responses of a TSA).
    """
    from atlas_intoto.tlog.rekor_v2 import timestamps_of

    parsed = dsse.parse(envelope, source="envelope")
    if len(parsed.signatures) != 1:
        raise FormatError("envelope: a Sigstore bundle holds exactly one DSSE signature")
    material: dict[str, Any] = (
        {"certificate": {"rawBytes": _b64(certificate)}}
        if certificate is not None
        else {"publicKey": {"hint": key_hint or parsed.signatures[0].keyid}}
    )
    stamps = list(timestamps)
    if log_entry is None:
        material["tlogEntries"] = []
    elif _is_v2(log_entry):
        material["tlogEntries"] = [dict(log_entry["entry"])]
        stamps = [*timestamps_of(log_entry), *stamps]
    else:
        material["tlogEntries"] = [tlog_entry(log_entry)]
    if stamps:
        material["timestampVerificationData"] = {
            "rfc3161Timestamps": [{"signedTimestamp": _b64(t)} for t in stamps]
        }
    return {
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": parsed.to_dict(),
    }


def _material(doc: Mapping[str, Any], source: str) -> tuple[bytes | None, str | None]:
    material = doc.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise FormatError(f"{source}: verificationMaterial: must be an object")
    cert = material.get("certificate")
    if cert is None and isinstance(material.get("x509CertificateChain"), Mapping):
        chain = material["x509CertificateChain"].get("certificates")
        cert = chain[0] if isinstance(chain, list) and chain else None
    if isinstance(cert, Mapping):
        raw = cert.get("rawBytes")
        try:
            return base64.b64decode(str(raw), validate=True), None
        except ValueError as exc:
            raise FormatError(f"{source}: verificationMaterial.certificate: bad base64") from exc
    key = material.get("publicKey")
    if isinstance(key, Mapping) and isinstance(key.get("hint", ""), str):
        return None, str(key.get("hint", ""))
    raise FormatError(f"{source}: verificationMaterial: no certificate and no publicKey")


def _chain(doc: Mapping[str, Any], source: str) -> tuple[bytes, ...]:
    chain = doc["verificationMaterial"].get("x509CertificateChain")
    certificates = chain.get("certificates") if isinstance(chain, Mapping) else None
    if not isinstance(certificates, list):
        return ()
    out: list[bytes] = []
    for index, cert in enumerate(certificates[1:], start=1):
        raw = cert.get("rawBytes") if isinstance(cert, Mapping) else None
        try:
            out.append(base64.b64decode(str(raw), validate=True))
        except ValueError as exc:
            raise FormatError(
                f"{source}: verificationMaterial.x509CertificateChain.certificates[{index}]: "
                "bad base64"
            ) from exc
    return tuple(out)


def bundle_timestamps(doc: Mapping[str, Any], *, source: str = "sigstore bundle") -> list[bytes]:
    """The DER TimeStampResps of ``verificationMaterial.timestampVerificationData``
    (FormatError naming the field when malformed)."""
    material = doc.get("verificationMaterial")
    data = material.get("timestampVerificationData") if isinstance(material, Mapping) else None
    if data is None:
        return []
    where = f"{source}: verificationMaterial.timestampVerificationData"
    items = data.get("rfc3161Timestamps", []) if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise FormatError(f"{where}.rfc3161Timestamps: must be an array")
    out: list[bytes] = []
    for i, item in enumerate(items):
        value = item.get("signedTimestamp") if isinstance(item, Mapping) else None
        try:
            if not isinstance(value, str) or not value:
                raise ValueError("not a string")
            out.append(base64.b64decode(value.encode("ascii"), validate=True))
        except (ValueError, UnicodeEncodeError) as exc:
            raise FormatError(
                f"{where}.rfc3161Timestamps[{i}].signedTimestamp: bad base64"
            ) from exc
    return out


def _is_v2_entry(entry: Any) -> bool:
    """Rekor v2 entries are of kind version 0.0.2 (hashedrekord/dsse), v1's are 0.0.1."""
    kind = entry.get("kindVersion") if isinstance(entry, Mapping) else None
    return isinstance(kind, Mapping) and kind.get("version") == "0.0.2"


def _log_entry(
    doc: Mapping[str, Any], source: str, timestamps: Sequence[bytes]
) -> Mapping[str, Any] | None:
    from atlas_intoto.tlog.logentry import from_sigstore_bundle_entry
    from atlas_intoto.tlog.rekor_v2 import document

    entries = doc["verificationMaterial"].get("tlogEntries", [])
    if not isinstance(entries, list) or len(entries) > 1:
        raise FormatError(f"{source}: verificationMaterial.tlogEntries: at most one entry")
    if not entries:
        return None
    if _is_v2_entry(entries[0]):
        # Verified by the rekor-v2 backend, which reads the entry as the log returned it.
        return document(entries[0], timestamps)
    try:
        return from_sigstore_bundle_entry(entries[0])
    except AtlasError as exc:
        raise FormatError(f"{source}: verificationMaterial.tlogEntries[0]: {exc}") from exc


def _logged_envelope(envelope: dsse.Envelope, doc: Mapping[str, Any]) -> bytes:
    """The envelope bytes the log entry hashes: ours (sorted-key JSON), or, for a bundle made
    by sigstore-python (whose Rekor v1 ``dsse`` entry hashes its own compact protobuf JSON of
    the envelope), that serialisation when the entry's ``envelopeHash`` is its SHA-256 — so
    the verifier still checks the exact logged bytes."""
    import hashlib

    ours = json.dumps(envelope.to_dict(), sort_keys=True).encode()
    try:
        entry = doc["verificationMaterial"]["tlogEntries"][0]
        body = json.loads(base64.b64decode(entry["canonicalizedBody"], validate=True))
        logged = body["spec"]["envelopeHash"]["value"]
    except (KeyError, IndexError, TypeError, ValueError):
        return ours
    if not isinstance(logged, str) or logged == hashlib.sha256(ours).hexdigest():
        return ours
    from sigstore_models.intoto import Envelope as ProtobufEnvelope

    try:
        theirs = ProtobufEnvelope.from_dict(dict(doc["dsseEnvelope"])).to_json().encode()
    except Exception:  # not protobuf-valid: keep ours, check 6 reports the mismatch
        return ours
    return theirs if hashlib.sha256(theirs).hexdigest() == logged else ours


def parse_sigstore_bundle(doc: Any, *, source: str = "sigstore bundle") -> SigstoreBundle:
    """Parse a Sigstore bundle (v0.2/v0.3) holding a DSSE envelope.

    1. ``mediaType`` is a Sigstore bundle v0.2/v0.3 media type;
    2. the content is a ``dsseEnvelope`` with exactly one signature;
    3. the verification material is a certificate (or chain: its leaf, the rest kept as
       ``chain``) or a public key hint;
    4. the RFC 3161 timestamps of ``timestampVerificationData`` are base64;
    5. at most one ``tlogEntries`` item, converted to Rekor's ``{uuid: LogEntry}`` (v1) or to
       the rekor-v2 saved document with the timestamps (v2: kind version 0.0.2).

    Nothing is verified here. Raises :class:`FormatError` naming ``source`` and the field.
    """
    if not isinstance(doc, Mapping):
        raise FormatError(f"{source}: a Sigstore bundle must be a JSON object")
    if doc.get("mediaType") not in READABLE_MEDIA_TYPES:
        raise FormatError(f"{source}: mediaType {doc.get('mediaType')!r} is not a bundle v0.3")
    try:
        envelope = dsse.Envelope.from_dict(doc.get("dsseEnvelope"), source=f"{source}: dsse")
    except AtlasError as exc:
        raise FormatError(f"{source}: dsseEnvelope: {exc}") from exc
    if len(envelope.signatures) != 1:
        raise FormatError(f"{source}: dsseEnvelope: must have exactly one signature")
    certificate, hint = _material(doc, source)
    chain = _chain(doc, source)
    timestamps = bundle_timestamps(doc, source=source)
    return SigstoreBundle(
        envelope=_logged_envelope(envelope, doc),
        log_entry=_log_entry(doc, source, timestamps),
        certificate=certificate,
        chain=chain,
        key_hint=hint,
        timestamps=tuple(timestamps),
        document=doc,
    )
