"""Sigstore bundles v0.3: building from an envelope and a Rekor v1 entry, parsing back (the
entry converts both ways unchanged), malformed bundles named by field; the v2 bundle schema is
package data identical to schemas/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.demo import EmbeddedLog, embedded_log
from atlas_intoto.errors import FormatError
from atlas_intoto.keys import generate_keypair, load_public_key, load_signer
from atlas_intoto.sigstore_bundle import (
    MEDIA_TYPE,
    bundle_file_name,
    make_bundle,
    parse_sigstore_bundle,
    tlog_entry,
)
from atlas_intoto.statement import link_statement, sign_statement
from atlas_intoto.tlog.client import RekorClient
from atlas_intoto.tlog.logentry import parse_log_entry, verify_log_entry


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLog]:
    with embedded_log(tmp_path_factory.mktemp("log")) as running:
        yield running


@pytest.fixture(scope="module")
def signed(log: EmbeddedLog, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    keys = tmp_path_factory.mktemp("keys")
    generate_keypair("alice", directory=keys)
    statement = link_statement(
        name="train",
        materials={"a": {"sha256": "aa" * 32}},
        products={"b": {"sha256": "bb" * 32}},
        command=["true"],
        byproducts={},
        environment={},
    )
    envelope = sign_statement(statement, load_signer(keys / "alice.key"))
    with RekorClient(log.url) as client:
        entry = client.publish_dsse(envelope, (keys / "alice.pub").read_bytes())
    return {
        "envelope": envelope,
        "entry": entry,
        "keyid": load_public_key(keys / "alice.pub").keyid,
    }


def test_round_trip_with_a_log_entry(signed: dict[str, Any], log: EmbeddedLog) -> None:
    doc = make_bundle(signed["envelope"], log_entry=signed["entry"])
    assert doc["mediaType"] == MEDIA_TYPE
    assert doc["verificationMaterial"]["publicKey"] == {"hint": signed["keyid"]}
    parsed = parse_sigstore_bundle(json.loads(json.dumps(doc)))
    assert parsed.envelope == signed["envelope"]
    assert parse_log_entry(parsed.log_entry) == parse_log_entry(signed["entry"])
    assert parsed.key_hint == signed["keyid"] and parsed.certificate is None
    verify_log_entry(parsed.log_entry, log_keys=[log.public_key_pem], envelope=parsed.envelope)


def test_tlog_entry_fields(signed: dict[str, Any]) -> None:
    entry = tlog_entry(signed["entry"])
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert isinstance(entry["logIndex"], str) and isinstance(entry["integratedTime"], str)
    assert entry["inclusionPromise"]["signedEntryTimestamp"]
    assert entry["inclusionProof"]["checkpoint"]["envelope"].endswith("\n")


def test_certificate_material_and_no_entry(signed: dict[str, Any]) -> None:
    doc = make_bundle(signed["envelope"], log_entry=None, certificate=b"\x30\x03\x02\x01\x01")
    assert doc["verificationMaterial"]["tlogEntries"] == []
    parsed = parse_sigstore_bundle(doc)
    assert parsed.certificate == b"\x30\x03\x02\x01\x01" and parsed.log_entry is None


def test_file_name() -> None:
    assert bundle_file_name("train", "0123456789abcdef") == "train.01234567.sigstore.json"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(mediaType="application/json"), "mediaType"),
        (lambda d: d.pop("dsseEnvelope"), "dsseEnvelope"),
        (lambda d: d["dsseEnvelope"]["signatures"].append({"sig": "AA=="}), "one signature"),
        (lambda d: d.update(verificationMaterial=[]), "verificationMaterial"),
        (lambda d: d["verificationMaterial"].pop("publicKey"), "no certificate"),
        (lambda d: d["verificationMaterial"]["tlogEntries"].append({}), "at most one"),
        (lambda d: d["verificationMaterial"]["tlogEntries"][0].pop("logId"), "tlogEntries"),
    ],
)
def test_malformed_bundles_name_the_field(signed: dict[str, Any], mutate: Any, match: str) -> None:
    doc = make_bundle(signed["envelope"], log_entry=signed["entry"])
    mutate(doc)
    with pytest.raises(FormatError, match=match):
        parse_sigstore_bundle(doc, source="x.sigstore.json")


def test_two_signatures_cannot_be_bundled(signed: dict[str, Any]) -> None:
    envelope = json.loads(signed["envelope"])
    envelope["signatures"].append({"keyid": "other", "sig": "AA=="})
    with pytest.raises(FormatError, match="exactly one"):
        make_bundle(json.dumps(envelope).encode(), log_entry=None)


def test_bundle_v2_schema_is_package_data_identical_to_schemas_dir() -> None:
    from atlas_intoto.bundle_v2 import SCHEMA_PATH

    repo = Path(__file__).resolve().parent.parent
    assert SCHEMA_PATH.parent.name == "data"
    assert SCHEMA_PATH.read_bytes() == (repo / "schemas" / "bundle-v2.schema.json").read_bytes()


def test_v1_entry_with_timestamps_round_trips(signed: dict[str, Any]) -> None:
    doc = make_bundle(signed["envelope"], log_entry=signed["entry"], timestamps=[b"\x30\x03abc"])
    stamps = doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    assert stamps == [{"signedTimestamp": "MANhYmM="}]
    parsed = parse_sigstore_bundle(doc)
    # the v1 entry stays Rekor's {uuid: LogEntry}; the timestamps are kept beside it
    assert parsed.log_entry == signed["entry"] and parsed.timestamps == (b"\x30\x03abc",)


def test_without_timestamps_there_is_no_timestamp_block(signed: dict[str, Any]) -> None:
    doc = make_bundle(signed["envelope"], log_entry=signed["entry"])
    assert "timestampVerificationData" not in doc["verificationMaterial"]
    assert parse_sigstore_bundle(doc).timestamps == ()


def test_v2_entry_reads_back_as_the_rekor_v2_document(signed: dict[str, Any]) -> None:
    from atlas_intoto.tlog.rekor_v2 import document

    entry = {
        "logIndex": "3",
        "logId": {"keyId": "AAAA"},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
        "inclusionProof": {"logIndex": "3", "treeSize": "4", "hashes": []},
        "canonicalizedBody": "e30=",
    }
    saved = document(entry, [b"\x30\x01x"])
    doc = make_bundle(signed["envelope"], log_entry=saved)
    assert doc["verificationMaterial"]["tlogEntries"] == [entry]
    parsed = parse_sigstore_bundle(doc)
    assert parsed.log_entry == saved and parsed.timestamps == (b"\x30\x01x",)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "timestampVerificationData"),
        ({"rfc3161Timestamps": {}}, "rfc3161Timestamps"),
        ({"rfc3161Timestamps": [{"signedTimestamp": "@@"}]}, r"rfc3161Timestamps\[0\]"),
        ({"rfc3161Timestamps": ["x"]}, r"rfc3161Timestamps\[0\]"),
    ],
)
def test_malformed_timestamps_are_named(signed: dict[str, Any], data: Any, field: str) -> None:
    doc = make_bundle(signed["envelope"], log_entry=None)
    doc["verificationMaterial"]["timestampVerificationData"] = data
    with pytest.raises(FormatError, match=field):
        parse_sigstore_bundle(doc, source="b.json")
