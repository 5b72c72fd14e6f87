"""Recording a step's Statement: the certificate as verification material only when it
certifies the key, and an upstream record that names the producers' Statements."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from atlas_intoto.keys import generate_keypair, load_private_key, load_signer
from atlas_intoto.link import read_unverified_link
from atlas_intoto.sigstore_bundle import parse_sigstore_bundle
from atlas_intoto.step_statement import functionary_certificate, statement_bundle

DATA = {"data/train.csv": {"sha256": "aa" * 32}}


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    for name in ("alice", "bob"):
        generate_keypair(name, directory=tmp_path / "keys")
    return tmp_path / "keys"


def _pem(keys: Path, name: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return (
        load_private_key(keys / f"{name}.key")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _record(keys: Path, out: Path, *, step: str, name: str, **fields: object) -> Path:
    path, data = statement_bundle(
        step=step,
        materials=fields.get("materials", {}),  # type: ignore[arg-type]
        products=fields.get("products", {}),  # type: ignore[arg-type]
        command=["true"],
        byproducts={},
        environment=fields.get("environment", {"atlas-intoto": {"version": 2}}),  # type: ignore[arg-type]
        signer=load_signer(keys / f"{name}.key"),
        public_pem=_pem(keys, name),
        key_path=keys / f"{name}.key",
        out_dir=out,
    )
    out.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_certificate_only_when_it_certifies_the_key(keys: Path) -> None:
    assert functionary_certificate(keys / "alice.key", _pem(keys, "alice")) is not None
    assert functionary_certificate(keys / "alice.key", _pem(keys, "bob")) is None
    (keys / "alice.crt").unlink()
    assert functionary_certificate(keys / "alice.key", _pem(keys, "alice")) is None


def test_statement_upstream_names_the_producing_statements(keys: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence"
    producer = _record(keys, out, step="prepare", name="alice", products=DATA)
    envelope = parse_sigstore_bundle(json.loads(producer.read_bytes())).envelope
    link_record = {"atlas-intoto": {"version": 2, "upstream": {"data/train.csv": "bb" * 32}}}
    consumer = _record(keys, out, step="train", name="bob", materials=DATA, environment=link_record)
    statement = read_unverified_link(
        parse_sigstore_bundle(json.loads(consumer.read_bytes())).envelope
    )
    assert statement.atlas["upstream"] == {"data/train.csv": hashlib.sha256(envelope).hexdigest()}
    # a link without an upstream record gives a Statement without one
    plain = _record(keys, tmp_path / "other", step="train", name="bob", materials=DATA)
    parsed = parse_sigstore_bundle(json.loads(plain.read_bytes()))
    assert "upstream" not in read_unverified_link(parsed.envelope).atlas
    # a producer whose product differs is not an upstream Statement: the material keeps the
    # link's record (its producer travels as a link), never no binding at all
    changed = {"data/train.csv": {"sha256": "cc" * 32}}
    other = _record(keys, out, step="train", name="bob", materials=changed, environment=link_record)
    parsed = parse_sigstore_bundle(json.loads(other.read_bytes()))
    assert read_unverified_link(parsed.envelope).atlas["upstream"] == {"data/train.csv": "bb" * 32}


def test_publish_statement_adds_the_log_entry_once(keys: Path, tmp_path: Path) -> None:
    from atlas_intoto.demo import embedded_log
    from atlas_intoto.step_statement import publish_statement
    from atlas_intoto.tlog import backend
    from atlas_intoto.tlog.logentry import verify_log_entry

    path = _record(keys, tmp_path / "evidence", step="prepare", name="alice", products=DATA)
    unlogged = path.read_bytes()
    assert json.loads(unlogged)["verificationMaterial"]["tlogEntries"] == []
    with embedded_log(tmp_path / "log") as log:
        publisher = backend.get("rekor-v1").publisher(log.url)
        kw = {"publisher": publisher, "public_pem": _pem(keys, "alice")}
        assert publish_statement(path, log_backend="other", **kw) is False
        assert path.read_bytes() == unlogged
        assert publish_statement(path, log_backend="rekor-v1", **kw) is True
        logged = path.read_bytes()
        assert publish_statement(path, log_backend="rekor-v1", **kw) is False
        assert path.read_bytes() == logged
    parsed = parse_sigstore_bundle(json.loads(logged))
    assert parsed.certificate is not None and parsed.log_entry is not None
    verify_log_entry(parsed.log_entry, log_keys=[log.public_key_pem], envelope=parsed.envelope)
