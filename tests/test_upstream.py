"""Upstream records (issue 11 item 4): a link records the exact envelopes of the links whose
products it consumed; the verifier requires the bundle to hold exactly those."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from atlas_intoto.errors import ReplayError
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.link import sign_link
from atlas_intoto.upstream import check_upstream, envelope_digest, upstream_record

DATA = {"data/train.csv": {"sha256": "ab" * 32}}


def _link(tmp_path: Path, name: str, products: dict[str, dict[str, str]]) -> bytes:
    keys = tmp_path / "keys"
    if not (keys / "k.key").exists():
        generate_keypair("k", directory=keys)
    envelope = sign_link(
        name=name,
        materials={},
        products=products,
        command=[],
        byproducts={},
        environment={},
        signer=load_signer(keys / "k.key"),
    )
    (tmp_path / f"{name}.12345678.link").write_bytes(envelope)
    return envelope


def test_record_names_the_producing_envelope(tmp_path: Path) -> None:
    prepare = _link(tmp_path, "prepare", DATA)
    _link(tmp_path, "other", {"data/train.csv": {"sha256": "cd" * 32}})  # other bytes
    (tmp_path / "garbage.link").write_text("not a link")
    record = upstream_record(tmp_path, step="train", materials={**DATA, "src/x.py": {}})
    assert record == {"upstream": {"data/train.csv": hashlib.sha256(prepare).hexdigest()}}
    # a step never records itself (a re-run in the same directory)
    assert upstream_record(tmp_path, step="prepare", materials=DATA) == {}
    assert upstream_record(tmp_path / "missing", step="x", materials=DATA) == {}


def test_check_requires_exactly_the_recorded_envelope(tmp_path: Path) -> None:
    prepare = _link(tmp_path, "prepare", DATA)
    record = {"data/train.csv": envelope_digest(prepare)}
    producers = [("prepare", prepare, DATA)]
    assert check_upstream(step="train", record=record, materials=DATA, producers=producers) == {
        "prepare"
    }
    reserialised = json.dumps(json.loads(prepare), indent=1).encode()
    for others in ([("prepare", reserialised, DATA)], []):
        with pytest.raises(ReplayError, match="not in the bundle"):
            check_upstream(step="train", record=record, materials=DATA, producers=others)
    for bad in ([], {"data/train.csv": "zz"}, {"src/other.py": envelope_digest(prepare)}):
        with pytest.raises(ReplayError):
            check_upstream(step="train", record=bad, materials=DATA, producers=producers)
