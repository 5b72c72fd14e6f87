"""Layouts: the YAML/JSON source, schema validation, key pinning, DSSE signing, in-toto export.

A layout *source* (CONTRACT.md) names keys by path relative to the source file. Signing pins
every trust anchor into the payload — functionary public keys (with their in-toto key ids),
transparency-log keys, TEE root certificates (or the literal ``intel``) and C2PA anchors — so a
bundle verifies with nothing but the owner's public key. The signed layout is a DSSE envelope
(payload type :data:`LAYOUT_PAYLOAD_TYPE`) over the RFC 8785 canonical JSON of the pinned
document, signed by one or more owner keys.

``load_source``/``resolve_source`` do file I/O; everything else is pure.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import json
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rfc8785

from atlas_intoto.errors import (
    InputError,
    KeyLoadError,
    LayoutExpiredError,
    LayoutSchemaError,
    LayoutSignatureError,
)

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

#: DSSE payload type of a signed atlas-intoto layout.
LAYOUT_PAYLOAD_TYPE = "application/vnd.atlas-intoto.layout+json"
API_VERSION = "atlas-intoto/v1"
#: package data (so installed wheels have it); a copy of schemas/layout.schema.json, kept
#: identical by the tests
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "layout.schema.json"
_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: Maps a JSON path (tuple of keys/indices) to the 1-based line of its YAML/JSON node.
LineMap = Mapping[tuple[str | int, ...], int]


@dataclass(frozen=True, kw_only=True)
class FunctionaryKey:
    name: str
    keyid: str
    pem: str


@dataclass(frozen=True, kw_only=True)
class LogTrust:
    pem: str
    required: bool = True
    url: str | None = None
    origin: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepSpec:
    name: str
    functionaries: tuple[str, ...]
    threshold: int
    expected_command: tuple[str, ...] | None
    #: in-toto artifact rules as token lists (what in_toto.rulelib expects)
    materials: tuple[tuple[str, ...], ...]
    products: tuple[tuple[str, ...], ...]
    tee: Mapping[str, Any] | None
    c2pa_required: bool

    @property
    def tee_required(self) -> bool:
        # Stating a TEE policy implies a quote unless the layout says otherwise (tee/policy.py).
        return self.tee is not None and bool(self.tee.get("required", True))

    @property
    def evidence(self) -> Mapping[str, Mapping[str, Any]]:
        return {"tdx": self.tee} if self.tee is not None else {}

    def match_sources(self) -> tuple[str, ...]:
        """Steps whose artifacts this step's MATCH rules refer to (its inputs' producers)."""
        sources: list[str] = []
        for rule in (*self.materials, *self.products):
            if rule and rule[0] == "MATCH" and "FROM" in rule:
                src = rule[rule.index("FROM") + 1]
                if src not in sources:
                    sources.append(src)
        return tuple(sources)


@dataclass(frozen=True, kw_only=True)
class Layout:
    """A parsed, pinned layout (what the signed payload says)."""

    document: Mapping[str, Any] = field(repr=False)
    expires: str
    expires_at: int
    readme: str
    functionaries: Mapping[str, FunctionaryKey]
    steps: tuple[StepSpec, ...]
    logs: tuple[LogTrust, ...]
    #: 'intel' or PEM text of each pinned TEE root
    tee_roots: tuple[str, ...]
    tee_trust: Mapping[str, Any] | None
    c2pa_anchors: tuple[str, ...]
    #: SHA-256 hex of the canonical payload: identifies the layout (cache keys, reports)
    digest: str

    @property
    def evidence_trust(self) -> Mapping[str, Mapping[str, Any]]:
        return {"tdx": self.tee_trust} if self.tee_trust is not None else {}

    def step(self, name: str) -> StepSpec | None:
        for step in self.steps:
            if step.name == name:
                return step
        return None

    @property
    def log_required(self) -> bool:
        return any(log.required for log in self.logs)


# ---------------------------------------------------------------------------------------------
# Source loading (I/O)
# ---------------------------------------------------------------------------------------------


def _yaml_loader() -> type[Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that keeps timestamps as strings: expiry must be a plain RFC 3339 string."""

    Loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def _node_lines(
    node: Any, path: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> None:
    import yaml

    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            _node_lines(value_node, (*path, key), lines)
            # A missing/extra property is reported at its key's line.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), lines)


def parse_source_text(text: str, *, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse YAML (a superset of JSON) and record each node's line for error messages."""
    import yaml

    loader_cls = _yaml_loader()
    try:
        loader = loader_cls(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise LayoutSchemaError(f"{source}:{where}: invalid YAML/JSON: {problem}") from exc
    except RecursionError as exc:
        raise InputError(f"{source}: invalid YAML/JSON (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError(f"{source}: invalid YAML/JSON ({exc})") from exc
    lines: dict[tuple[str | int, ...], int] = {}
    if node is not None:
        try:
            _node_lines(node, (), lines)
        except RecursionError as exc:
            raise InputError(f"{source}: invalid YAML/JSON (nested too deeply)") from exc
    return data, lines


def load_source(path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Read a layout source file (YAML or JSON) with node line numbers."""
    from atlas_intoto.fileio import read_bytes

    data = read_bytes(path, what="layout source")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: layout source is not UTF-8") from exc
    return parse_source_text(text, source=str(path))


# ---------------------------------------------------------------------------------------------
# Validation (pure)
# ---------------------------------------------------------------------------------------------


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(layout_schema())


@cache
def layout_schema() -> Mapping[str, Any]:
    try:
        schema: Mapping[str, Any] = json.loads(SCHEMA_PATH.read_text())
    except (OSError, ValueError) as exc:  # pragma: no cover - broken installation
        raise InputError(f"{SCHEMA_PATH}: cannot load the layout schema") from exc
    return schema


def _format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _line_for(path: Sequence[str | int], lines: LineMap | None) -> int | None:
    if not lines:
        return None
    probe = tuple(path)
    while True:
        if probe in lines:
            return lines[probe]
        if not probe:
            return None
        probe = probe[:-1]


def _schema_fail(
    source: str, path: Sequence[str | int], message: str, lines: LineMap | None
) -> LayoutSchemaError:
    line = _line_for(path, lines)
    where = f" line {line}" if line is not None else ""
    return LayoutSchemaError(f"{source}:{where}: {_format_path(path)}: {message}")


def validate_document(doc: Any, *, source: str, lines: LineMap | None = None) -> None:
    """Validate a layout document (source or pinned payload) against the schema and semantics.

    Steps:
      1. JSON Schema (schemas/layout.schema.json); the first error (by path) is reported with
         its field path and, when known, its source line;
      2. every step's functionaries are declared, step names are unique;
      3. every artifact rule parses with in-toto's rule parser, MATCH sources are declared steps;
      4. the expiry is a real date.
    """
    import jsonschema
    from in_toto.rulelib import unpack_rule
    from securesystemslib.exceptions import FormatError as SslibFormatError

    validator = _validator()
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        error = best if best is not None else errors[0]
        message = error.message
        if error.validator == "additionalProperties" and len(message) > 160:
            message = message[:157] + "..."
        raise _schema_fail(source, list(error.absolute_path), message, lines)
    declared = set(doc["functionaries"])
    seen: set[str] = set()
    step_names = [step["name"] for step in doc["steps"]]
    for index, step in enumerate(doc["steps"]):
        path: tuple[str | int, ...] = ("steps", index)
        if step["name"] in seen:
            raise _schema_fail(source, (*path, "name"), f"duplicate step {step['name']!r}", lines)
        seen.add(step["name"])
        for fi, name in enumerate(step["functionaries"]):
            if name not in declared:
                raise _schema_fail(
                    source, (*path, "functionaries", fi), f"undeclared functionary {name!r}", lines
                )
        if step.get("threshold", 1) > len(step["functionaries"]):
            raise _schema_fail(
                source, (*path, "threshold"), "threshold exceeds the number of functionaries", lines
            )
        for kind in ("materials", "products"):
            for ri, rule in enumerate(step.get(kind, [])):
                rpath = (*path, kind, ri)
                try:
                    tokens = shlex.split(rule)
                    data = unpack_rule(tokens)
                except (ValueError, SslibFormatError) as exc:
                    raise _schema_fail(
                        source, rpath, f"invalid artifact rule: {' '.join(str(exc).split())}", lines
                    ) from exc
                src = data.get("dest_name")
                if data["rule_type"] == "match" and src not in step_names:
                    raise _schema_fail(
                        source, rpath, f"MATCH refers to unknown step {src!r}", lines
                    )
    _expiry_seconds(doc["expires"], source=source)


def _expiry_seconds(expires: str, *, source: str) -> int:
    try:
        return calendar.timegm(time.strptime(expires, _EXPIRES_FORMAT))
    except ValueError as exc:
        raise LayoutSchemaError(f"{source}: expires: not a valid date: {expires!r}") from exc


# ---------------------------------------------------------------------------------------------
# Pinning (I/O: reads the referenced key files)
# ---------------------------------------------------------------------------------------------


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


def _pin_key(pem: str, *, source: str) -> dict[str, str]:
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


def resolve_source(doc: Mapping[str, Any], *, base_dir: Path) -> dict[str, Any]:
    """The pinned layout document: every key/certificate path replaced by its content.

    ``doc`` must already be valid (:func:`validate_document`). Paths are relative to ``base_dir``
    (the directory of the source file).
    """
    pinned: dict[str, Any] = json.loads(json.dumps(doc))
    pinned["functionaries"] = {
        name: _pin_key(
            _read_pem(base_dir, ref, field_name=f"functionary {name} key"),
            source=_ref_source(base_dir, ref, f"functionaries.{name}"),
        )
        for name, ref in doc["functionaries"].items()
    }
    trust = pinned.get("trust") or {}
    for index, log in enumerate(trust.get("logs", [])):
        pem = _read_pem(base_dir, log["key"], field_name=f"trust.logs[{index}].key")
        log["key"] = _pin_key(
            pem, source=_ref_source(base_dir, log["key"], f"trust.logs[{index}].key")
        )
        log.setdefault("required", True)
    tee = trust.get("tee")
    if tee is not None:
        tee["roots"] = [
            root
            if root == "intel"
            else {"pem": _read_cert(base_dir, root, field_name=f"trust.tee.roots[{i}]")}
            for i, root in enumerate(tee.get("roots", []))
        ]
    c2pa = trust.get("c2pa")
    if c2pa is not None:
        c2pa["anchors"] = [
            {"pem": _read_cert(base_dir, anchor, field_name=f"trust.c2pa.anchors[{i}]")}
            for i, anchor in enumerate(c2pa.get("anchors", []))
        ]
    return pinned


def load_and_pin(path: Path) -> dict[str, Any]:
    """Read, validate and pin a layout source file (``layout sign`` without the signing)."""
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


# ---------------------------------------------------------------------------------------------
# Parsing the pinned document (pure)
# ---------------------------------------------------------------------------------------------


def _require_pinned(ref: Any, *, source: str, field_name: str) -> str:
    if not isinstance(ref, Mapping) or "pem" not in ref:
        raise LayoutSchemaError(f"{source}: {field_name}: not pinned (a path; sign the layout)")
    return str(ref["pem"])


def _pinned_key_ok(pem: str, *, source: str, field_name: str) -> None:
    try:
        _pin_key(pem, source=field_name)
    except KeyLoadError as exc:
        raise LayoutSchemaError(f"{source}: {exc}") from exc


def _pinned_certs_ok(pem: str, *, source: str, field_name: str) -> str:
    # Checked here so that verification never hands a key or broken PEM to the TEE/C2PA
    # libraries, whose errors are Rust debug text.
    try:
        return check_certificates_pem(pem, source=field_name)
    except KeyLoadError as exc:
        raise LayoutSchemaError(f"{source}: {exc}") from exc


def parse_layout(doc: Any, *, source: str = "layout") -> Layout:
    """Parse a pinned layout document into a :class:`Layout` (schema, semantics, pinned keys).

    Steps:
      1. :func:`validate_document`;
      2. every key reference is pinned and every pinned key id equals the key id computed
         from its PEM (so a payload cannot claim a key id for another key);
      3. pinned functionary and log keys are SPKI public keys, pinned TEE roots and C2PA
         anchors are X.509 certificates.
    """
    from atlas_intoto.errors import KeyLoadError as _KeyLoadError

    validate_document(doc, source=source)
    functionaries: dict[str, FunctionaryKey] = {}
    for name, ref in doc["functionaries"].items():
        pem = _require_pinned(ref, source=source, field_name=f"functionaries.{name}")
        try:
            computed = _pin_key(pem, source=f"functionaries.{name}")["keyid"]
        except _KeyLoadError as exc:
            raise LayoutSchemaError(f"{source}: {exc}") from exc
        if ref.get("keyid", computed) != computed:
            raise LayoutSchemaError(
                f"{source}: functionaries.{name}.keyid does not match the pinned key"
            )
        functionaries[name] = FunctionaryKey(name=name, keyid=computed, pem=pem)
    trust = doc.get("trust") or {}
    logs = []
    for index, log in enumerate(trust.get("logs", [])):
        pem = _require_pinned(log["key"], source=source, field_name=f"trust.logs[{index}].key")
        _pinned_key_ok(pem, source=source, field_name=f"trust.logs[{index}].key")
        logs.append(
            LogTrust(
                pem=pem,
                required=bool(log.get("required", True)),
                url=log.get("url"),
                origin=log.get("origin"),
            )
        )
    tee = trust.get("tee")
    tee_roots: list[str] = []
    if tee is not None:
        for index, root in enumerate(tee.get("roots", [])):
            field_name = f"trust.tee.roots[{index}]"
            tee_roots.append(
                "intel"
                if root == "intel"
                else _pinned_certs_ok(
                    _require_pinned(root, source=source, field_name=field_name),
                    source=source,
                    field_name=field_name,
                )
            )
    anchors = [
        _pinned_certs_ok(
            _require_pinned(anchor, source=source, field_name=f"trust.c2pa.anchors[{index}]"),
            source=source,
            field_name=f"trust.c2pa.anchors[{index}]",
        )
        for index, anchor in enumerate((trust.get("c2pa") or {}).get("anchors", []))
    ]
    steps = tuple(
        StepSpec(
            name=step["name"],
            functionaries=tuple(step["functionaries"]),
            threshold=int(step.get("threshold", 1)),
            expected_command=(
                tuple(step["expected_command"]) if "expected_command" in step else None
            ),
            materials=tuple(tuple(shlex.split(rule)) for rule in step.get("materials", [])),
            products=tuple(tuple(shlex.split(rule)) for rule in step.get("products", [])),
            tee=step.get("tee"),
            c2pa_required=bool((step.get("c2pa") or {}).get("required", False)),
        )
        for step in doc["steps"]
    )
    return Layout(
        document=doc,
        expires=doc["expires"],
        expires_at=_expiry_seconds(doc["expires"], source=source),
        readme=doc.get("readme", ""),
        functionaries=functionaries,
        steps=steps,
        logs=tuple(logs),
        tee_roots=tuple(tee_roots),
        tee_trust=tee,
        c2pa_anchors=tuple(anchors),
        digest=hashlib.sha256(rfc8785.dumps(doc)).hexdigest(),
    )


# ---------------------------------------------------------------------------------------------
# Signing and verifying the DSSE envelope
# ---------------------------------------------------------------------------------------------


def sign_layout(doc: Mapping[str, Any], signers: Sequence[Signer]) -> bytes:
    """A DSSE envelope (JSON bytes) over the canonical pinned document, one signature per owner."""
    from securesystemslib.dsse import Envelope

    if not signers:
        raise InputError("layout sign: at least one owner key is required")
    parse_layout(doc)
    envelope = Envelope(
        payload=rfc8785.dumps(dict(doc)), payload_type=LAYOUT_PAYLOAD_TYPE, signatures={}
    )
    for signer in signers:
        envelope.sign(signer)
    return (json.dumps(envelope.to_dict(), indent=2) + "\n").encode()


def _parse_envelope(envelope_doc: Any, *, source: str) -> tuple[bytes, str, list[dict[str, str]]]:
    if not isinstance(envelope_doc, Mapping):
        raise LayoutSignatureError(f"{source}: signed layout is not a DSSE envelope object")
    try:
        payload = base64.b64decode(envelope_doc["payload"], validate=True)
        payload_type = envelope_doc["payloadType"]
        signatures = envelope_doc["signatures"]
        if not isinstance(payload_type, str) or not isinstance(signatures, list):
            raise TypeError("payloadType/signatures")
        sigs = [{"keyid": str(s.get("keyid", "")), "sig": str(s["sig"])} for s in signatures]
    except (KeyError, TypeError, AttributeError, binascii.Error, ValueError) as exc:
        raise LayoutSignatureError(f"{source}: malformed DSSE envelope ({exc})") from exc
    return payload, payload_type, sigs


def _pae(payload_type: str, payload: bytes) -> bytes:
    encoded = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(encoded), encoded, len(payload), payload)


def verify_signed_layout(
    envelope_doc: Any, *, layout_keys: Sequence[Key], now: int, source: str = "layout"
) -> Layout:
    """Verify a signed layout and return it.

    Steps (DESIGN.md §4.1):
      1. the envelope is DSSE with payload type :data:`LAYOUT_PAYLOAD_TYPE`;
      2. *every* given owner key has a valid signature over the PAE (in-toto semantics for
         multiple layout keys); no owner key at all is an error;
      3. the payload is JSON that satisfies the schema, with every anchor pinned;
      4. ``now`` is before the expiry.
    """
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import Signature

    payload, payload_type, sigs = _parse_envelope(envelope_doc, source=source)
    if payload_type != LAYOUT_PAYLOAD_TYPE:
        raise LayoutSignatureError(
            f"{source}: payloadType {payload_type!r} is not {LAYOUT_PAYLOAD_TYPE}"
        )
    if not layout_keys:
        raise LayoutSignatureError(f"{source}: no layout owner key given")
    pae = _pae(payload_type, payload)
    for key in layout_keys:
        candidates = [s for s in sigs if s["keyid"] == key.keyid] or sigs
        ok = False
        for sig in candidates:
            try:
                raw = base64.b64decode(sig["sig"], validate=True)
                key.verify_signature(Signature(keyid=key.keyid, sig=raw.hex()), pae)
                ok = True
                break
            except (UnverifiedSignatureError, VerificationError, binascii.Error, ValueError):
                continue
        if not ok:
            raise LayoutSignatureError(
                f"{source}: no valid signature by layout key {key.keyid[:16]}"
            )
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # also huge integers, deep nesting
        raise LayoutSchemaError(f"{source}: layout payload is not JSON") from exc
    layout = parse_layout(doc, source=source)
    if now >= layout.expires_at:
        raise LayoutExpiredError(f"{source}: layout expired at {layout.expires}")
    return layout


def layout_payload(envelope_doc: Any, *, source: str = "layout") -> Layout:
    """The layout inside a signed envelope *without* verifying signatures or expiry (inspect).

    The payload type is checked: a link or other DSSE envelope is not a layout.
    """
    payload, payload_type, _ = _parse_envelope(envelope_doc, source=source)
    if payload_type != LAYOUT_PAYLOAD_TYPE:
        raise LayoutSignatureError(
            f"{source}: payloadType {payload_type!r} is not {LAYOUT_PAYLOAD_TYPE}"
        )
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # also huge integers, deep nesting
        raise LayoutSchemaError(f"{source}: layout payload is not JSON") from exc
    return parse_layout(doc, source=source)


def load_signed_layout(path: Path) -> tuple[Any, Layout]:
    """Read a signed layout file: its envelope document and (unverified) layout.

    Anything that is not a signed layout (a link, a source, a wrong payload type) is an
    :class:`InputError` naming the file: the user gave the wrong file (exit 2).
    """
    from atlas_intoto.errors import LayoutError
    from atlas_intoto.fileio import read_json

    envelope = read_json(path, what="signed layout")
    try:
        return envelope, layout_payload(envelope, source=str(path))
    except LayoutError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise InputError(f"{path}: not a signed layout ({reason})") from exc


# ---------------------------------------------------------------------------------------------
# Export as a plain in-toto layout
# ---------------------------------------------------------------------------------------------


def to_intoto_layout_dict(layout: Layout) -> dict[str, Any]:
    """The plain in-toto v0.9 layout (``_type: layout``) for this layout's steps and keys."""
    from securesystemslib.signer import SSlibKey

    from atlas_intoto.keys import load_public_key_pem, sslib_key

    keys: dict[str, Any] = {}
    by_name: dict[str, str] = {}
    for name, fk in layout.functionaries.items():
        key: SSlibKey = sslib_key(load_public_key_pem(fk.pem.encode(), source=name))
        keys[key.keyid] = {"keyid": key.keyid, **key.to_dict()}
        by_name[name] = key.keyid
    steps = [
        {
            "_type": "step",
            "name": step.name,
            "threshold": step.threshold,
            "pubkeys": [by_name[name] for name in step.functionaries],
            "expected_command": list(step.expected_command or []),
            "expected_materials": [list(rule) for rule in step.materials],
            "expected_products": [list(rule) for rule in step.products],
        }
        for step in layout.steps
    ]
    return {
        "_type": "layout",
        "expires": layout.expires,
        "readme": layout.readme,
        "keys": keys,
        "steps": steps,
        "inspect": [],
    }


def export_intoto(layout: Layout, signers: Sequence[Signer] = ()) -> bytes:
    """The in-toto layout as a file upstream ``in-toto-verify`` loads.

    With owner signers: a DSSE envelope (payload type application/vnd.in-toto+json), ready for
    ``in-toto-verify --layout F --verification-keys OWNER.pub``. Without: an unsigned Metablock
    (``{"signed": ..., "signatures": []}``) that ``in-toto-sign`` can sign later.
    """
    from in_toto.models.layout import Layout as InTotoLayout
    from in_toto.models.metadata import Envelope, Metablock

    intoto = InTotoLayout.read(to_intoto_layout_dict(layout))
    intoto.validate()
    if not signers:
        return (
            json.dumps(Metablock(signed=intoto).to_dict(), indent=1, sort_keys=True) + "\n"
        ).encode()
    envelope = Envelope.from_signable(intoto)
    for signer in signers:
        envelope.create_signature(signer)
    return (json.dumps(envelope.to_dict(), indent=1) + "\n").encode()
