"""The layout model: a parsed, pinned layout — what a signed layout's payload says.

:func:`parse_layout` (also :meth:`Layout.from_dict`) checks a pinned document and builds the
frozen model; ``to_dict`` gives each part's document form back. Pure.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from atlas_intoto.errors import KeyLoadError, LayoutSchemaError
from atlas_intoto.layout.evidence import TDX, kind_blocks, kind_path
from atlas_intoto.layout.identity import (
    CaTrust,
    FunctionaryIdentity,
    is_identity,
    parse_ca,
    parse_identities,
)
from atlas_intoto.layout.pinning import check_certificates_pem, pin_key
from atlas_intoto.layout.schema import expiry_seconds, validate_document

__all__ = ["FunctionaryKey", "Layout", "LogTrust", "StepSpec", "parse_layout"]


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass(frozen=True, kw_only=True)
class FunctionaryKey:
    """A functionary's pinned public key: its name in the layout, in-toto key id and PEM."""

    name: str
    keyid: str
    pem: str

    def to_dict(self) -> dict[str, str]:
        """The pinned key reference ``{keyid, pem}`` (``functionaries.NAME`` of the document)."""
        return {"keyid": self.keyid, "pem": self.pem}


@dataclass(frozen=True, kw_only=True)
class LogTrust:
    """A pinned transparency-log key (``trust.logs[]``); ``required``: entries must be included."""

    pem: str
    required: bool = True
    url: str | None = None
    origin: str | None = None
    #: C2SP witnesses (name, Ed25519 PEM) and how many must cosign a checkpoint (0: none)
    witnesses: tuple[tuple[str, str], ...] = ()
    witness_threshold: int = 0
    #: which entries this log may hold for a link: ``full`` (the envelope; the default),
    #: ``digest`` (only a digest signed by the functionary) or ``any``
    visibility: str = "full"

    def to_dict(self) -> dict[str, Any]:
        """The ``trust.logs[]`` entry (the key as ``{pem}``; parsing recomputes its key id)."""
        out: dict[str, Any] = {"key": {"pem": self.pem}, "required": self.required}
        if self.url is not None:
            out["url"] = self.url
        if self.origin is not None:
            out["origin"] = self.origin
        if self.witnesses:
            out["witnesses"] = {
                "threshold": self.witness_threshold,
                "keys": [{"name": n, "key": {"pem": pem}} for n, pem in self.witnesses],
            }
        if self.visibility != "full":
            out["visibility"] = self.visibility
        return out


