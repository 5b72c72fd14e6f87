"""Layouts: the YAML/JSON source, schema validation, key pinning, DSSE signing, in-toto export.

A layout *source* (docs/INTERFACES.md, layouts/demo.yaml) names keys by path relative to the source file. Signing pins
every trust anchor into the payload — functionary public keys (with their in-toto key ids),
transparency-log keys, TDX root certificates (or the literal ``intel``) and C2PA anchors — so a
bundle verifies with nothing but the owner's public key. The signed layout is a DSSE envelope
(payload type :data:`LAYOUT_PAYLOAD_TYPE`) over the RFC 8785 canonical JSON of the pinned
document, signed by one or more owner keys.

Modules, one concept each:

* :mod:`~atlas_intoto.layout.source` — YAML/JSON text to a document and a line map;
* :mod:`~atlas_intoto.layout.schema` — JSON Schema and semantic validation;
* :mod:`~atlas_intoto.layout.evidence` — per-kind evidence policy and trust blocks;
* :mod:`~atlas_intoto.layout.pinning` — key/certificate paths to pinned content;
* :mod:`~atlas_intoto.layout.model` — :class:`Layout` and its parts, :func:`parse_layout`;
* :mod:`~atlas_intoto.layout.envelope` — signing and verifying the DSSE envelope;
* :mod:`~atlas_intoto.layout.intoto` — export as a plain in-toto layout.

``load_source``, ``resolve_source``, ``load_and_pin`` and ``load_signed_layout`` do file I/O;
everything else is pure.
"""

from atlas_intoto.layout.envelope import (
    LAYOUT_PAYLOAD_TYPE,
    layout_payload,
    load_signed_layout,
    sign_layout,
    verify_signed_layout,
)
from atlas_intoto.layout.evidence import TDX
from atlas_intoto.layout.identity import CaTrust, FunctionaryIdentity
from atlas_intoto.layout.intoto import export_intoto, to_intoto_layout_dict
from atlas_intoto.layout.model import FunctionaryKey, Layout, LogTrust, StepSpec, parse_layout
from atlas_intoto.layout.pinning import (
    check_certificates_pem,
    load_and_pin,
    pin_key,
    resolve_source,
)
from atlas_intoto.layout.schema import API_VERSION, SCHEMA_PATH, layout_schema, validate_document
from atlas_intoto.layout.source import LineMap, load_source, parse_source_text

__all__ = [
    "API_VERSION",
    "LAYOUT_PAYLOAD_TYPE",
    "SCHEMA_PATH",
    "TDX",
    "CaTrust",
    "FunctionaryIdentity",
    "FunctionaryKey",
    "Layout",
    "LineMap",
    "LogTrust",
    "StepSpec",
    "check_certificates_pem",
    "export_intoto",
    "layout_payload",
    "layout_schema",
    "load_and_pin",
    "load_signed_layout",
    "load_source",
    "parse_layout",
    "parse_source_text",
    "pin_key",
    "resolve_source",
    "sign_layout",
    "to_intoto_layout_dict",
    "validate_document",
    "verify_signed_layout",
]
