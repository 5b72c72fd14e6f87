"""in-toto Statement v1 (pure): a step as a Link v0.3 predicate, and reading a Statement back
into the fields verification uses (name, materials, products, command, environment).

A step's Statement (docs/formats.md)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<product path>", "digest": {"sha256": "<hex>"}}, ...],
     "predicateType": "https://in-toto.io/attestation/link/v0.3",
     "predicate": {"name": "<step>", "command": [...],
                   "materials": [{"name": "<path>", "digest": {...}}, ...],
                   "byproducts": {...}, "environment": {"atlas-intoto": <evidence>}}}

The subjects are the products; an in-toto v0.9 link and this Statement of the same step hold the
same fields, so they have the same binding digest B (:mod:`atlas_intoto.binding`) and carry the
same TEE quote. A SLSA Provenance v1 Statement is read as a build-like step:
``externalParameters.step`` is the step name, ``externalParameters.command`` the command,
``resolvedDependencies`` the materials, the subjects the products and
``internalParameters["atlas-intoto"]`` the evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from atlas_intoto import dsse
from atlas_intoto.errors import FormatError

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

#: ``_type`` of in-toto Statement v1.
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: in-toto Link predicate v0.3.
LINK_PREDICATE = "https://in-toto.io/attestation/link/v0.3"
#: SLSA Provenance v1.
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
#: OpenSSF model signatures (:mod:`atlas_intoto.oms`): the model directory's files as products.
OMS_PREDICATE = "https://model_signing/signature/v1.0"
#: Our name for the predicate type of an in-toto v0.9 link (which has none); layouts may require
#: it like any other predicate type.
LINK_V09 = "https://in-toto.io/Link/v0.9"
#: DSSE payloadType of Statements (and of v0.9 links).
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: Predicate types a step's attestation may have.
STEP_PREDICATES = (LINK_V09, LINK_PREDICATE, SLSA_PROVENANCE, OMS_PREDICATE)

ArtifactDigests = dict[str, dict[str, str]]

__all__ = [
    "LINK_PREDICATE",
    "LINK_V09",
    "SLSA_PROVENANCE",
    "STATEMENT_TYPE",
    "STEP_PREDICATES",
    "descriptors",
    "link_statement",
    "sign_statement",
    "statement_fields",
]


def descriptors(artifacts: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """ResourceDescriptors ``{name, digest}`` of ``{path: {algorithm: hex}}``, sorted by path."""
    return [{"name": path, "digest": dict(artifacts[path])} for path in sorted(artifacts)]


def link_statement(
    *,
    name: str,
    materials: Mapping[str, Mapping[str, str]],
    products: Mapping[str, Mapping[str, str]],
    command: Sequence[str],
    byproducts: Mapping[str, Any],
    environment: Mapping[str, Any],
) -> dict[str, Any]:
    """The Statement v1 (Link v0.3 predicate) of a step: subjects = products."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": descriptors(products),
        "predicateType": LINK_PREDICATE,
        "predicate": {
            "name": name,
            "command": list(command),
            "materials": descriptors(materials),
            "byproducts": dict(byproducts),
            "environment": dict(environment),
        },
    }


def sign_statement(statement: Mapping[str, Any], signer: Signer) -> bytes:
    """Sign ``statement`` in a DSSE envelope; return the envelope bytes (sorted-key JSON, the
    form :mod:`atlas_intoto.sigstore_bundle` rebuilds from a Sigstore bundle)."""
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    envelope = dsse.sign(PAYLOAD_TYPE, payload, [signer])
    return json.dumps(envelope.to_dict(), sort_keys=True).encode()


# ---------------------------------------------------------------------------------------------
# Reading (after the signature verified)
# ---------------------------------------------------------------------------------------------


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FormatError(f"{where}: must be an object")
    return value


def _artifacts(value: Any, where: str) -> ArtifactDigests:
    """``{path: digests}`` of a list of ResourceDescriptors (each with a name and a digest)."""
    if not isinstance(value, list):
        raise FormatError(f"{where}: must be a list of resource descriptors")
    out: ArtifactDigests = {}
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        item = _object(item, here)
        name, digest = item.get("name"), item.get("digest")
        if not isinstance(name, str) or not name:
            raise FormatError(f"{here}.name: must be a non-empty string")
        if not isinstance(digest, Mapping) or not digest:
            raise FormatError(f"{here}.digest: must be a non-empty object")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items()):
            raise FormatError(f"{here}.digest: algorithms and values must be strings")
        if name in out:
            raise FormatError(f"{here}.name: {name!r} is listed twice")
        out[name] = dict(digest)
    return out


def _command(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
        raise FormatError(f"{where}: must be a list of strings")
    return list(value)


def _link_predicate(predicate: Mapping[str, Any], where: str) -> dict[str, Any]:
    name = predicate.get("name")
    if not isinstance(name, str) or not name:
        raise FormatError(f"{where}.name: must be a non-empty string")
    return {
        "name": name,
        "materials": _artifacts(predicate.get("materials", []), f"{where}.materials"),
        "command": _command(predicate.get("command", []), f"{where}.command"),
        "byproducts": dict(_object(predicate.get("byproducts", {}), f"{where}.byproducts")),
        "environment": dict(_object(predicate.get("environment", {}), f"{where}.environment")),
    }


def _provenance_predicate(predicate: Mapping[str, Any], where: str) -> dict[str, Any]:
    definition = _object(predicate.get("buildDefinition"), f"{where}.buildDefinition")
    here = f"{where}.buildDefinition"
    external = _object(definition.get("externalParameters"), f"{here}.externalParameters")
    internal = _object(definition.get("internalParameters", {}), f"{here}.internalParameters")
    name = external.get("step")
    if not isinstance(name, str) or not name:
        raise FormatError(f"{here}.externalParameters.step: must be a non-empty string")
    evidence = internal.get("atlas-intoto")
    return {
        "name": name,
        "materials": _artifacts(
            definition.get("resolvedDependencies", []), f"{here}.resolvedDependencies"
        ),
        "command": _command(external.get("command", []), f"{here}.externalParameters.command"),
        "byproducts": {},
        "environment": {} if evidence is None else {"atlas-intoto": evidence},
    }


def statement_fields(data: Any, *, source: str) -> dict[str, Any]:
    """The step fields of a decoded Statement v1 payload (Link v0.3, SLSA Provenance v1 or an
    OMS model signature, whose ``name`` is empty: it names no step):
    ``name, materials, products, command, byproducts, environment, predicate_type``.

    Raises :class:`FormatError` naming ``source`` and the field.
    """
    doc = _object(data, source)
    if doc.get("_type") != STATEMENT_TYPE:
        raise FormatError(f"{source}: _type must be {STATEMENT_TYPE!r}")
    predicate_type = doc.get("predicateType")
    if predicate_type == OMS_PREDICATE:
        from atlas_intoto.oms import oms_step_fields

        return oms_step_fields(doc, source=source)
    predicate = _object(doc.get("predicate"), f"{source}: predicate")
    if predicate_type == LINK_PREDICATE:
        fields = _link_predicate(predicate, f"{source}: predicate")
    elif predicate_type == SLSA_PROVENANCE:
        fields = _provenance_predicate(predicate, f"{source}: predicate")
    else:
        raise FormatError(
            f"{source}: predicateType {predicate_type!r} is not a step attestation "
            f"(expected {LINK_PREDICATE} or {SLSA_PROVENANCE})"
        )
    fields["products"] = _artifacts(doc.get("subject"), f"{source}: subject")
    fields["predicate_type"] = str(predicate_type)
    return fields