@dataclass(frozen=True, kw_only=True)
class StepSpec:
    """One step of a layout: who may perform it, its command, artifact rules and evidence policy."""

    name: str
    functionaries: tuple[str, ...]
    threshold: int
    expected_command: tuple[str, ...] | None
    #: how a link's command is held against ``expected_command``: exact, prefix or none
    command_match: str = "exact"
    #: in-toto artifact rules as token lists (what in_toto.rulelib expects)
    materials: tuple[tuple[str, ...], ...]
    products: tuple[tuple[str, ...], ...]
    #: evidence kind → this step's policy for it (``tee`` is kind ``tdx``); the kind checks
    #: its policy when verifying
    evidence: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    c2pa_required: bool
    #: the predicate type the step's attestations must have (None: any step attestation)
    predicate_type: str | None = None

    def match_sources(self) -> tuple[str, ...]:
        """Steps whose artifacts this step's MATCH rules refer to (its inputs' producers)."""
        sources: list[str] = []
        for rule in (*self.materials, *self.products):
            if rule and rule[0] == "MATCH" and "FROM" in rule:
                src = rule[rule.index("FROM") + 1]
                if src not in sources:
                    sources.append(src)
        return tuple(sources)

    def command_matches(self, command: Sequence[str]) -> bool:
        """Whether a link's ``command`` satisfies ``expected_command`` under ``command_match``:
        ``exact`` (equal argv lists), ``prefix`` (the expected argv starts the command) or
        ``none`` (not checked). Without ``expected_command`` every command matches."""
        if self.expected_command is None or self.command_match == "none":
            return True
        actual, expected = list(command), list(self.expected_command)
        if self.command_match == "prefix":
            return actual[: len(expected)] == expected
        return actual == expected

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StepSpec:
        """A step from its document form (one schema-valid ``steps[]`` entry)."""
        return cls(
            name=doc["name"],
            functionaries=tuple(doc["functionaries"]),
            threshold=int(doc.get("threshold", 1)),
            expected_command=(
                tuple(doc["expected_command"]) if "expected_command" in doc else None
            ),
            command_match=str(doc.get("command_match", "exact")),
            materials=tuple(tuple(shlex.split(rule)) for rule in doc.get("materials", [])),
            products=tuple(tuple(shlex.split(rule)) for rule in doc.get("products", [])),
            evidence=kind_blocks(doc),
            c2pa_required=bool((doc.get("c2pa") or {}).get("required", False)),
            predicate_type=doc.get("predicate_type"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``steps[]`` document form; :meth:`from_dict` of it gives an equal step.

        Kind ``tdx`` is written as ``tee`` (the spelling every verifier reads), other kinds
        under ``evidence``; rules are re-joined from their tokens.
        """
        out: dict[str, Any] = {
            "name": self.name,
            "functionaries": list(self.functionaries),
            "threshold": self.threshold,
        }
        if self.expected_command is not None:
            out["expected_command"] = list(self.expected_command)
        if self.command_match != "exact":
            out["command_match"] = self.command_match
        if self.materials:
            out["materials"] = [shlex.join(rule) for rule in self.materials]
        if self.products:
            out["products"] = [shlex.join(rule) for rule in self.products]
        if TDX in self.evidence:
            out["tee"] = _json_copy(self.evidence[TDX])
        others = {kind: _json_copy(p) for kind, p in self.evidence.items() if kind != TDX}
        if others:
            out["evidence"] = others
        if self.c2pa_required:
            out["c2pa"] = {"required": True}
        if self.predicate_type is not None:
            out["predicate_type"] = self.predicate_type
        return out


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
    #: 'intel' or PEM text of each pinned TDX root (the ``tdx`` trust block's ``roots``)
    tee_roots: tuple[str, ...]
    #: evidence kind → the layout's trust block for it (``trust.tee`` is kind ``tdx``)
    evidence_trust: Mapping[str, Mapping[str, Any]]
    c2pa_anchors: tuple[str, ...]
    #: SHA-256 hex of the canonical payload: identifies the layout (cache keys, reports)
    digest: str
    #: PEM of each pinned RFC 3161 TSA root (``trust.tsa.roots``)
    tsa_roots: tuple[str, ...] = ()
    #: digest algorithms every link must record for every artifact (``digests``)
    digests: tuple[str, ...] = ("sha256",)
    #: chain order only from upstream records, never from log times (``require_upstream``)
    require_upstream: bool = False
    #: identity functionaries (OIDC issuer + subject), beside the key functionaries
    identities: Mapping[str, FunctionaryIdentity] = field(default_factory=dict)
    #: the CAs and CT log keys identity functionaries' certificates chain to (``trust.ca``)
    ca: CaTrust | None = None
    #: artifact patterns recorded as salted commitments (``private``; docs/confidentiality.md)
    private: tuple[str, ...] = ()

    def step(self, name: str) -> StepSpec | None:
        """The step called ``name``, or None."""
        for step in self.steps:
            if step.name == name:
                return step
        return None

    @property
    def log_required(self) -> bool:
        """Whether some pinned log requires its entries to be included."""
        return any(log.required for log in self.logs)

    def to_dict(self) -> dict[str, Any]:
        """The pinned document (a copy): what :func:`~atlas_intoto.layout.sign_layout` signs."""
        copy: dict[str, Any] = _json_copy(self.document)
        return copy

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "layout") -> Layout:
        """:func:`parse_layout`: the layout of a pinned document."""
        return parse_layout(doc, source=source)


def _require_pinned(ref: Any, *, source: str, field_name: str) -> str:
    if not isinstance(ref, Mapping) or "pem" not in ref:
        raise LayoutSchemaError(f"{source}: {field_name}: not pinned (a path; sign the layout)")
    return str(ref["pem"])


def _pinned_certs(ref: Any, *, source: str, field_name: str) -> str:
    pem = _require_pinned(ref, source=source, field_name=field_name)
    # Checked here so that verification never hands a key or broken PEM to the TEE/C2PA
    # libraries, whose errors are Rust debug text.
    try:
        return check_certificates_pem(pem, source=field_name)
    except KeyLoadError as exc:
        raise LayoutSchemaError(f"{source}: {exc}") from exc


def _parse_functionaries(doc: Mapping[str, Any], *, source: str) -> dict[str, FunctionaryKey]:
    functionaries: dict[str, FunctionaryKey] = {}
    for name, ref in doc["functionaries"].items():
        if is_identity(ref):
            continue
        pem = _require_pinned(ref, source=source, field_name=f"functionaries.{name}")
        try:
            computed = pin_key(pem, source=f"functionaries.{name}")["keyid"]
        except KeyLoadError as exc:
            raise LayoutSchemaError(f"{source}: {exc}") from exc
        if ref.get("keyid", computed) != computed:
            raise LayoutSchemaError(
                f"{source}: functionaries.{name}.keyid does not match the pinned key"
            )
        functionaries[name] = FunctionaryKey(name=name, keyid=computed, pem=pem)
    return functionaries


def _parse_logs(trust: Mapping[str, Any], *, source: str) -> tuple[LogTrust, ...]:
    logs = []
    for index, log in enumerate(trust.get("logs", [])):
        field_name = f"trust.logs[{index}].key"
        pem = _require_pinned(log["key"], source=source, field_name=field_name)
        try:
            pin_key(pem, source=field_name)
        except KeyLoadError as exc:
            raise LayoutSchemaError(f"{source}: {exc}") from exc
        witnesses, threshold = _parse_witnesses(log, index, source=source)
        logs.append(
            LogTrust(
                pem=pem,
                required=bool(log.get("required", True)),
                url=log.get("url"),
                origin=log.get("origin"),
                witnesses=witnesses,
                witness_threshold=threshold,
                visibility=str(log.get("visibility", "full")),
            )
        )
    return tuple(logs)


def _parse_witnesses(
    log: Mapping[str, Any], index: int, *, source: str
) -> tuple[tuple[tuple[str, str], ...], int]:
    # The witness key rules (Ed25519, a note name) live with the cosignatures they check.
    from atlas_intoto.errors import CheckpointError
    from atlas_intoto.tlog.cosignature import witness_key

    block = log.get("witnesses")
    if not block:
        return (), 0
    where = f"trust.logs[{index}].witnesses"
    witnesses: list[tuple[str, str]] = []
    for w, item in enumerate(block["keys"]):
        pem = _require_pinned(item["key"], source=source, field_name=f"{where}.keys[{w}].key")
        try:
            witness_key(str(item["name"]), pem)
        except CheckpointError as exc:
            raise LayoutSchemaError(f"{source}: {where}.keys[{w}]: {exc}") from exc
        witnesses.append((str(item["name"]), pem))
    names = [n for n, _ in witnesses]
    if len(set(names)) != len(names):
        raise LayoutSchemaError(f"{source}: {where}.keys: witness names must be distinct")
    threshold = int(block["threshold"])
    if threshold > len(witnesses):
        raise LayoutSchemaError(
            f"{source}: {where}.threshold: {threshold} exceeds the {len(witnesses)} witnesses"
        )
    return tuple(witnesses), threshold


def _parse_tdx_roots(trust: Mapping[str, Any], *, source: str) -> tuple[str, ...]:
    tdx = kind_blocks(trust).get(TDX) or {}
    prefix = ".".join(("trust", *kind_path(trust, TDX)))
    return tuple(
        "intel"
        if root == "intel"
        else _pinned_certs(root, source=source, field_name=f"{prefix}.roots[{index}]")
        for index, root in enumerate(tdx.get("roots", []))
    )


def parse_layout(doc: Any, *, source: str = "layout") -> Layout:
    """Parse a pinned layout document into a :class:`Layout` (schema, semantics, pinned keys).

    Steps:
      1. :func:`~atlas_intoto.layout.validate_document`;
      2. every key reference is pinned and every pinned key id equals the key id computed
         from its PEM (so a payload cannot claim a key id for another key);
      3. pinned functionary and log keys are SPKI public keys, pinned TDX roots and C2PA
         anchors are X.509 certificates;
      4. identity functionaries name an issuer and a subject (or a pattern that compiles)
         and come with ``trust.ca`` (:mod:`atlas_intoto.layout.identity`), whose roots are
         certificates and CT keys SPKI public keys;
      5. each step's and the trust section's evidence blocks are mapped by kind (``tee`` is
         kind ``tdx``); the kinds check their own blocks when verifying.
    """
    validate_document(doc, source=source)
    # checked in this order so that a document with several faults reports the same one first
    functionaries = _parse_functionaries(doc, source=source)
    identities = parse_identities(doc, source=source)
    trust = doc.get("trust") or {}
    logs = _parse_logs(trust, source=source)
    tee_roots = _parse_tdx_roots(trust, source=source)
    anchors = tuple(
        _pinned_certs(anchor, source=source, field_name=f"trust.c2pa.anchors[{index}]")
        for index, anchor in enumerate((trust.get("c2pa") or {}).get("anchors", []))
    )
    return Layout(
        document=doc,
        expires=doc["expires"],
        expires_at=expiry_seconds(doc["expires"], source=source),
        readme=doc.get("readme", ""),
        functionaries=functionaries,
        steps=tuple(StepSpec.from_dict(step) for step in doc["steps"]),
        logs=logs,
        tee_roots=tee_roots,
        evidence_trust=kind_blocks(trust),
        c2pa_anchors=anchors,
        digest=hashlib.sha256(rfc8785.dumps(doc)).hexdigest(),
        tsa_roots=tuple(
            _pinned_certs(root, source=source, field_name=f"trust.tsa.roots[{index}]")
            for index, root in enumerate((trust.get("tsa") or {}).get("roots", []))
        ),
        digests=tuple(doc.get("digests", ("sha256",))),
        require_upstream=bool(doc.get("require_upstream", False)),
        identities=identities,
        ca=parse_ca(trust, source=source),
        private=tuple(str(p) for p in doc.get("private", ())),
    )
