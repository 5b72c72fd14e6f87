"""Builds small attested pipelines (keys, layout, evidence, bundle) for verifier tests.

Used by tests/verify/conftest.py, tests/verify/test_tamper.py and the vector generator. Three steps:
prepare (src/prepare.py → data/train.csv, data/test.csv), train (data/train.csv, src/train.py →
model/model.npz), package (model/model.npz → dist/model.npz). Evidence is recorded with
``atlas_intoto.step.record_step``; TEE (simulated), C2PA and the transparency log are optional.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from atlas_intoto.bundle import collect_evidence, serialize_bundle
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout

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
            "MATCH data/train.csv WITH PRODUCTS FROM prepare",
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
IO: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "prepare": (("src/prepare.py",), ("data/train.csv", "data/test.csv")),
    "train": (("data/train.csv", "src/train.py"), ("model/model.npz",)),
    "package": (("model/model.npz",), ("dist/model.npz",)),
}
KEY_NAMES = ("owner", "data-eng", "trainer", "release", "mallory")
#: what build_pipeline(private=True) keeps private
PRIVATE = ("data/*",)


@dataclass
class Pipeline:
    root: Path
    keys: Path
    work: Path
    evidence: Path
    layout_source: Path
    layout_file: Path
    bundle_file: Path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def owner_pem(self) -> bytes:
        return (self.keys / "owner.pub").read_bytes()

    def bundle_bytes(self) -> bytes:
        return self.bundle_file.read_bytes()

    def bundle_doc(self) -> dict[str, Any]:
        return json.loads(self.bundle_file.read_bytes())  # type: ignore[no-any-return]


def make_keys(keys: Path) -> None:
    keys.mkdir(parents=True, exist_ok=True)
    for name in KEY_NAMES:
        if not (keys / f"{name}.key").exists():
            generate_keypair(name, directory=keys)


def write_inputs(work: Path, *, seed: str = "1") -> None:
    (work / "src").mkdir(parents=True, exist_ok=True)
    for script in ("prepare.py", "train.py"):
        (work / "src" / script).write_text(f"# {script}\n")
    (work / "data").mkdir(exist_ok=True)
    (work / "data" / "train.csv").write_text(f"x,y\n1,{seed}\n2,4\n")
    (work / "data" / "test.csv").write_text("x,y\n3,6\n")
    (work / "model").mkdir(exist_ok=True)
    (work / "model" / "model.npz").write_bytes(b"MODEL-" + seed.encode())
    (work / "dist").mkdir(exist_ok=True)


def layout_source(
    *,
    steps: Sequence[Mapping[str, Any]] = STEPS,
    expires: str = "2099-01-01T00:00:00Z",
    trust: Mapping[str, Any] | None = None,
    step_extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    out_steps = []
    for step in steps:
        entry = dict(step)
        entry.update((step_extra or {}).get(step["name"], {}))
        out_steps.append(entry)
    doc: dict[str, Any] = {
        "apiVersion": "atlas-intoto/v1",
        "kind": "Layout",
        "expires": expires,
        "readme": "test pipeline",
        "functionaries": {
            "data-eng": "keys/data-eng.pub",
            "trainer": "keys/trainer.pub",
            "release": "keys/release.pub",
        },
        "steps": out_steps,
    }
    if trust:
        doc["trust"] = dict(trust)
    return doc


def sign_source(
    root: Path, doc: Mapping[str, Any], *, name: str = "layout", owner: str = "owner"
) -> Path:
    source = root / f"{name}.yaml"
    source.write_text(yaml.safe_dump(dict(doc), sort_keys=False))
    signed = root / f"{name}.layout"
    signed.write_bytes(
        sign_layout(load_and_pin(source), [load_signer(root / "keys" / f"{owner}.key")])
    )
    return signed


def record(
    pipeline: Pipeline,
    step: str,
    *,
    key: str | None = None,
    out: Path | None = None,
    command: Sequence[str] | None = None,
    materials: Sequence[str] | None = None,
    products: Sequence[str] | None = None,
) -> Any:
    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step import record_step

    opts = pipeline.options
    default_key = {"prepare": "data-eng", "train": "trainer", "package": "release"}.get(
        step, "data-eng"
    )
    mats, prods = IO.get(step, ((), ()))
    if step == "package":
        shutil.copyfile(pipeline.work / "model" / "model.npz", pipeline.work / "dist" / "model.npz")
    options = RecordingOptions(
        key_path=pipeline.keys / f"{key or default_key}.key",
        base_path=pipeline.work,
        out_dir=out or pipeline.evidence,
        tee="simulated" if opts.get("tee") else "none",
        c2pa=bool(opts.get("c2pa")),
        log_url=opts.get("log_url"),
        digests=tuple(opts.get("digests", ("sha256",))),
        # a confidential pipeline (docs/confidentiality.md): datasets as salted commitments
        private=PRIVATE if opts.get("private") else (),
        private_secret=pipeline.keys / "pipeline.secret" if opts.get("private") else None,
    )
    return record_step(
        step=step,
        options=options,
        materials=list(materials if materials is not None else mats),
        products=list(products if products is not None else prods),
        command=list(command if command is not None else ["python", f"{step}.py"]),
    )


def make_bundle(
    pipeline: Pipeline, *, evidence: Sequence[Path] | None = None, out: Path | None = None
) -> Path:
    envelope = json.loads(pipeline.layout_file.read_bytes())
    bundle = collect_evidence(
        layout_envelope=envelope, evidence_dirs=list(evidence or [pipeline.evidence])
    )
    target = out or pipeline.bundle_file
    target.write_bytes(serialize_bundle(bundle))
    return target


def new_pipeline(root: Path, *, seed: str = "1") -> Pipeline:
    """Keys and inputs under ``root`` and the Pipeline naming its files; nothing recorded."""
    make_keys(root / "keys")
    write_inputs(root / "work", seed=seed)
    return Pipeline(
        root=root,
        keys=root / "keys",
        work=root / "work",
        evidence=root / "evidence",
        layout_source=root / "layout.yaml",
        layout_file=root / "layout.layout",
        bundle_file=root / "bundle.atlas.json",
    )


def build_pipeline(
    root: Path,
    *,
    tee: bool = False,
    c2pa: bool = False,
    log_url: str | None = None,
    log_key: Path | None = None,
    tee_root_pem: Path | None = None,
    mrtd: str | None = None,
    keys: Path | None = None,
    seed: str = "1",
    private: bool = False,
) -> Pipeline:
    """Keys, inputs, signed layout, the three steps recorded, and the bundle. ``private``:
    the datasets are private (a public bundle over commitments; docs/confidentiality.md)."""
    root.mkdir(parents=True, exist_ok=True)
    key_dir = root / "keys"
    if keys is not None and not key_dir.exists():
        shutil.copytree(keys, key_dir)
    make_keys(key_dir)
    work = root / "work"
    write_inputs(work, seed=seed)
    trust: dict[str, Any] = {}
    extra: dict[str, dict[str, Any]] = {}
    if log_key is not None:
        trust["logs"] = [{"key": str(log_key)}]
    if tee:
        assert tee_root_pem is not None
        trust["tee"] = {"roots": [str(tee_root_pem)], "allow_tcb_status": ["UpToDate"]}
        for step in ("prepare", "train", "package"):
            extra.setdefault(step, {})["tee"] = {
                "required": True,
                **({"mrtd": [mrtd]} if mrtd else {}),
            }
    if c2pa:
        trust["c2pa"] = {"anchors": ["keys/ca.crt"]}
        for step in ("prepare", "train", "package"):
            extra.setdefault(step, {})["c2pa"] = {"required": True}
    pipeline = Pipeline(
        root=root,
        keys=key_dir,
        work=work,
        evidence=root / "evidence",
        layout_source=root / "layout.yaml",
        layout_file=root / "layout.layout",
        bundle_file=root / "bundle.atlas.json",
        options={"tee": tee, "c2pa": c2pa, "log_url": log_url, "private": private},
    )
    source = layout_source(trust=trust, step_extra=extra)
    if private:
        from atlas_intoto.confidential.secret import generate_secret

        source["private"] = list(PRIVATE)
        if not (key_dir / "pipeline.secret").exists():
            generate_secret(key_dir / "pipeline.secret")
    sign_source(root, source)
    for step in ("prepare", "train", "package"):
        record(pipeline, step)
    make_bundle(pipeline)
    return pipeline
