"""The kinds dispatcher (server side) and the offline body-matching dispatcher: supported kinds,
unsupported ones, garbage request bodies and envelopes."""

from __future__ import annotations

import json

import pytest

from atlas_intoto.errors import EntryFormatError, LogEntryMismatchError
from atlas_intoto.tlog import kinds
from atlas_intoto.tlog.kinds import parse_proposed_entry
from atlas_intoto.tlog.kinds.match import envelope_facts
from atlas_intoto.tlog.logentry import check_body_matches_envelope


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"\xff",
        b"[1]",
        b"null",
        b'"x"',
        b"[" * 100000,
        b"[" * 60000 + b"]" * 60000,
        b"9" * 5000,
    ],
)
def test_garbage_request_bodies(raw: bytes) -> None:
    with pytest.raises(EntryFormatError):
        parse_proposed_entry(raw)


def test_every_supported_kind_can_be_matched_offline() -> None:
    assert (
        set(kinds.BODY_MATCHERS)
        == set(kinds.SUPPORTED_KINDS)
        == {
            ("hashedrekord", "0.0.1"),
            ("dsse", "0.0.1"),
            ("intoto", "0.0.2"),
        }
    )


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"kind": "rekord", "apiVersion": "0.0.1", "spec": {}}, "unsupported rekord 0.0.1"),
        ({"kind": "dsse", "apiVersion": "0.0.2", "spec": {}}, r"supported: dsse 0\.0\.1"),
        ({"kind": "dsse", "apiVersion": "0.0.1", "spec": "x"}, "spec: expected a JSON object"),
        ({"kind": "dsse", "apiVersion": ""}, "apiVersion: must not be empty"),
        ([], "proposed entry: expected a JSON object"),
    ],
)
def test_dispatch_rejections(doc: object, match: str) -> None:
    with pytest.raises(EntryFormatError, match=match):
        kinds.canonical_entry(doc)


def test_the_body_matcher_refuses_unknown_kinds() -> None:
    envelope = json.dumps(
        {"payload": "e30=", "payloadType": "t", "signatures": [{"sig": "AA=="}]}
    ).encode()
    body = json.dumps({"kind": "rekord", "apiVersion": "0.0.1", "spec": {}}).encode()
    with pytest.raises(LogEntryMismatchError, match="unsupported entry kind 'rekord'"):
        check_body_matches_envelope(body, envelope)
    for bad in (b"{", b"[]", b'{"kind": "dsse"}'):
        with pytest.raises(LogEntryMismatchError):
            check_body_matches_envelope(bad, envelope)


@pytest.mark.parametrize(
    "envelope",
    [b"{}", b'{"payload": "e30=", "payloadType": "t", "signatures": []}', b'{"payload": "-_"}'],
)
def test_envelope_facts_need_a_dsse_envelope(envelope: bytes) -> None:
    with pytest.raises(LogEntryMismatchError, match="not a DSSE envelope"):
        envelope_facts(envelope)
