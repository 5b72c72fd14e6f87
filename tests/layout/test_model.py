"""The layout model: parsing a pinned document (pinned, consistent, right kinds of PEM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from layout_helpers import NOW, SOURCE, pub_key, resign

from atlas_intoto.errors import InputError, LayoutSchemaError
from atlas_intoto.layout import (
    Layout,
    LogTrust,
    StepSpec,
    load_and_pin,
    parse_layout,
    verify_signed_layout,
)


def test_signed_payload_must_be_pinned_and_consistent(project: Path) -> None:
    pinned = load_and_pin(project / "layout.yaml")
    owner = [pub_key(project, "owner")]
    unpinned = json.loads(json.dumps(pinned))
    unpinned["functionaries"]["trainer"] = "keys/trainer.pub"
    with pytest.raises(LayoutSchemaError, match=r"functionaries\.trainer: not pinned"):
        verify_signed_layout(resign(project, unpinned), layout_keys=owner, now=NOW)
    lying = json.loads(json.dumps(pinned))
    lying["functionaries"]["trainer"]["keyid"] = pinned["functionaries"]["data-eng"]["keyid"]
    with pytest.raises(LayoutSchemaError, match="keyid does not match"):
        verify_signed_layout(resign(project, lying), layout_keys=owner, now=NOW)
    bad_schema = json.loads(json.dumps(pinned))
    bad_schema["steps"] = []
    with pytest.raises(LayoutSchemaError, match="steps"):
        verify_signed_layout(resign(project, bad_schema), layout_keys=owner, now=NOW)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("trust", "tee", "roots", 1), r"trust\.tee\.roots\[1\]: not a PEM X\.509 certificate"),
        (("trust", "c2pa", "anchors", 0), r"c2pa\.anchors\[0\]: not a PEM X\.509 certificate"),
        (("trust", "logs", 0, "key"), r"trust\.logs\[0\]\.key: not a PEM public key"),
    ],
)
def test_signed_layout_with_wrong_kind_of_pem_is_clear_schema_error(
    project: Path, path: tuple[str | int, ...], field: str
) -> None:
    pinned = load_and_pin(project / "layout.yaml")
    node: object = pinned
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    wrong = (project / "keys" / "log.pub").read_text()
    if path[-1] == "key":
        wrong = pinned["trust"]["c2pa"]["anchors"][0]["pem"]
        node[path[-1]] = {"keyid": "0" * 64, "pem": wrong}  # type: ignore[index]
    else:
        node[path[-1]] = {"pem": wrong}  # type: ignore[index]
    envelope = resign(project, pinned)
    with pytest.raises(LayoutSchemaError, match=field) as info:
        verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)
    assert "Error" not in str(info.value) and "\n" not in str(info.value)


# --- evidence kinds ---------------------------------------------------------------------------


def _pinned(project: Path, text: str) -> dict[str, Any]:
    (project / "layout.yaml").write_text(text)
    return load_and_pin(project / "layout.yaml")


def test_tee_blocks_are_kind_tdx(project: Path) -> None:
    pinned = load_and_pin(project / "layout.yaml")
    layout = parse_layout(pinned)
    prepare, train = layout.steps
    assert prepare.evidence == {"tdx": {"required": True}}
    assert train.evidence == {}
    assert layout.evidence_trust == {"tdx": pinned["trust"]["tee"]}
    assert layout.evidence_trust["tdx"]["roots"][0] == "intel"
    assert layout.tee_roots[0] == "intel" and "CERTIFICATE" in layout.tee_roots[1]


def test_evidence_blocks_of_any_kind_are_parsed(project: Path) -> None:
    text = SOURCE.replace(
        "    tee: {required: true}\n",
        "    tee: {required: true}\n    evidence: {fake: {level: 3, allow: [a, b]}}\n",
    ).replace(
        "  c2pa: {anchors: [keys/ca.crt]}\n",
        "  c2pa: {anchors: [keys/ca.crt]}\n  evidence: {fake: {roots: [x]}}\n",
    )
    layout = parse_layout(_pinned(project, text))
    assert layout.steps[0].evidence == {
        "tdx": {"required": True},
        "fake": {"level": 3, "allow": ["a", "b"]},
    }
    assert layout.evidence_trust["fake"] == {"roots": ["x"]}  # other kinds are not pinned
    assert set(layout.evidence_trust) == {"tdx", "fake"}


def test_evidence_tdx_spelling_is_pinned_like_tee(project: Path) -> None:
    text = SOURCE.replace("  tee: {roots:", "  evidence:\n    tdx: {roots:").replace(
        "    tee: {required: true}\n", "    evidence: {tdx: {required: true}}\n"
    )
    pinned = _pinned(project, text)
    assert "tee" not in pinned["trust"] and "tee" not in pinned["steps"][0]
    assert pinned["trust"]["evidence"]["tdx"]["roots"][1]["pem"].startswith("-----BEGIN CERT")
    layout = parse_layout(pinned)
    assert layout.steps[0].evidence == {"tdx": {"required": True}}
    assert layout.evidence_trust["tdx"]["allow_tcb_status"] == ["UpToDate"]
    assert layout.tee_roots[0] == "intel" and "CERTIFICATE" in layout.tee_roots[1]
    # a wrong kind of PEM is named by the spelling the layout used
    (project / "layout.yaml").write_text(text.replace("keys/ca.crt]", "keys/log.pub]", 1))
    with pytest.raises(InputError, match=r"trust\.evidence\.tdx\.roots\[1\]"):
        load_and_pin(project / "layout.yaml")
    wrong = json.loads(json.dumps(pinned))
    wrong["trust"]["evidence"]["tdx"]["roots"][1] = {"pem": (project / "keys/log.pub").read_text()}
    with pytest.raises(LayoutSchemaError, match=r"trust\.evidence\.tdx\.roots\[1\]: not a PEM"):
        parse_layout(wrong, source="x.layout")


# --- to_dict / from_dict ------------------------------------------------------------------------


def test_layout_round_trips_through_to_dict(project: Path) -> None:
    text = SOURCE.replace(
        "    tee: {required: true}\n",
        "    tee: {required: true}\n    evidence: {fake: {level: 3}}\n",
    ).replace("[python, prepare.py]", "[python, 'prepare it.py']")
    text = text.replace('"ALLOW raw/*"', "\"ALLOW 'raw files/*'\"")
    pinned = _pinned(project, text)
    layout = Layout.from_dict(pinned, source="x.layout")
    assert layout == parse_layout(pinned, source="x.layout")
    assert layout.to_dict() == pinned and layout.to_dict() is not layout.document
    assert Layout.from_dict(layout.to_dict()) == layout
    for step in layout.steps:
        assert StepSpec.from_dict(step.to_dict()) == step
    prepare = layout.steps[0].to_dict()
    assert prepare["tee"] == {"required": True} and prepare["evidence"] == {"fake": {"level": 3}}
    assert prepare["materials"] == ["ALLOW 'raw files/*'"]
    assert prepare["c2pa"] == {"required": True}
    assert "tee" not in layout.steps[1].to_dict() and "c2pa" not in layout.steps[1].to_dict()
    for name, functionary in layout.functionaries.items():
        assert functionary.to_dict() == pinned["functionaries"][name]
    # a log entry written back with to_dict parses to the same LogTrust
    doc = json.loads(json.dumps(pinned))
    doc["trust"]["logs"] = [
        LogTrust(pem=layout.logs[0].pem, url="https://log.example", origin="o").to_dict()
    ]
    assert parse_layout(doc).logs == (
        LogTrust(pem=layout.logs[0].pem, required=True, url="https://log.example", origin="o"),
    )
    assert parse_layout({**pinned, "trust": {"logs": [layout.logs[0].to_dict()]}}).logs == (
        layout.logs
    )


def test_from_dict_names_the_source() -> None:
    with pytest.raises(LayoutSchemaError, match=r"^x\.layout:"):
        Layout.from_dict({"apiVersion": "atlas-intoto/v1"}, source="x.layout")


@pytest.mark.parametrize(
    ("match", "command", "ok"),
    [
        ("exact", ["python3", "train.py"], True),
        ("exact", ["python3", "train.py", "--epochs", "3"], False),
        ("prefix", ["python3", "train.py", "--epochs", "3"], True),
        ("prefix", ["python3"], False),
        ("none", ["anything"], True),
    ],
)
def test_command_match(match: str, command: list[str], ok: bool) -> None:
    doc = {
        "name": "train",
        "functionaries": ["t"],
        "expected_command": ["python3", "train.py"],
        "command_match": match,
    }
    spec = StepSpec.from_dict(doc)
    assert spec.command_match == match and spec.command_matches(command) is ok
    round_trip = spec.to_dict()
    assert ("command_match" in round_trip) is (match != "exact")
    assert StepSpec.from_dict(round_trip) == spec


def test_without_expected_command_every_command_matches() -> None:
    spec = StepSpec.from_dict({"name": "s", "functionaries": ["t"]})
    assert spec.command_matches(["whatever"]) and spec.command_match == "exact"


def test_unknown_command_match_is_a_schema_error() -> None:
    from atlas_intoto.layout import validate_document

    doc = {
        "apiVersion": "atlas-intoto/v1",
        "kind": "Layout",
        "expires": "2035-01-01T00:00:00Z",
        "functionaries": {"t": "t.pub"},
        "steps": [{"name": "s", "functionaries": ["t"], "command_match": "fuzzy"}],
    }
    with pytest.raises(LayoutSchemaError, match="command_match"):
        validate_document(doc, source="l.yaml")
