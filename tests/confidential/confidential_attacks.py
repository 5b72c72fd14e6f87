"""Attacks on confidential bundles, each with the check and error class that
must catch it first. Shared by tests/confidential/vectors/generate.py (fixed keys → JSON
vectors, replayed by test_confidential_vectors.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confidential_builder import STEPS, Confidential, build, sign_layout_file


@dataclass
class Case:
    bundle: dict[str, Any]
    #: the files the verifier holds (None: not compared)
    artifacts: Path | None = None


@dataclass(frozen=True)
class Attack:
    name: str
    description: str
    check: str
    error: str
    build: Callable[[Confidential, Path], Case]


def _auditor(pipeline: Confidential) -> dict[str, Any]:
    return json.loads(pipeline.bundle("auditor"))  # type: ignore[no-any-return]


def _opening(doc: dict[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    return next((c, e) for c, e in doc["openings"]["openings"].items() if e["path"] == path)


def _forged(pipeline: Confidential, tmp: Path) -> Case:
    doc = _auditor(pipeline)
    _opening(doc, "data/train.csv")[1]["digests"]["sha256"] = "0" * 64
    return Case(bundle=doc)


def _salt_reused(pipeline: Confidential, tmp: Path) -> Case:
    doc = _auditor(pipeline)
    _opening(doc, "data/test.csv")[1]["salt"] = _opening(doc, "data/train.csv")[1]["salt"]
    return Case(bundle=doc)


def _removed(pipeline: Confidential, tmp: Path) -> Case:
    doc = _auditor(pipeline)
    del doc["openings"]["openings"][_opening(doc, "data/train.csv")[0]]
    return Case(bundle=doc)


def _swapped(pipeline: Confidential, tmp: Path) -> Case:
    held = tmp / "held"
    shutil.copytree(pipeline.work, held)
    (held / "data" / "train.csv").write_bytes(b"x,y\n9,9\n")
    return Case(bundle=_auditor(pipeline), artifacts=held)


def _extra_opening(pipeline: Confidential, tmp: Path) -> Case:
    """An auditor bundle with an opening of no commitment of the links, vouching for a swapped
    released model: it must not exempt the model from comparison."""
    evil = b"BACKDOORED-MODEL"
    held = tmp / "held"
    shutil.copytree(pipeline.work, held)
    (held / "dist" / "model.npz").write_bytes(evil)
    doc = _auditor(pipeline)
    doc["openings"]["openings"]["ab" * 32] = {
        "salt": "cd" * 32,
        "path": "dist/model.npz",
        "digests": {"sha256": hashlib.sha256(evil).hexdigest()},
    }
    return Case(bundle=doc, artifacts=held)


def _private_file_absent(pipeline: Confidential, tmp: Path) -> Case:
    held = tmp / "held"
    shutil.copytree(pipeline.work, held)
    (held / "data" / "train.csv").unlink()
    return Case(bundle=_auditor(pipeline), artifacts=held)


def _between_steps(pipeline: Confidential, tmp: Path) -> Case:
    other = build(tmp / "rerun", fixed=pipeline.keys, record=False)
    other.record("prepare")
    (other.work / "data" / "train.csv").write_bytes(b"x,y\npoisoned\n")
    other.record("train")
    other.record("package")
    return Case(bundle=json.loads(other.bundle("public")))


def _blurred_rules(pipeline: Confidential, tmp: Path) -> Case:
    """Two private patterns: train ``ALLOW raw/*`` as well as ``MATCH data/* ... FROM
    prepare``. A public verifier applies both to every committed name, so a dataset swapped
    between prepare and train passes it (docs/confidentiality.md); the auditor must not."""
    steps = [dict(s) for s in STEPS]
    steps[1]["materials"] = [
        "MATCH data/* WITH PRODUCTS FROM prepare",
        "ALLOW raw/*",
        "ALLOW src/*",
        "DISALLOW *",
    ]
    other = build(tmp / "rerun", fixed=pipeline.keys, record=False)
    other.layout_file = sign_layout_file(
        other.root, other.keys, steps=steps, private=("data/*", "raw/*")
    )
    other.record("prepare")
    (other.work / "data" / "train.csv").write_bytes(b"x,y\npoisoned\n")
    other.record("train")
    other.record("package")
    return Case(bundle=json.loads(other.bundle("auditor")))


ATTACKS = (
    Attack(
        "opening-forged",
        "an opening of data/train.csv with another digest under the same commitment",
        "artifacts",
        "ForgedCommitmentError",
        _forged,
    ),
    Attack(
        "opening-salt-reused",
        "the salt of data/train.csv copied onto the opening of data/test.csv",
        "artifacts",
        "ReusedCommitmentError",
        _salt_reused,
    ),
    Attack(
        "opening-removed",
        "the opening prepare and train need removed from an auditor bundle",
        "artifacts",
        "MissingOpeningError",
        _removed,
    ),
    Attack(
        "private-dataset-swapped",
        "the auditor's data/train.csv is not the dataset the pipeline committed to",
        "artifacts",
        "OpeningMismatchError",
        _swapped,
    ),
    Attack(
        "opening-extra-vouches-for-model",
        "an auditor bundle adds an opening of no recorded commitment naming dist/model.npz "
        "with the digest of a swapped model",
        "artifacts",
        "FinalArtifactError",
        _extra_opening,
    ),
    Attack(
        "private-file-absent",
        "the auditor's --artifacts directory lacks the opened data/train.csv",
        "artifacts",
        "MissingPrivateFileError",
        _private_file_absent,
    ),
    Attack(
        "auditor-rules-over-clear-paths",
        "a dataset swapped between prepare and train under a layout whose two private "
        "patterns have different rules (ALLOW raw/*): the auditor applies them to the paths",
        "artifacts",
        "ArtifactRuleError",
        _blurred_rules,
    ),
    Attack(
        "dataset-swapped-between-steps",
        "train consumed another data/train.csv than prepare produced (public bundle)",
        "rules",
        "ArtifactRuleError",
        _between_steps,
    ),
)
