"""Evidence entries in links: version 2 lists, version 1 ``tee`` entries, malformed input."""

from __future__ import annotations

from typing import Any

import pytest

from atlas_intoto.errors import TeeEvidenceFormatError
from atlas_intoto.evidence.model import BlobRef, EvidenceEntry, evidence_entries

DIGEST = "ab" * 32


def test_v2_entry_round_trips() -> None:
    entry = EvidenceEntry(
        kind="tdx",
        fields={"type": "tdx", "quote": "AAAA", "nonce": "00" * 32},
        blobs={"collateral": BlobRef(path="tee/s.collateral.json", sha256=DIGEST)},
    )
    doc = entry.to_dict()
    assert doc == {
        "kind": "tdx",
        "type": "tdx",
        "quote": "AAAA",
        "nonce": "00" * 32,
        "blobs": {"collateral": {"path": "tee/s.collateral.json", "sha256": DIGEST}},
    }
    assert EvidenceEntry.from_dict(doc) == entry
    assert evidence_entries({"version": 2, "evidence": [doc]}) == (entry,)


def test_v1_tee_entry_reads_as_tdx_with_its_collateral_as_a_blob() -> None:
    tee = {
        "type": "simulated-tdx",
        "quote": "AAAA",
        "nonce": "01" * 32,
        "collateral": {"path": "tee/x.collateral.json", "sha256": DIGEST.upper()},
    }
    (entry,) = evidence_entries({"version": 1, "tee": tee})
    assert entry.kind == "tdx"
    assert entry.fields == {"type": "simulated-tdx", "quote": "AAAA", "nonce": "01" * 32}
    assert entry.blobs == {"collateral": BlobRef(path="tee/x.collateral.json", sha256=DIGEST)}


def test_v1_entry_without_a_collateral_digest_has_no_blob() -> None:
    # The TDX kind then fails it ("records no collateral digest"): never silently accepted.
    (entry,) = evidence_entries({"tee": {"type": "tdx", "collateral": {"path": "p"}}})
    assert entry.blobs == {}


def test_no_evidence_is_an_empty_tuple() -> None:
    assert evidence_entries({"version": 2, "binding": "00"}) == ()


def test_legacy_fields_cannot_pose_as_a_v2_entry() -> None:
    (entry,) = evidence_entries({"tee": {"type": "tdx", "kind": "x", "blobs": {"c": 1}}})
    assert entry.fields == {"type": "tdx"} and entry.to_dict() == {"type": "tdx", "kind": "tdx"}


@pytest.mark.parametrize(
    ("atlas", "message"),
    [
        ({"version": 3, "evidence": []}, "evidence version 3 is not 1 or 2"),
        ({"version": True}, "evidence version True"),
        ({"evidence": [{"kind": "tdx\n"}]}, r"evidence\[0\].kind"),
        ({"tee": ["not", "an", "object"]}, "tee: evidence entry is not an object"),
        ({"evidence": {"kind": "tdx"}}, "evidence: must be a list"),
        ({"evidence": ["x"]}, r"evidence\[0\]: must be an object"),
        ({"evidence": [{"kind": "Bad Kind"}]}, r"evidence\[0\].kind"),
        ({"evidence": [{"kind": 5}]}, r"evidence\[0\].kind"),
        ({"evidence": [{"kind": "tdx", "blobs": []}]}, r"evidence\[0\].blobs: must be an object"),
        (
            {"evidence": [{"kind": "tdx", "blobs": {"c": {"path": "p", "sha256": "zz"}}}]},
            r"evidence\[0\].blobs.c: needs a path and a 64-hex sha256",
        ),
        (
            {"evidence": [{"kind": "tdx"}, {"kind": "tdx"}]},
            "more than one entry of kind 'tdx'",
        ),
        (
            {"tee": {"type": "tdx"}, "evidence": [{"kind": "tdx"}]},
            "more than one entry of kind 'tdx'",
        ),
    ],
)
def test_malformed_evidence_is_a_format_error(atlas: dict[str, Any], message: str) -> None:
    with pytest.raises(TeeEvidenceFormatError, match=message):
        evidence_entries(atlas)
