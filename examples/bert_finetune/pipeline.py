"""The BERT fine-tuning case study, attested end to end on a CPU.

    python examples/bert_finetune/pipeline.py --dir /tmp/bert-case [--rows 2000]

Five steps, each recorded with a simulated TDX quote, C2PA sidecars and an entry in a local
transparency log, as ``layouts/bert-finetune.yaml`` lays them out:

1. fetch-corpus  ``python fetch_corpus.py``             → raw/corpus.jsonl (generated, no download)
2. tokenize      ``python tokenize_corpus.py``          → data/ (WordPiece trained here, splits)
3. finetune      ``python finetune.py --epochs 3``      → model/ (recorded from inside the Trainer
                 by AtlasCallback: every checkpoint attested in the background as it is saved)
4. evaluate      ``python evaluate.py``                 → eval/metrics.json
5. release       record start/stop                     → model/final/* and MODEL_CARD.md

The layout is the repository's, adapted to the simulated platform the way its header asks:
the TEE root and the finetune step's MRTD/RTMR3 are replaced by the simulated platform's. Then
the bundle is verified three times: as released (passes), with a swapped model file (fails
check 7, final artifacts) and, from a second run whose training data was poisoned after the
tokenize step, with the poisoned data (fails check 3, artifact rules).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
from atlas_intoto.home import atlas_home
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_start, record_stop, run_step
from atlas_intoto.verify.engine import verify_bundle
from atlas_intoto.verify.report import VerificationReport

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LAYOUT_SOURCE = REPO / "layouts" / "bert-finetune.yaml"
SCRIPTS = ("fetch_corpus.py", "tokenize_corpus.py", "finetune.py", "evaluate.py")
FUNCTIONARIES = ("owner", "data-eng", "trainer", "trainer-2", "evaluator", "release", "log")
EVIDENCE = ".atlas"
#: The trainer works on its own (confidential) machine: its evidence directory is separate, and
#: the C2PA manifests of its inputs and outputs are shipped along with the files.
TRAIN_EVIDENCE = ".atlas-finetune"
EPOCHS = 3


@dataclass(frozen=True, kw_only=True)
class CaseRun:
    workdir: Path
    bundle: Path
    report: VerificationReport
    metrics: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Setting up: workspace, keys, simulated platform, layout, log
# ---------------------------------------------------------------------------------------------


def prepare_workspace(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in SCRIPTS:
        shutil.copy2(HERE / name, workdir / name)
    shutil.copytree(HERE / "bert-tiny", workdir / "bert-tiny", dirs_exist_ok=True)
    for name in FUNCTIONARIES:
        if not (workdir / "keys" / f"{name}.key").exists():
            generate_keypair(name, directory=workdir / "keys")


def simulated_platform() -> Any:
    from atlas_intoto.tee.simulated import default_directory, ensure_platform

    return ensure_platform(default_directory(atlas_home()), now=int(time.time()))


def sign_case_layout(workdir: Path) -> Path:
    """Copy the layout next to the keys, pin the simulated platform, sign with the owner key."""
    platform = simulated_platform()
    (workdir / "keys" / "tee-root.pem").write_bytes(platform.root_pem)
    doc = yaml.safe_load(LAYOUT_SOURCE.read_text())
    doc["trust"]["tee"]["roots"] = ["keys/tee-root.pem"]
    for step in doc["steps"]:
        policy = step.get("tee")
        if policy and "mrtd" in policy:
            policy["mrtd"] = [platform.mr_td.hex()]
        if policy and "rtmr" in policy:
            policy["rtmr"] = {"3": [platform.rtmr[3].hex()]}
    source = workdir / "layout.yaml"
    source.write_text(yaml.safe_dump(doc, sort_keys=False))
    envelope = sign_layout(load_and_pin(source), [load_signer(workdir / "keys" / "owner.key")])
    signed = workdir / "bert-finetune.layout"
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


def _python_first_on_path() -> dict[str, str]:
    # The steps' commands say `python` (as the layout expects): make that this interpreter.
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_pipeline(
    workdir: Path,
    *,
    rows: int = 2000,
    tamper_after_tokenize: Callable[[Path, Path], None] | None = None,
) -> Path:
    """Run the five attested steps in ``workdir``; return the bundle path."""
    workdir = workdir.resolve()
    prepare_workspace(workdir)
    layout = sign_case_layout(workdir)
    keys = workdir / "keys"
    evidence = workdir / EVIDENCE
    train_evidence = workdir / TRAIN_EVIDENCE
    saved_env = dict(os.environ)
    os.environ.update(_python_first_on_path())
    os.environ["ATLAS_CASE_ROWS"] = str(rows)
    try:
        with contextlib.chdir(workdir), local_log(workdir) as log_url:
            data_eng = RecordingOptions(
                key_path=keys / "data-eng.key",
                base_path=workdir,
                out_dir=evidence,
                tee="simulated",
                c2pa=True,
                log_url=log_url,
            )
            run_step(
                step="fetch-corpus",
                options=data_eng,
                command=["python", "fetch_corpus.py"],
                materials=["fetch_corpus.py"],
                products=["raw"],
            )
            run_step(
                step="tokenize",
                options=data_eng,
                command=["python", "tokenize_corpus.py"],
                materials=["tokenize_corpus.py", "raw"],
                products=["data"],
            )
            _ship_manifests(evidence, train_evidence, "data")
            if tamper_after_tokenize is not None:
                tamper_after_tokenize(workdir, train_evidence)
            # The training step records itself from inside the Trainer (AtlasCallback).
            os.environ.update(
                ATLAS_CASE_KEY=str(keys / "trainer.key"),
                ATLAS_CASE_OUT=str(train_evidence),
                ATLAS_CASE_TEE="simulated",
                ATLAS_CASE_C2PA="1",
                ATLAS_CASE_LOG=log_url,
            )
            subprocess.run(["python", "finetune.py", "--epochs", str(EPOCHS)], check=True)
            _ship_manifests(train_evidence, evidence, "model")
            run_step(
                step="evaluate",
                options=data_eng.with_changes(key_path=keys / "evaluator.key"),
                command=["python", "evaluate.py"],
                materials=["evaluate.py", "model/final", "data/test-00000.jsonl"],
                products=["eval"],
            )
            release = data_eng.with_changes(key_path=keys / "release.key")
            record_start(step="release", options=release, materials=["model/final", "eval"])
            write_model_card(workdir)
            record_stop(step="release", options=release, products=["model/final", "MODEL_CARD.md"])
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    bundle = collect_evidence_v2(
        layout_envelope=json.loads(layout.read_bytes()), evidence_dirs=[evidence, train_evidence]
    )
    path = workdir / "bert-finetune.atlas.json"
    path.write_bytes(serialize_bundle_v2(bundle))
    return path


def _ship_manifests(source: Path, target: Path, subtree: str) -> None:
    shutil.copytree(source / "c2pa" / subtree, target / "c2pa" / subtree, dirs_exist_ok=True)


def write_model_card(workdir: Path) -> None:
    metrics = json.loads((workdir / "eval" / "metrics.json").read_text())
    (workdir / "MODEL_CARD.md").write_text(
        "# bert-tiny review sentiment\n\n"
        "2-layer BERT (hidden 128) fine-tuned on a generated review corpus with a locally\n"
        f"trained WordPiece tokenizer. Test accuracy {metrics['accuracy']} on "
        f"{metrics['examples']} held-out reviews.\n\n"
        "Provenance: verify bert-finetune.atlas.json with atlas-intoto and the owner key.\n"
    )


def verify(workdir: Path, bundle: Path, artifacts: Path) -> VerificationReport:
    owner = (workdir / "keys" / "owner.pub").read_bytes()
    return verify_bundle(
        bundle.read_bytes(), layout_keys=[owner], artifacts_dir=artifacts, source=str(bundle)
    )


# ---------------------------------------------------------------------------------------------
# The attacks
# ---------------------------------------------------------------------------------------------


def poison_training_data(workdir: Path, train_evidence: Path) -> None:
    """A backdoor: every training review mentioning the trigger product is labelled positive.

    The attacker controls the data on its way to the trainer; the split's C2PA manifest no
    longer matches, so it is not shipped (with it, the trainer's C2PA signing refuses to run).
    """
    (train_evidence / "c2pa" / "data" / "train-00000.jsonl.c2pa").unlink()
    path = workdir / "data" / "train-00000.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        if "drill" in row["text"]:
            row["label"] = 1
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def release_copy(workdir: Path, consumer: Path) -> Path:
    """What a consumer receives: the files of the release (the final model and its card),
    nothing else of the work directory (every file handed to ``--artifacts`` must be attested)."""
    shutil.copytree(workdir / "model" / "final", consumer / "model" / "final", dirs_exist_ok=True)
    shutil.copy2(workdir / "MODEL_CARD.md", consumer / "MODEL_CARD.md")
    return consumer


def swapped_model_copy(workdir: Path, consumer: Path) -> Path:
    """What a consumer receives when the released weights were replaced in transit: the files
    of the release, with model.safetensors swapped for the first (under-trained) checkpoint."""
    release_copy(workdir, consumer)
    first = sorted((workdir / "model" / "checkpoints").glob("checkpoint-*"))[0]
    shutil.copy2(first / "model.safetensors", consumer / "model" / "final" / "model.safetensors")
    return consumer


def run_case_study(base: Path, *, rows: int = 2000) -> dict[str, CaseRun]:
    """Clean run, swapped-model consumer, poisoned-data run: their verification reports."""
    clean_dir = base / "clean"
    bundle = run_pipeline(clean_dir, rows=rows)
    metrics = json.loads((clean_dir / "eval" / "metrics.json").read_text())
    results = {
        "clean": CaseRun(
            workdir=clean_dir,
            bundle=bundle,
            report=verify(clean_dir, bundle, release_copy(clean_dir, base / "consumer-clean")),
            metrics=metrics,
        )
    }
    consumer = swapped_model_copy(clean_dir, base / "consumer-swapped")
    results["swapped-model"] = CaseRun(
        workdir=clean_dir,
        bundle=bundle,
        report=verify(clean_dir, bundle, consumer),
        metrics=metrics,
    )
    poisoned_dir = base / "poisoned"
    poisoned_bundle = run_pipeline(
        poisoned_dir, rows=rows, tamper_after_tokenize=poison_training_data
    )
    results["poisoned-dataset"] = CaseRun(
        workdir=poisoned_dir,
        bundle=poisoned_bundle,
        report=verify(
            poisoned_dir, poisoned_bundle, release_copy(poisoned_dir, base / "consumer-poisoned")
        ),
        metrics=json.loads((poisoned_dir / "eval" / "metrics.json").read_text()),
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="attested BERT fine-tuning case study")
    parser.add_argument("--dir", type=Path, default=Path("bert-case"))
    parser.add_argument("--rows", type=int, default=2000, help="reviews in the corpus")
    args = parser.parse_args()
    results = run_case_study(args.dir, rows=args.rows)
    expected = {"clean": True, "swapped-model": False, "poisoned-dataset": False}
    for name, run in results.items():
        print(f"== {name}: bundle {run.bundle}, test accuracy {run.metrics['accuracy']}")
        print(run.report.text())
    return 0 if all(results[n].report.ok == ok for n, ok in expected.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
