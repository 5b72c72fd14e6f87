"""The rekor-v2 log backend end to end: publish (hashedrekord over the PAE, TSA timestamp),
verify offline, the RFC 3161 time source, and every tamper detected with its error."""

from __future__ import annotations

import base64
import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import link_envelope, pem

sys.path.insert(0, str(Path(__file__).parent / "v2"))
from v2_servers import V2Log, run_log

from atlas_intoto.errors import (
    CheckpointError,
    InclusionProofError,
    LogEntryFormatError,
    LogEntryMismatchError,
    TimestampError,
)
from atlas_intoto.tlog import backend
from atlas_intoto.tlog.backend import VerifiedEntry
from atlas_intoto.tlog.rekor_v2 import RekorV2Publisher
from atlas_intoto.verify.timesource import Rfc3161Time, TimeContext


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Log]:
    signer = ec.generate_private_key(ec.SECP256R1())
    yield from run_log(tmp_path_factory.mktemp("v2log"), signer)


@pytest.fixture(scope="module")
def published(log: V2Log, key: ec.EllipticCurvePrivateKey) -> tuple[bytes, dict[str, Any]]:
    envelope = link_envelope(key, "train")
    return envelope, dict(backend.get("rekor-v2").publisher(log.url).publish(envelope, pem(key)))


def _time(doc: dict[str, Any], envelope: bytes, roots: tuple[str, ...]) -> int | None:
    # the RFC 3161 source reads the document and the envelope, not the verified entry
    entry = VerifiedEntry(
        backend="rekor-v2", entry_id="0", log_index=0, tree_size=1, root_hash=b"", origin=""
    )
    from atlas_intoto import dsse

    context = TimeContext(
        step="train",
        entry=entry,
        document=doc,
        envelope=envelope,
        tsa_roots=roots,
        # the envelope's signatures are the functionary's here (check 2 would find them)
        signatures=tuple(s.sig for s in dsse.parse(envelope).signatures),
    )
    trusted = Rfc3161Time().establish(context)
    return None if trusted is None else trusted.seconds


def test_publish_and_verify(log: V2Log, published: tuple[bytes, dict[str, Any]]) -> None:
    envelope, doc = published
    assert doc["backend"] == "rekor-v2" and len(doc["timestamps"]) == 1
    verified = backend.backend_for_document(doc).verify(
        doc, envelope=envelope, log_keys=[log.public_pem]
    )
    assert verified.backend == "rekor-v2" and verified.signed_time is None
    assert verified.entry_kind == "hashedrekord" and verified.api_version == "0.0.2"
    assert _time(doc, envelope, (log.tsa_root.decode(),)) is not None
    # no pinned TSA roots: the timestamps prove nothing, and no time is claimed
    assert _time(doc, envelope, ()) is None


def test_republishing_returns_the_logged_entry(
    log: V2Log, key: ec.EllipticCurvePrivateKey, published: tuple[bytes, dict[str, Any]]
) -> None:
    envelope, doc = published
    again = RekorV2Publisher(log.url).publish(envelope, pem(key))
    assert again["entry"]["logIndex"] == doc["entry"]["logIndex"]


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[len(raw) // 2] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_tampered_timestamp_fails(log: V2Log, published: tuple[bytes, dict[str, Any]]) -> None:
    envelope, doc = published
    bad = copy.deepcopy(doc)
    bad["timestamps"][0]["signedTimestamp"] = _flip(bad["timestamps"][0]["signedTimestamp"])
    with pytest.raises(TimestampError):
        _time(bad, envelope, (log.tsa_root.decode(),))


def test_timestamp_of_another_signature_fails(
    log: V2Log, key: ec.EllipticCurvePrivateKey, published: tuple[bytes, dict[str, Any]]
) -> None:
    envelope, doc = published
    other = RekorV2Publisher(log.url).publish(link_envelope(key, "other"), pem(key))
    swapped = {**doc, "timestamps": other["timestamps"]}
    with pytest.raises(TimestampError, match="Mismatch"):
        _time(swapped, envelope, (log.tsa_root.decode(),))


def test_timestamp_under_an_unpinned_root_fails(
    tmp_path: Path, published: tuple[bytes, dict[str, Any]]
) -> None:
    from atlas_intoto.tsa.keys import load_or_create_tsa, root_path

    load_or_create_tsa(tmp_path)
    envelope, doc = published
    with pytest.raises(TimestampError):
        _time(doc, envelope, (root_path(tmp_path).read_text(),))


def _mutated(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(doc)
    target = bad
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value(target[path[-1]])
    return bad


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (["entry", "inclusionProof", "rootHash"], _flip, InclusionProofError),
        (["entry", "logIndex"], lambda v: str(int(v) + 1), LogEntryFormatError),
        (
            ["entry", "canonicalizedBody"],
            lambda v: base64.b64encode(b"{}").decode(),
            LogEntryFormatError,
        ),
        (["entry", "logId", "keyId"], _flip, CheckpointError),
        (
            ["entry", "inclusionProof", "checkpoint", "envelope"],
            lambda v: v.replace("test.log\n", "evil.log\n", 1),
            CheckpointError,
        ),
        (["entry", "integratedTime"], lambda v: "1700000000", LogEntryFormatError),
        (["timestamps"], lambda v: "nope", LogEntryFormatError),
    ],
)
def test_tampered_entries_fail(
    log: V2Log, published: tuple[bytes, dict[str, Any]], path: list[Any], value: Any, error: type
) -> None:
    envelope, doc = published
    if path == ["entry", "integratedTime"]:
        doc = copy.deepcopy(doc)
        doc["entry"]["integratedTime"] = "0"
    bad = _mutated(doc, path, value)
    with pytest.raises(error):
        backend.backend_for_document(bad).verify(bad, envelope=envelope, log_keys=[log.public_pem])


def test_entry_of_another_envelope_fails(
    log: V2Log, key: ec.EllipticCurvePrivateKey, published: tuple[bytes, dict[str, Any]]
) -> None:
    _, doc = published
    with pytest.raises(LogEntryMismatchError):
        backend.backend_for_document(doc).verify(
            doc, envelope=link_envelope(key, "other"), log_keys=[log.public_pem]
        )


def test_unpinned_log_key_fails(published: tuple[bytes, dict[str, Any]]) -> None:
    envelope, doc = published
    other = pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CheckpointError):
        backend.backend_for_document(doc).verify(doc, envelope=envelope, log_keys=[other])
