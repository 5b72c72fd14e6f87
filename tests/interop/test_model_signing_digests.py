"""Interoperability with OpenSSF model-signing's manifests (its Python API, the real library).

model-signing hashes a model directory file by file (``use_file_serialization``) with SHA-256
or BLAKE3; each file's digest is the plain digest of its bytes, as in our links. A
model-signing manifest's per-file digests therefore equal what ``measure`` records, and satisfy
MATCH rules against our links over the algorithm both carry.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atlas_intoto.measure import measure
from atlas_intoto.verify.checks.rules import SharedDigests

hashing = pytest.importorskip("model_signing.hashing")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "shards").mkdir(parents=True)
    (root / "config.json").write_bytes(b'{"layers": 2}\n')
    (root / "shards" / "part-1.safetensors").write_bytes(os.urandom(3 * (1 << 20) + 7))
    (root / "shards" / "part-2.safetensors").write_bytes(os.urandom(70_000))
    (root / "empty.txt").write_bytes(b"")
    return root


def _model_signing(root: Path, algorithm: str) -> dict[str, dict[str, str]]:
    config = hashing.Config().use_file_serialization(hashing_algorithm=algorithm)
    manifest = config.hash(root)
    out: dict[str, dict[str, str]] = {}
    for descriptor in manifest.resource_descriptors():
        out[str(descriptor.identifier)] = {
            descriptor.digest.algorithm: descriptor.digest.digest_hex
        }
    return out


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
def test_model_signing_manifest_digests_equal_ours(model: Path, algorithm: str) -> None:
    theirs = _model_signing(model, algorithm)
    ours = measure(["."], base_path=model, algorithms=(algorithm,))
    assert theirs == ours
    assert set(ours) == {
        "config.json",
        "empty.txt",
        "shards/part-1.safetensors",
        "shards/part-2.safetensors",
    }


def test_a_blake3_manifest_matches_a_link_recording_both_algorithms(model: Path) -> None:
    theirs = _model_signing(model, "blake3")
    ours = measure(["."], base_path=model, algorithms=("sha256", "blake3"))
    for path, digests in ours.items():
        assert SharedDigests(digests) == SharedDigests(theirs[path])
    (model / "config.json").write_bytes(b'{"layers": 3}\n')
    changed = measure(["config.json"], base_path=model, algorithms=("sha256", "blake3"))
    assert SharedDigests(changed["config.json"]) != SharedDigests(theirs["config.json"])
