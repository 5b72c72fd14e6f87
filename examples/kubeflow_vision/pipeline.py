"""The Kubeflow vision case study: a KFP v2 pipeline, run with the KFP local runner on a CPU.

    python examples/kubeflow_vision/pipeline.py --dir /tmp/kfp-vision [--count 240 --epochs 3]

Five components (``components.py``), each recorded with a simulated TDX quote, C2PA sidecars and
an entry in a local transparency log, as ``layouts/kubeflow-vision.yaml`` lays them out:

1. generate-images  → images (a tar of generated 12×12 PGM images of three shapes, no download)
2. preprocess       → train_data, test_data (decoded, scaled, split; safetensors)
3. train            → model/ (a small CNN; recorded by the PyTorch integration from inside the
                      training loop: every epoch's checkpoint attested in the background)
4. evaluate         → evaluation (accuracy, overall and per class)
5. package          → release/ (the final weights and a model card)

Every component runs in its own process (``local.SubprocessRunner``) and writes its evidence to
its ``atlas_evidence`` output; the bundle gathers those directories. Then the bundle is verified:
as released (passes, with the library and with ``atlas-intoto verify``), with the released
weights swapped for the first epoch's checkpoint (fails check 7, final artifacts), and, from a
second run in which train was handed an attacker's relabelled copy of the training split
instead of preprocess's, with the poisoned data (fails check 3, artifact rules of train).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
from atlas_intoto.home import atlas_home
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.verify.engine import verify_bundle
from atlas_intoto.verify.report import VerificationReport

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LAYOUT_SOURCE = REPO / "layouts" / "kubeflow-vision.yaml"
FUNCTIONARIES = ("owner", "data-eng", "trainer", "evaluator", "release", "log")
BUNDLE_NAME = "kubeflow-vision.atlas.json"
TASKS = ("generate-images", "preprocess", "train", "evaluate", "package")


@dataclass(frozen=True, kw_only=True)
class CaseRun:
    """One verification of the case study: the run it verified and the report."""

    workdir: Path
    run_dir: Path
    bundle: Path
    report: VerificationReport
    metrics: dict[str, Any]


def _components() -> Any:
    # Loaded by path: this directory is not a package, and KFP must import kfp first.
    import importlib.util

    name = "atlas_kfp_vision_components"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "components.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# ---------------------------------------------------------------------------------------------
# Setting up: keys, simulated platform, layout, log
# ---------------------------------------------------------------------------------------------


def prepare_workspace(workdir: Path) -> None:
    """Generate the functionaries' keys (and the C2PA CA) once."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in FUNCTIONARIES:
        if not (workdir / "keys" / f"{name}.key").exists():
            generate_keypair(name, directory=workdir / "keys")


def sign_case_layout(workdir: Path) -> Path:
    """Copy the layout next to the keys, pin the simulated platform, sign with the owner key."""
    from atlas_intoto.tee.simulated import default_directory, ensure_platform

    platform = ensure_platform(default_directory(atlas_home()), now=int(time.time()))
    (workdir / "keys" / "tee-root.pem").write_bytes(platform.root_pem)
    doc = yaml.safe_load(LAYOUT_SOURCE.read_text())
    doc["trust"]["tee"]["roots"] = ["keys/tee-root.pem"]
    for step in doc["steps"]:
        policy = step.get("tee", {})
        if "mrtd" in policy:
            policy["mrtd"] = [platform.mr_td.hex()]
        if "rtmr" in policy:
            policy["rtmr"] = {"3": [platform.rtmr[3].hex()]}
    source = workdir / "layout.yaml"
    source.write_text(yaml.safe_dump(doc, sort_keys=False))
    envelope = sign_layout(load_and_pin(source), [load_signer(workdir / "keys" / "owner.key")])
    signed = workdir / "kubeflow-vision.layout"
    signed.write_bytes(envelope)
    return signed


@contextlib.contextmanager
def local_log(workdir: Path) -> Iterator[str]:
    """A transparency log (``atlas-intoto log serve``) on loopback for the run's duration."""
    from atlas_intoto.tlog.serving import log_server_process

    with log_server_process(workdir / "log.db", workdir / "keys" / "log.key") as url:
        yield url


# ---------------------------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------------------------


def run_pipeline(
    workdir: Path, *, count: int = 240, epochs: int = 3, poisoned: bool = False
) -> tuple[Path, Path]:
    """Run the pipeline with the KFP local runner; return (the run's folder, the bundle)."""
    from kfp import local

    workdir = workdir.resolve()
    prepare_workspace(workdir)
    layout = sign_case_layout(workdir)
    keys, root = workdir / "keys", workdir / "artifacts"
    saved_path = os.environ.get("PATH", "")
    # The subprocess runner starts `python3`: make that this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{saved_path}"
    try:
        with local_log(workdir) as log_url:

            def options(functionary: str) -> RecordingOptions:
                return RecordingOptions(
                    key_path=keys / f"{functionary}.key",
                    base_path=root,
                    tee="simulated",
                    c2pa=True,
                    log_url=log_url,
                )

            pipeline = _components().build_pipeline(
                options, poisoned=poisoned, install_kfp_package=False, base_image="python:3.11"
            )
            local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
            pipeline(count=count, epochs=epochs)
    finally:
        os.environ["PATH"] = saved_path
    (run_dir,) = sorted(root.glob(f"{_components().PIPELINE_NAME}-*"))
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(layout.read_bytes()),
        evidence_dirs=[run_dir / task / "atlas_evidence" for task in TASKS],
    )
    path = workdir / BUNDLE_NAME
    path.write_bytes(serialize_bundle_v2(bundle))
    return run_dir, path


