"""The layout model: parsing a pinned document (pinned, consistent, right kinds of PEM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layout_helpers import NOW, pub_key, resign

from atlas_intoto.errors import LayoutSchemaError
from atlas_intoto.layout import load_and_pin, verify_signed_layout


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
