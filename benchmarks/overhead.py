"""Benchmark: training overhead of attestation (section ``## Training overhead`` of RESULTS.md).

    .venv/bin/python benchmarks/overhead.py            # measure and update benchmarks/RESULTS.md
    .venv/bin/python benchmarks/overhead.py --quick    # small and short, no RESULTS.md update

The case study's fine-tuning (examples/bert_finetune: tiny BERT, locally trained tokenizer,
checkpoint every epoch) runs with attestation off and on, interleaved in one process (the arm
order alternates between repetitions, after an uncounted warm-up run). "On" is the real thing:
AtlasCallback with a simulated TDX quote, C2PA sidecars and publication to a transparency log
served by ``atlas-intoto log serve`` on loopback, for every checkpoint (in the background) and
for the run's link at the end. An epoch is timed from its start to the end of its checkpoint
save, including every callback's ``on_save``; the end-of-run finalisation (final model save,
waiting for pending attestations, the run's link) is reported separately.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import python_cpus_machine, write_section

HERE = Path(__file__).resolve().parent
# Run as a script, this directory is sys.path[0], and its c2pa.py (the C2PA benchmark) would
# shadow the c2pa package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
EXAMPLE = HERE.parent / "examples" / "bert_finetune"
SECTION = "## Training overhead"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _run_arm(
    finetune: ModuleType, *, attest: bool, epochs: int, workdir: Path, log_url: str
) -> dict[str, Any]:
    from atlas_intoto.integrations.hf import AtlasCallback
    from atlas_intoto.recording import RecordingOptions

    shutil.rmtree(workdir / "model", ignore_errors=True)
    evidence = workdir / ".atlas-bench"
    shutil.rmtree(evidence, ignore_errors=True)
    timer = finetune.EpochTimer()
    callback = None
    if attest:
        callback = AtlasCallback(
            step="finetune",
            options=RecordingOptions(
                key_path=workdir / "keys" / "trainer.key",
                out_dir=evidence,
                tee="simulated",
                c2pa=True,
                log_url=log_url,
            ),
            dataset_files=[finetune.TRAIN_FILE],
            tokenizer_files=[finetune.TOKENIZER_FILE],
            config_files=[finetune.CONFIG_FILE],
            code_files=["finetune.py"],
            final_dir=finetune.FINAL,
        )
    began = time.perf_counter()
    finetune.finetune(
        epochs=epochs,
        callbacks=[*([callback] if callback else []), timer],
        save_final=not attest,
    )
    total = time.perf_counter() - began
    background: list[float] = []
    if callback is not None:
        background = [item.seconds for item in callback.run.wait()]
        assert callback.result is not None
    return {
        "epochs": list(timer.seconds),
        "total": total,
        "finalise": total - sum(timer.seconds),
        "background": background,
    }


def _section(
    results: dict[str, list[dict[str, Any]]], args: argparse.Namespace, load: tuple[float, float]
) -> str:
    off = [s for run in results["off"] for s in run["epochs"]]
    on = [s for run in results["on"] for s in run["epochs"]]
    mean_off, mean_on = statistics.fmean(off), statistics.fmean(on)
    med_off, med_on = statistics.median(off), statistics.median(on)
    fin_off = statistics.fmean(run["finalise"] for run in results["off"])
    fin_on = statistics.fmean(run["finalise"] for run in results["on"])
    tot_off = statistics.fmean(run["total"] for run in results["off"])
    tot_on = statistics.fmean(run["total"] for run in results["on"])
    background = [s for run in results["on"] for s in run["background"]]
    paired = [
        (statistics.fmean(b["epochs"]) / statistics.fmean(a["epochs"]) - 1) * 100
        for a, b in zip(results["off"], results["on"], strict=True)
    ]

    def pct(a: float, b: float) -> str:
        return f"{(b / a - 1) * 100:+.2f} %"

    lines = [
        SECTION,
        "",
        f"`benchmarks/overhead.py`: the case-study fine-tuning (tiny BERT: 2 layers, hidden 128; "
        f"{args.rows} generated reviews, 80 % for training, batch 32, sequence length 48, "
        f"{args.epochs} epochs, checkpoint every epoch), attestation off vs on, {args.reps} "
        "repetitions interleaved in one process (arm order alternating, after an uncounted "
        f"warm-up run). torch {_version('torch')}, transformers {_version('transformers')}, "
        f"{python_cpus_machine()}, "
        f"{time.strftime('%Y-%m-%d')}; load average {load[0]:.2f} before, {load[1]:.2f} after "
        "(the machine is shared with other work, so the spread between repetitions is noise "
        "of the same order as the effect).",
        "",
        '"On" = AtlasCallback with simulated TDX quote, C2PA sidecars and publication to a '
        "local `atlas-intoto log serve` for every checkpoint (background worker) and for the "
        "run's link at the end. An epoch is timed from its start to the end of its checkpoint "
        "save including every callback's `on_save`.",
        "",
        "| measure | attestation off | attestation on | overhead |",
        "|---|---:|---:|---:|",
        f"| epoch wall time, mean (s) | {mean_off:.3f} | {mean_on:.3f} | "
        f"{pct(mean_off, mean_on)} |",
        f"| epoch wall time, median (s) | {med_off:.3f} | {med_on:.3f} | {pct(med_off, med_on)} |",
        f"| epoch wall time, fastest (s) | {min(off):.3f} | {min(on):.3f} | "
        f"{pct(min(off), min(on))} |",
        f"| end of run: final save, wait, run link (s) | {fin_off:.3f} | {fin_on:.3f} | "
        f"+{fin_on - fin_off:.3f} s |",
        f"| whole training run, mean (s) | {tot_off:.3f} | {tot_on:.3f} | {pct(tot_off, tot_on)} |",
        "",
        "Per-repetition epoch overhead (on vs the off run next to it): "
        + ", ".join(f"{p:+.2f} %" for p in paired)
        + f". Epochs of the off arm alone ranged {min(off):.2f}-{max(off):.2f} s: when that "
        "spread (other work on the shared machine) exceeds the effect, the mean and median "
        "differences are noise and the fastest epochs (least disturbed) are the better "
        "comparison; a sub-1 % effect is only resolvable on an otherwise idle machine.",
        "",
        f"Each checkpoint attestation (all files of `checkpoint-N`: measure, quote, C2PA, link, "
        f"log) took {statistics.fmean(background):.3f} s on the background worker "
        f"(median {statistics.median(background):.3f} s, {len(background)} checkpoints), "
        "overlapping the next epoch; the training loop itself only queues a path. The run's "
        "own link at the end re-measures and signs every checkpoint and the final model, which "
        "is the end-of-run cost above (once per training run, not per epoch).",
    ]
    return "\n".join(lines)


def _version(module: str) -> str:
    from importlib.metadata import version

    return version(module)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="reviews in the corpus")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each arm")
    parser.add_argument("--quick", action="store_true", help="small run; no RESULTS.md update")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.epochs, args.reps = 600, 2, 1

    pipeline = _load("atlas_bench_pipeline", EXAMPLE / "pipeline.py")
    scratch = None
    if args.dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="atlas-overhead-")
        args.dir = Path(scratch.name)
    workdir = args.dir.resolve()
    home = workdir / "atlas-home"
    os.environ.setdefault("ATLAS_INTOTO_HOME", str(home))
    pipeline.prepare_workspace(workdir)
    env = dict(os.environ, ATLAS_CASE_ROWS=str(args.rows))
    for script in ("fetch_corpus.py", "tokenize_corpus.py"):
        subprocess.run([sys.executable, script], cwd=workdir, env=env, check=True)
    pipeline.simulated_platform()  # created once, outside the measurement

    load_before = os.getloadavg()[0]
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    try:
        with contextlib.chdir(workdir), pipeline.local_log(workdir) as log_url:
            finetune = _load("atlas_bench_finetune", workdir / "finetune.py")
            _run_arm(finetune, attest=True, epochs=1, workdir=workdir, log_url=log_url)
            for rep in range(args.reps):
                order = ("off", "on") if rep % 2 == 0 else ("on", "off")
                for arm in order:
                    run = _run_arm(
                        finetune,
                        attest=arm == "on",
                        epochs=args.epochs,
                        workdir=workdir,
                        log_url=log_url,
                    )
                    results[arm].append(run)
                    epochs = ", ".join(f"{s:.2f}" for s in run["epochs"])
                    print(f"rep {rep + 1} {arm:>3}: epochs {epochs} s", file=sys.stderr)
    finally:
        if scratch is not None:
            scratch.cleanup()
    text = _section(results, args, (load_before, os.getloadavg()[0]))
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
