"""A small confidential pipeline for the tests of atlas_intoto.confidential: three steps
(prepare → train → package) whose datasets ``data/*`` are private (salted commitments), the
released model in clear. Recorded with the library; bundles for both audiences."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from atlas_intoto.bundle import Bundle, collect_evidence, serialize_bundle
from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
from atlas_intoto.confidential.audience import collect_openings, for_audience
from atlas_intoto.confidential.secret import generate_secret
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import RecordedStep, record_step

PRIVATE = ("data/*",)
STEPS: tuple[dict[str, Any], ...] = (
    {
        "name": "prepare",
        "functionaries": ["data-eng"],
        "materials": ["ALLOW src/*", "DISALLOW *"],
        "products": ["CREATE data/*", "DISALLOW *"],
    },
    {
        "name": "train",
        "functionaries": ["trainer"],
        "materials": [
            "MATCH data/* WITH PRODUCTS FROM prepare",
            "ALLOW src/*",
            "DISALLOW *",
        ],
        "products": ["CREATE model/*", "DISALLOW *"],
    },
    {
        "name": "package",
        "functionaries": ["release"],
        "materials": ["MATCH model/* WITH PRODUCTS FROM train", "DISALLOW *"],
        "products": ["CREATE dist/*", "DISALLOW *"],
    },
)
IO = {
    "prepare": (("src/prepare.py",), ("data/train.csv", "data/test.csv")),
    "train": (("data/train.csv", "src/train.py"), ("model/model.npz",)),
    "package": (("model/model.npz",), ("dist/model.npz",)),
}
KEYS = {"prepare": "data-eng", "train": "trainer", "package": "release"}
#: the private files' contents (tests search bundles and logs for their digests)
TRAIN_CSV = b"x,y\n1,2\n2,4\nsecret-row-7\n"
TEST_CSV = b"x,y\n3,6\n"


@dataclass
class Confidential:
    root: Path
    keys: Path
    work: Path
    evidence: Path
    layout_file: Path
    secret: Path
    log_url: str | None = None

    @property
    def owner_pem(self) -> bytes:
        return (self.keys / "owner.pub").read_bytes()

    def options(self, step: str, **changes: Any) -> RecordingOptions:
        base = RecordingOptions(
            key_path=self.keys / f"{KEYS.get(step, 'data-eng')}.key",
            base_path=self.work,
            out_dir=self.evidence,
            log_url=self.log_url,
            private=PRIVATE,
            private_secret=self.secret,
        )
        return base.with_changes(**changes)

    def record(self, step: str, **changes: Any) -> RecordedStep:
        materials, products = IO[step]
        if step == "package":
            shutil.copyfile(self.work / "model" / "model.npz", self.work / "dist" / "model.npz")
        return record_step(
            step=step,
            options=self.options(step, **changes),
            materials=list(materials),
            products=list(products),
            command=["python", f"{step}.py"],
        )

    def bundle(self, audience: str = "public", *, fmt: str = "v1") -> bytes:
        envelope = json.loads(self.layout_file.read_bytes())
        collected: Bundle
        if fmt == "v2":
            collected = collect_evidence_v2(layout_envelope=envelope, evidence_dirs=[self.evidence])
        else:
            collected = collect_evidence(layout_envelope=envelope, evidence_dirs=[self.evidence])
        openings = collect_openings([self.evidence], collected)
        shaped = for_audience(collected, audience, openings)
        return serialize_bundle_v2(shaped) if fmt == "v2" else serialize_bundle(shaped)

    def openings_files(self) -> list[Path]:
        return sorted(self.evidence.glob("*.openings.json"))


def _ensure_fixed(fixed: Path) -> None:
    fixed.mkdir(parents=True, exist_ok=True)
    for name in ("owner", "data-eng", "trainer", "release"):
        if not (fixed / f"{name}.key").exists():
            generate_keypair(name, directory=fixed)
    if not (fixed / "pipeline.secret").exists():
        generate_secret(fixed / "pipeline.secret")


def write_inputs(work: Path) -> None:
    (work / "src").mkdir(parents=True, exist_ok=True)
    for script in ("prepare.py", "train.py"):
        (work / "src" / script).write_text(f"# {script}\n")
    (work / "data").mkdir(exist_ok=True)
    (work / "data" / "train.csv").write_bytes(TRAIN_CSV)
    (work / "data" / "test.csv").write_bytes(TEST_CSV)
    (work / "model").mkdir(exist_ok=True)
    (work / "model" / "model.npz").write_bytes(b"MODEL-1")
    (work / "dist").mkdir(exist_ok=True)


def sign_layout_file(
    root: Path,
    keys: Path,
    *,
    steps: Sequence[dict[str, Any]] = STEPS,
    private: Sequence[str] = PRIVATE,
    trust: dict[str, Any] | None = None,
) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "atlas-intoto/v1",
        "kind": "Layout",
        "expires": "2099-01-01T00:00:00Z",
        "readme": "confidential test pipeline",
        "private": list(private),
        "functionaries": {name: f"keys/{name}.pub" for name in ("data-eng", "trainer", "release")},
        "steps": [dict(s) for s in steps],
    }
    if trust:
        doc["trust"] = trust
    source = root / "layout.yaml"
    source.write_text(yaml.safe_dump(doc, sort_keys=False))
    signed = root / "layout.layout"
    signed.write_bytes(sign_layout(load_and_pin(source), [load_signer(keys / "owner.key")]))
    return signed


def build(
    root: Path,
    *,
    log_url: str | None = None,
    log_key: Path | None = None,
    record: bool = True,
    fixed: Path | None = None,
) -> Confidential:
    """Keys, inputs, the pipeline secret, the signed layout and (unless ``record`` is false)
    the three steps recorded. ``fixed``: a directory of keys and ``pipeline.secret`` to reuse
    (created there on first use; the vectors' fixed keys)."""
    keys = root / "keys"
    if fixed is not None:
        _ensure_fixed(fixed)
        shutil.copytree(fixed, keys)
    else:
        keys.mkdir(parents=True, exist_ok=True)
        for name in ("owner", "data-eng", "trainer", "release"):
            generate_keypair(name, directory=keys)
        generate_secret(keys / "pipeline.secret")
    write_inputs(root / "work")
    secret = keys / "pipeline.secret"
    trust = {"logs": [{"key": str(log_key)}]} if log_key is not None else None
    pipeline = Confidential(
        root=root,
        keys=keys,
        work=root / "work",
        evidence=root / "evidence",
        layout_file=sign_layout_file(root, keys, trust=trust),
        secret=secret,
        log_url=log_url,
    )
    if record:
        for step in ("prepare", "train", "package"):
            pipeline.record(step)
    return pipeline