def verify(workdir: Path, bundle: Path, artifacts: Path) -> VerificationReport:
    """The consumer's verification: the owner's key, the bundle, the files received."""
    owner = (workdir / "keys" / "owner.pub").read_bytes()
    return verify_bundle(
        bundle.read_bytes(), layout_keys=[owner], artifacts_dir=artifacts, source=str(bundle)
    )


def gate(workdir: Path, bundle: Path, consumers: dict[str, Path]) -> dict[str, bool]:
    """Deploy through the verification service (``atlas-intoto serve``, the owner's key as
    its default policy, on loopback in this process): the gate's verdict per consumer folder."""
    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.client import artifact_digests, request_verdict
    from atlas_intoto.service.config import DEFAULT_POLICY, quick_config
    from atlas_intoto.tlog.serving import serve_in_thread

    document = json.loads(bundle.read_bytes())
    app = create_app(lambda: quick_config([workdir / "keys" / "owner.pub"]))
    verdicts: dict[str, bool] = {}
    with serve_in_thread(app, name="atlas-service") as url:
        for name, folder in consumers.items():
            request = {
                "policy": DEFAULT_POLICY,
                "bundle": document,
                "artifacts": artifact_digests(folder),
            }
            verdicts[name] = request_verdict(url, request)["ok"] is True
    return verdicts


def release_copy(run_dir: Path, consumer: Path) -> Path:
    """What a consumer receives: the release folder, at the path the links record for it
    (relative to the pipeline root: ``<run>/package/release/``)."""
    target = consumer / run_dir.name / "package" / "release"
    shutil.copytree(run_dir / "package" / "release", target, dirs_exist_ok=True)
    return consumer


def swapped_model_copy(run_dir: Path, consumer: Path) -> Path:
    """The release with its weights replaced in transit by the first (under-trained) epoch's."""
    release_copy(run_dir, consumer)
    first = run_dir / "train" / "model" / "checkpoints" / "epoch-1.safetensors"
    shutil.copy2(first, consumer / run_dir.name / "package" / "release" / "model.safetensors")
    return consumer


def run_case_study(base: Path, *, count: int = 240, epochs: int = 3) -> dict[str, CaseRun]:
    """Clean run, swapped-model consumer, poisoned-data run: their verification reports."""
    results: dict[str, CaseRun] = {}
    clean = base / "clean"
    run_dir, bundle = run_pipeline(clean, count=count, epochs=epochs)
    metrics = json.loads((run_dir / "evaluate" / "evaluation").read_text())
    for name, consumer in (
        ("clean", release_copy(run_dir, base / "consumer-clean")),
        ("swapped-model", swapped_model_copy(run_dir, base / "consumer-swapped")),
    ):
        report = verify(clean, bundle, consumer)
        results[name] = CaseRun(
            workdir=clean, run_dir=run_dir, bundle=bundle, report=report, metrics=metrics
        )
    poisoned = base / "poisoned"
    run_dir, bundle = run_pipeline(poisoned, count=count, epochs=epochs, poisoned=True)
    results["poisoned-dataset"] = CaseRun(
        workdir=poisoned,
        run_dir=run_dir,
        bundle=bundle,
        report=verify(poisoned, bundle, release_copy(run_dir, base / "consumer-poisoned")),
        metrics=json.loads((run_dir / "evaluate" / "evaluation").read_text()),
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="attested Kubeflow vision case study")
    parser.add_argument("--dir", type=Path, default=Path("kfp-vision-case"))
    parser.add_argument("--count", type=int, default=240, help="images generated")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    results = run_case_study(args.dir, count=args.count, epochs=args.epochs)
    expected = {"clean": True, "swapped-model": False, "poisoned-dataset": False}
    for name, run in results.items():
        print(f"== {name}: bundle {run.bundle}, test accuracy {run.metrics['accuracy']:.3f}")
        print(run.report.text())
    clean = results["clean"]
    verdicts = gate(
        clean.workdir,
        clean.bundle,
        {"clean": args.dir / "consumer-clean", "swapped-model": args.dir / "consumer-swapped"},
    )
    for name, admitted in verdicts.items():
        print(f"== gate, {name}: {'DEPLOY' if admitted else 'REFUSED'}")
    ok = all(results[n].report.ok == want for n, want in expected.items())
    return 0 if ok and verdicts == {"clean": True, "swapped-model": False} else 1


if __name__ == "__main__":
    sys.exit(main())
