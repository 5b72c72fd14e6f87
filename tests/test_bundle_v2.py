"""bundle_v2 collection edge cases: entries of other log backends and links not in canonical
DSSE JSON cannot travel in Sigstore bundles, and say so naming the file or step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from atlas_intoto.bundle import Bundle, LinkEvidence
from atlas_intoto.bundle_v2 import collect_evidence_v2, oms_evidence, serialize_bundle_v2
from atlas_intoto.errors import InputError
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.link import sign_link


@pytest.fixture
def envelope(tmp_path: Path) -> bytes:
    generate_keypair("alice", directory=tmp_path / "keys")
    return sign_link(
        name="prepare",
        materials={},
        products={"a": {"sha256": "aa" * 32}},
        command=["true"],
        byproducts={},
        environment={},
        signer=load_signer(tmp_path / "keys" / "alice.key"),
    )


def test_other_log_backends_need_format_v1(tmp_path: Path, envelope: bytes) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    keyid8 = json.loads(envelope)["signatures"][0]["keyid"][:8]
    (evidence / f"prepare.{keyid8}.link").write_bytes(envelope)
    (evidence / f"prepare.{keyid8}.logentry.json").write_text('{"backend": "fake", "x": 1}')
    with pytest.raises(InputError, match=r"'fake'.*--format v1"):
        collect_evidence_v2(layout_envelope={}, evidence_dirs=[evidence])


def test_link_not_in_canonical_form_cannot_be_wrapped(envelope: bytes) -> None:
    spaced = json.dumps(json.loads(envelope), indent=2).encode()
    bundle = Bundle(layout={}, links=(LinkEvidence(step="prepare", envelope=spaced),))
    with pytest.raises(InputError, match=r"step prepare: .*canonical"):
        serialize_bundle_v2(bundle)
    canonical = Bundle(layout={}, links=(LinkEvidence(step="prepare", envelope=envelope),))
    assert b"sigstore_bundle" in serialize_bundle_v2(canonical)


def test_oms_evidence_that_is_not_a_sigstore_bundle(tmp_path: Path) -> None:
    path = tmp_path / "model.sig"
    path.write_text('{"mediaType": "x"}')
    with pytest.raises(InputError, match=re.escape(f"{path}: not an OMS model signature")):
        oms_evidence(path, step="release")
    with pytest.raises(InputError, match=re.escape("no *.sigstore.json or *.link")):
        collect_evidence_v2(layout_envelope={}, evidence_dirs=[tmp_path])
