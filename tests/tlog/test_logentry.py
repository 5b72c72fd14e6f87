"""Offline LogEntry verification: our vectors and the real public-Rekor entries."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto import errors
from atlas_intoto.tlog import logentry
from atlas_intoto.tlog.logentry import (
    LogEntryFormatError,
    check_body_matches_envelope,
    from_sigstore_bundle_entry,
    parse_log_entry,
    verify_log_entry,
    verify_proof,
)

VECTORS = Path(__file__).parent / "vectors"
_ERRORS: dict[str, type[Exception]] = {
    "LogEntryFormatError": LogEntryFormatError,
    **{
        n: getattr(errors, n)
        for n in ("LogEntryMismatchError", "InclusionProofError", "CheckpointError", "SetError")
    },
}


def _vector_names() -> list[str]:
    return sorted(p.name for p in VECTORS.glob("logentry-*.json"))


def test_vectors_present() -> None:
    names = _vector_names()
    assert "logentry-valid.json" in names
    expected = {json.loads((VECTORS / n).read_text())["expected_error"] for n in names}
    assert expected == {None, *_ERRORS}


@pytest.mark.parametrize("name", _vector_names())
def test_vector(name: str) -> None:
    v = json.loads((VECTORS / name).read_text())
    args: dict[str, Any] = {
        "log_keys": [v["log_key"].encode()],
        "envelope": v["envelope"].encode(),
    }
    if v["expected_error"] is None:
        got = verify_log_entry(v["entry"], **args)
        ((uuid, entry),) = v["entry"].items()
        assert got.uuid == uuid
        assert got.log_index == entry["logIndex"]
        assert got.integrated_time == entry["integratedTime"]
        assert got.tree_size == entry["verification"]["inclusionProof"]["treeSize"]
        assert got.root_hash.hex() == entry["verification"]["inclusionProof"]["rootHash"]
        assert got.checkpoint.size == got.tree_size
        assert (got.kind, got.api_version) == ("dsse", "0.0.1")
        # The bare LogEntry (without the uuid key) verifies too, and without an envelope.
        verify_log_entry(entry, log_keys=args["log_keys"])
    else:
        cls = _ERRORS[v["expected_error"]]
        with pytest.raises(cls) as info:
            verify_log_entry(v["entry"], **args)
        # The exact class, not a sibling reached by accident through a subclass relation.
        assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
        assert "\n" not in str(info.value)


def test_without_pinned_keys_fails_closed() -> None:
    v = json.loads((VECTORS / "logentry-valid.json").read_text())
    with pytest.raises(errors.CheckpointError):
        verify_log_entry(v["entry"], log_keys=[])


@pytest.mark.parametrize(
    "doc",
    [None, [], "x", {}, {"a": 1, "b": 2}, {"not-a-uuid": {}}, {"ab" * 32: "entry"}],
)
def test_garbage_documents_are_format_errors(doc: Any) -> None:
    with pytest.raises(LogEntryFormatError):
        parse_log_entry(doc)


def test_every_field_corruption_is_an_evidence_error() -> None:
    v = json.loads((VECTORS / "logentry-valid.json").read_text())
    ((uuid, good),) = v["entry"].items()
    key = [v["log_key"].encode()]
    paths = [
        ("body",),
        ("integratedTime",),
        ("logID",),
        ("logIndex",),
        ("verification", "signedEntryTimestamp"),
        ("verification", "inclusionProof"),
        ("verification", "inclusionProof", "logIndex"),
        ("verification", "inclusionProof", "rootHash"),
        ("verification", "inclusionProof", "treeSize"),
        ("verification", "inclusionProof", "hashes"),
        ("verification", "inclusionProof", "checkpoint"),
    ]
    for path in paths:
        for bad in (None, True, -1, "", "zz", [], {}, 2**70):
            e = copy.deepcopy(good)
            target = e
            for p in path[:-1]:
                target = target[p]
            target[path[-1]] = bad
            with pytest.raises(errors.EvidenceError):
                verify_log_entry({uuid: e}, log_keys=key)


# --------------------------------------------------------------------------------------------
# Real entries from public Sigstore (sigstore-conformance bundle-verify cases)
# --------------------------------------------------------------------------------------------


def _prod_trusted_root() -> Path:
    import sigstore

    return (
        Path(sigstore.__file__).parent
        / "_store"
        / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
        / "trusted_root.json"
    )


def _case(shared: Path, name: str) -> tuple[dict[str, Any], list[bytes], dict[str, Any]]:
    case = shared / "sigstore-conformance" / "bundle-verify" / name
    bundle = json.loads((case / "bundle.sigstore.json").read_text())
    root = case / "trusted_root.json"
    tlogs = json.loads((root if root.exists() else _prod_trusted_root()).read_text())["tlogs"]
    keys = [base64.b64decode(t["publicKey"]["rawBytes"]) for t in tlogs]
    return bundle, keys, bundle["verificationMaterial"]["tlogEntries"][0]


REKOR_V1_HAPPY = [
    "happy-path-v0.1",
    "happy-path-v0.2",
    "happy-path-v0.3",
    "happy-path-v0.3-new-mediaType",
    "happy-path-intoto-in-dsse-v3",
    "intoto-with-custom-trust-root",
    "managed-key-happy-path",
    "managed-key-and-trusted-root",
    "trust-root-tlog-validity-end-inclusive",
]


@pytest.mark.parametrize("name", REKOR_V1_HAPPY)
def test_real_rekor_v1_entries_verify(shared_testdata: Path, name: str) -> None:
    bundle, keys, tlog_entry = _case(shared_testdata, name)
    doc = from_sigstore_bundle_entry(tlog_entry)
    ((uuid, entry),) = doc.items()
    assert len(uuid) == 80  # tree id from the checkpoint origin + leaf hash
    got = verify_log_entry(doc, log_keys=keys)
    assert got.log_index == int(tlog_entry["logIndex"])
    assert got.integrated_time == int(tlog_entry["integratedTime"])
    assert got.kind == tlog_entry["kindVersion"]["kind"]
    if "dsseEnvelope" in bundle:
        # The bundle re-serialises the envelope, so only payload hash and signatures bind it.
        envelope = json.dumps(bundle["dsseEnvelope"]).encode()
        assert check_body_matches_envelope(
            base64.b64decode(entry["body"]), envelope, check_envelope_hash=False
        ) == (got.kind, got.api_version)


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("inclusion-proof-corrupted-hash_fail", errors.InclusionProofError, "computed root"),
        ("checkpoint-wrong-roothash_fail", errors.CheckpointError, "is not the inclusion proof"),
        ("checkpoint-bad-keyhint_fail", errors.CheckpointError, "not signed by any pinned"),
        ("invalid-checkpoint-signature_fail", errors.CheckpointError, "does not verify"),
        ("bundle-from-wrong-instance_fail", errors.CheckpointError, "not signed by any pinned"),
        ("set-invalid-signature_fail", errors.SetError, "does not verify"),
    ],
)
def test_real_bad_entries_rejected_for_the_right_reason(
    shared_testdata: Path, name: str, error: type[Exception], reason: str
) -> None:
    _bundle, keys, tlog_entry = _case(shared_testdata, name)
    with pytest.raises(error, match=reason) as info:
        verify_log_entry(from_sigstore_bundle_entry(tlog_entry), log_keys=keys)
    assert type(info.value) is error


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("dsse-mismatch-envelope_fail", "payloadHash"),
        ("dsse-mismatch-sig_fail", "signatures differ"),
        ("dsse-invalid-sig_fail", "signatures differ"),
        ("intoto-log-entry-mismatch_fail", "signatures differ"),
    ],
)
def test_real_body_mismatches_rejected(shared_testdata: Path, name: str, reason: str) -> None:
    bundle, _keys, tlog_entry = _case(shared_testdata, name)
    envelope = json.dumps(bundle["dsseEnvelope"]).encode()
    body = base64.b64decode(tlog_entry["canonicalizedBody"])
    with pytest.raises(errors.LogEntryMismatchError, match=reason):
        check_body_matches_envelope(body, envelope, check_envelope_hash=False)


@pytest.mark.parametrize(
    "name",
    [
        "invalid-inclusion-proof_fail",
        "intoto-missing-inclusion-proof_fail",
        "rekor2-no-inclusion-proof_fail",
    ],
)
def test_real_entries_without_usable_proof_rejected(shared_testdata: Path, name: str) -> None:
    _bundle, keys, tlog_entry = _case(shared_testdata, name)
    with pytest.raises(LogEntryFormatError):
        verify_log_entry(from_sigstore_bundle_entry(tlog_entry), log_keys=keys)


REKOR_V2 = [
    "rekor2-happy-path",
    "rekor2-dsse-happy-path",
    "rekor2-checkpoint-cosigned",
    "rekor2-checkpoint-origin-not-first",
    "bundle-with-sct-with-extensions",
]


@pytest.mark.parametrize("name", REKOR_V2)
def test_rekor_v2_entries_have_proofs_but_no_set(shared_testdata: Path, name: str) -> None:
    # Rekor v2 (Tessera) integrates synchronously: no integratedTime, no SET. Steps 2-4 hold;
    # verify_log_entry refuses it at step 5 because our trusted time comes from the SET.
    _bundle, keys, tlog_entry = _case(shared_testdata, name)
    doc = from_sigstore_bundle_entry(tlog_entry)
    cp = verify_proof(parse_log_entry(doc), log_keys=keys)
    assert cp.size == int(tlog_entry["inclusionProof"]["treeSize"])
    with pytest.raises(errors.SetError, match="no signed entry timestamp"):
        verify_log_entry(doc, log_keys=keys)


def test_converter_rejects_garbage() -> None:
    with pytest.raises(LogEntryFormatError):
        from_sigstore_bundle_entry({"canonicalizedBody": "!!"})
    with pytest.raises(LogEntryFormatError):
        from_sigstore_bundle_entry("nope")
    assert logentry.__all__  # the module's public surface is declared


@pytest.mark.parametrize(
    "envelope", [b"[" * 100000 + b"]" * 100000, b'{"a": ' + b"9" * 5000 + b"}"]
)
def test_pathological_envelope_json_is_a_mismatch(envelope: bytes) -> None:
    # Deep nesting raises RecursionError and huge integers a plain ValueError in json.loads.
    v = json.loads((VECTORS / "logentry-valid.json").read_text())
    with pytest.raises(errors.LogEntryMismatchError, match="not a DSSE envelope"):
        verify_log_entry(v["entry"], log_keys=[v["log_key"].encode()], envelope=envelope)
