"""Layouts pin RFC 3161 TSA roots (``trust.tsa.roots``) and, per log, witness keys with a
k-of-n threshold (``trust.logs[].witnesses``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from atlas_intoto.errors import LayoutSchemaError
from atlas_intoto.layout import load_and_pin, parse_layout
from atlas_intoto.tsa.keys import load_or_create_tsa, root_path


def _witness(project: Path, name: str) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    (project / "keys" / f"{name}.pub").write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _source(project: Path, logs: str, tsa: str = "") -> None:
    text = (project / "layout.yaml").read_text()
    text = text.replace("  logs: [{key: keys/log.pub}]\n", logs + tsa)
    (project / "layout.yaml").write_text(text)


WITNESSED = (
    "  logs:\n"
    "    - key: keys/log.pub\n"
    "      witnesses: {threshold: 2, keys: [{name: w1, key: keys/w1.pub}, "
    "{name: w2, key: keys/w2.pub}, {name: w3, key: keys/w3.pub}]}\n"
)


def test_tsa_roots_and_witnesses_are_pinned(project: Path) -> None:
    for name in ("w1", "w2", "w3"):
        _witness(project, name)
    load_or_create_tsa(project / "tsa")
    _source(project, WITNESSED, "  tsa: {roots: [tsa/tsa-root.pem]}\n")
    pinned = load_and_pin(project / "layout.yaml")
    layout = parse_layout(pinned)
    assert layout.tsa_roots == (root_path(project / "tsa").read_text(),)
    log = layout.logs[0]
    assert log.witness_threshold == 2 and [n for n, _ in log.witnesses] == ["w1", "w2", "w3"]
    assert parse_layout({**pinned, "trust": {**pinned["trust"], "logs": [log.to_dict()]}}).logs == (
        log,
    )


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda d: d["trust"]["logs"][0]["witnesses"].update(threshold=4), "exceeds"),
        (lambda d: d["trust"]["logs"][0]["witnesses"]["keys"][1].update(name="w1"), "distinct"),
        (lambda d: d["trust"]["logs"][0]["witnesses"].update(threshold=0), "threshold"),
        (lambda d: d["trust"]["logs"][0]["witnesses"]["keys"][0].update(name="has space"), "name"),
        (lambda d: d["trust"].update(tsa={"roots": []}), "roots"),
    ],
)
def test_bad_pins_are_schema_errors(project: Path, edit: object, error: str) -> None:
    for name in ("w1", "w2", "w3"):
        _witness(project, name)
    _source(project, WITNESSED)
    pinned = load_and_pin(project / "layout.yaml")
    edit(pinned)  # type: ignore[operator]
    with pytest.raises(LayoutSchemaError, match=error):
        parse_layout(pinned)


def test_a_witness_key_must_be_ed25519(project: Path) -> None:
    _witness(project, "w2")
    _witness(project, "w3")
    (project / "keys" / "w1.pub").write_bytes((project / "keys" / "log.pub").read_bytes())
    _source(project, WITNESSED)
    with pytest.raises(LayoutSchemaError, match="Ed25519"):
        load_and_pin(project / "layout.yaml")
