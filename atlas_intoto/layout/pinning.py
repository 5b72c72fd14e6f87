"""Pinning: a layout source's key and certificate paths replaced by their content.

A layout *source* names keys by path relative to the source file. Signing pins every trust
anchor into the payload — functionary public keys (with their in-toto key ids),
transparency-log keys, TDX root certificates (or the literal ``intel``) and C2PA anchors — so a
bundle verifies with nothing but the owner's public key. :func:`pin_key` and
:func:`check_certificates_pem` are pure; the rest reads the referenced files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError, KeyLoadError
from atlas_intoto.layout.evidence import TDX, kind_blocks, kind_path
from atlas_intoto.layout.identity import is_identity
from atlas_intoto.layout.schema import validate_document
from atlas_intoto.layout.source import load_source

__all__ = ["check_certificates_pem", "load_and_pin", "pin_key", "resolve_source"]


def pin_key(pem: str, *, source: str) -> dict[str, str]:
    """The pinned form ``{keyid, pem}`` of a PEM public key; anything else (a certificate,
    broken PEM) is :class:`KeyLoadError` naming ``source``."""
    from atlas_intoto.keys import load_public_key_pem, sslib_key

    # keys.load_public_key_pem also takes a certificate's key; a pinned key must be the key
    # itself, since that is what logs and functionaries are checked against.
    if "-----BEGIN PUBLIC KEY-----" not in pem:
        raise KeyLoadError(f"{source}: not a PEM public key (SubjectPublicKeyInfo)")
    public = load_public_key_pem(pem.encode(), source=source)
    return {"keyid": sslib_key(public).keyid, "pem": pem}


def check_certificates_pem(pem: str, *, source: str) -> str:
    """``pem`` if it holds one or more X.509 certificates (TEE roots, C2PA anchors), else
    :class:`KeyLoadError` naming ``source``: a public key or broken PEM must not be pinned."""
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as exc:
        raise KeyLoadError(f"{source}: not a PEM X.509 certificate") from exc
    if not certificates:  # pragma: no cover - cryptography raises instead
        raise KeyLoadError(f"{source}: not a PEM X.509 certificate")
    return pem


def _read_pem(base_dir: Path, ref: Any, *, field_name: str) -> str:
    from atlas_intoto.fileio import read_bytes

    if isinstance(ref, Mapping):
        return str(ref["pem"])
    path = Path(ref)
    if not path.is_absolute():
        path = base_dir / path
    data = read_bytes(path, what=field_name)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise KeyLoadError(f"{path}: {field_name} is not PEM text") from exc
    if "-----BEGIN" not in text:
        raise KeyLoadError(f"{path}: {field_name} is not PEM text")
    return text


def _ref_source(base_dir: Path, ref: Any, field_name: str) -> str:
    if isinstance(ref, Mapping):
        return field_name
    path = Path(ref) if Path(ref).is_absolute() else base_dir / Path(ref)
    return f"{path}: {field_name}"


def _read_cert(base_dir: Path, ref: Any, *, field_name: str) -> str:
    return check_certificates_pem(
        _read_pem(base_dir, ref, field_name=field_name),
        source=_ref_source(base_dir, ref, field_name),
    )


def _read_key(base_dir: Path, ref: Any, *, field_name: str, what: str) -> dict[str, str]:
    return pin_key(
        _read_pem(base_dir, ref, field_name=what), source=_ref_source(base_dir, ref, field_name)
    )


def resolve_source(doc: Mapping[str, Any], *, base_dir: Path) -> dict[str, Any]:
    """The pinned layout document: every key/certificate path replaced by its content.

    ``doc`` must already be valid (:func:`validate_document`). Paths are relative to ``base_dir``
    (the directory of the source file). Pinned: ``functionaries.X`` and ``trust.logs[].key``
    as ``{keyid, pem}`` (identity functionaries as given); ``trust.ca`` roots as ``{pem}`` and
    CT keys as ``{keyid, pem}``; the ``tdx`` trust block's ``roots[]`` (``trust.tee`` or
    ``trust.evidence.tdx``) as ``'intel'`` or ``{pem}``; ``trust.c2pa.anchors[]`` as ``{pem}``.
    Other evidence kinds' trust blocks are copied as they are.
    """
    pinned: dict[str, Any] = json.loads(json.dumps(doc))
    pinned["functionaries"] = {
        name: json.loads(json.dumps(ref))
        if is_identity(ref)
        else _read_key(
            base_dir, ref, field_name=f"functionaries.{name}", what=f"functionary {name} key"
        )
        for name, ref in doc["functionaries"].items()
    }
    trust = pinned.get("trust") or {}
    for index, log in enumerate(trust.get("logs", [])):
        field_name = f"trust.logs[{index}].key"
        log["key"] = _read_key(base_dir, log["key"], field_name=field_name, what=field_name)
        log.setdefault("required", True)
        for w, witness in enumerate((log.get("witnesses") or {}).get("keys", [])):
            where = f"trust.logs[{index}].witnesses.keys[{w}].key"
            witness["key"] = _read_key(base_dir, witness["key"], field_name=where, what=where)
    ca = trust.get("ca")
    if ca is not None:
        ca["roots"] = [
            {"pem": _read_cert(base_dir, root, field_name=f"trust.ca.roots[{i}]")}
            for i, root in enumerate(ca.get("roots", []))
        ]
        ca["ct_keys"] = [
            _read_key(base_dir, key, field_name=f"trust.ca.ct_keys[{i}]", what="CT log key")
            for i, key in enumerate(ca.get("ct_keys", []))
        ]
    tsa = trust.get("tsa")
    if tsa is not None:
        tsa["roots"] = [
            {"pem": _read_cert(base_dir, root, field_name=f"trust.tsa.roots[{i}]")}
            for i, root in enumerate(tsa.get("roots", []))
        ]
    # the very dict inside ``pinned``, so the roots are pinned in place
    tdx = kind_blocks(trust).get(TDX)
    if isinstance(tdx, dict):
        prefix = ".".join(("trust", *kind_path(trust, TDX)))
        tdx["roots"] = [
            root
            if root == "intel"
            else {"pem": _read_cert(base_dir, root, field_name=f"{prefix}.roots[{i}]")}
            for i, root in enumerate(tdx.get("roots", []))
        ]
    c2pa = trust.get("c2pa")
    if c2pa is not None:
        c2pa["anchors"] = [
            {"pem": _read_cert(base_dir, anchor, field_name=f"trust.c2pa.anchors[{i}]")}
            for i, anchor in enumerate(c2pa.get("anchors", []))
        ]
    return pinned


def load_and_pin(path: Path) -> dict[str, Any]:
    """Read, validate and pin a layout source file (``layout sign`` without the signing).

    Steps:
      1. read the source (:func:`~atlas_intoto.layout.source.load_source`); a signed layout
         given instead is an :class:`InputError` with a hint;
      2. :func:`validate_document` with the source's line map;
      3. :func:`resolve_source` relative to the source's directory;
      4. parse the pinned document (pinned keys and certificates are of the right kind).
    """
    from atlas_intoto.layout.model import parse_layout

    doc, lines = load_source(path)
    if isinstance(doc, Mapping) and {"payloadType", "signatures"} <= doc.keys():
        raise InputError(
            f"{path}: this is a signed layout (DSSE envelope); "
            "layout check/sign take the YAML/JSON source"
        )
    validate_document(doc, source=str(path), lines=lines)
    pinned = resolve_source(doc, base_dir=path.parent)
    parse_layout(pinned, source=str(path))
    return pinned
