"""Pending markers at digest visibility: their signatures, and malformed fields named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.errors import InputError, UsageError
from atlas_intoto.keys import generate_keypair
from atlas_intoto.publishing import PendingMarker, read_marker
from atlas_intoto.tlog.visibility import DigestPublisher, check_can_publish


def _doc(**changes: Any) -> dict[str, Any]:
    doc = {
        "version": 1,
        "link": "s.abcd1234.link",
        "log_url": "http://127.0.0.1:9",
        "log_backend": "rekor-v1",
        "public_key": "PEM",
        "reason": "",
        "visibility": "digest",
        "envelope_signature": "c2ln",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def test_a_digest_marker_round_trips(tmp_path: Path) -> None:
    marker = PendingMarker.from_dict(_doc(statement_signature="c3Q="), source="m.json")
    assert marker.visibility == "digest" and marker.envelope_signature == "c2ln"
    assert PendingMarker.from_dict(marker.to_dict(), source="m.json") == marker
    full = PendingMarker.from_dict(_doc(visibility=None, envelope_signature=None), source="m")
    assert "visibility" not in full.to_dict()  # full markers are written as before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"visibility": "secret"}, "visibility"),
        ({"envelope_signature": None}, "envelope_signature"),
        ({"envelope_signature": "%%%"}, "envelope_signature"),
        ({"statement_signature": 7}, "statement_signature"),
    ],
)
def test_malformed_markers_name_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str
) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_doc(**changes)))
    with pytest.raises(InputError, match=f"{path}.*{field}"):
        read_marker(path)


def test_a_backend_without_digest_entries_is_refused_before_the_step(tmp_path: Path) -> None:
    paths = generate_keypair("k", directory=tmp_path)
    with pytest.raises(UsageError, match="logs no digest entries"):
        check_can_publish(object(), paths.public_key.read_bytes())
    with pytest.raises(UsageError, match="cannot log digest entries"):
        DigestPublisher(object(), b"sig")  # type: ignore[arg-type]
    check_can_publish(
        type("P", (), {"publish_digest": lambda *a: {}})(), paths.public_key.read_bytes()
    )
