"""Benchmark: training overhead of attestation (section ``## Training overhead`` of RESULTS.md).

    .venv/bin/python benchmarks/overhead.py            # measure and update benchmarks/RESULTS.md
    .venv/bin/python benchmarks/overhead.py --quick    # small and short, no RESULTS.md update

The case study's fine-tuning (examples/bert_finetune: tiny BERT, locally trained tokenizer,
checkpoint every epoch) runs with attestation off and on. "On" is the real thing: AtlasCallback
with a simulated TDX quote, C2PA sidecars and publication to a transparency log served by
``atlas-intoto log serve`` on loopback, for every checkpoint (in the background) and for the
run's link at the end.

Resolving a sub-1 % effect on a shared 2-core machine, whose speed drifts by several per cent
between runs of a minute:

- ``--pairing simultaneous`` (default): each pair runs both arms *at the same time*, as fresh
  processes pinned to a core each with one torch thread (the cores swap between pairs), so a
  drift slows both arms of a pair. The on arm's attestation worker and log server share its
  core: attestation takes every CPU second it uses from training (no spare core).
- ``--pairing sequential``: both arms in this process on every core, one after the other, the
  order alternating.

Either way: 10 pairs by default (``--reps``, after an uncounted warm-up), every overhead the
mean of per-pair differences with a 95 % confidence interval (Student's t), for the whole run
and per epoch, for wall time and for the training process's CPU time (``time.process_time``: all
its threads). Beside the differences, the on run's *attestation's own time* is measured in the
run itself: the main thread's time inside attestation plus all the CPU attestation used
elsewhere (threads, worker process, log server). It bounds the overhead from above without
depending on two runs' speeds, so it resolves what the differences cannot. The script also
reports what the run's link hashed: the checkpoints' digests come from the digest cache the
background worker filled.

``--worker process`` attests checkpoints in a worker process instead of a thread;
``--checkpoint-c2pa`` adds a sidecar per checkpoint link (the arrangement before issue 18).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import importlib.util
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
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


class _Probe:
    """What the attesting arm's main thread spent in attestation, and what the run's link
    measured itself (which shows whether it re-read checkpoints)."""

    def __init__(self) -> None:
        #: wall seconds of TrainingRun.start, .checkpoint and .finish on the main thread
        self.main_thread: list[float] = []
        #: wall seconds finish() waited for the background worker
        self.waited: list[float] = []
        #: what the main thread's measure_files calls returned (the last: the run's link)
        self.measured: list[Any] = []
        #: CPU seconds other threads and the log server used while the main thread was inside
        #: attestation (already in its wall time above)
        self.others_inside = 0.0
        self.server_inside = 0.0


@contextlib.contextmanager
def _instrumented(attest: bool, server: int | None) -> Iterator[_Probe]:
    probe = _Probe()
    if not attest:
        yield probe
        return
    from atlas_intoto import measure as measure_mod
    from atlas_intoto.integrations.training import TrainingRun

    def on_main_thread() -> bool:
        return threading.current_thread() is threading.main_thread()

    def timed(real: Any, into: list[float]) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began, others, served = time.perf_counter(), _others_cpu(), _cpu_of(server)
            try:
                return real(*args, **kwargs)
            finally:
                if on_main_thread():
                    into.append(time.perf_counter() - began)
                    if into is probe.main_thread:
                        probe.others_inside += _others_cpu() - others
                        probe.server_inside += _cpu_of(server) - served

        return wrapper

    def kept(real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if on_main_thread():
                probe.measured.append(result)
            return result

        return wrapper

    patches = [
        (measure_mod, "measure_files", kept(measure_mod.measure_files)),
        (TrainingRun, "wait", timed(TrainingRun.wait, probe.waited)),
        (TrainingRun, "start", timed(TrainingRun.start, probe.main_thread)),
        (TrainingRun, "checkpoint", timed(TrainingRun.checkpoint, probe.main_thread)),
        (TrainingRun, "finish", timed(TrainingRun.finish, probe.main_thread)),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, wrapper in patches:
        setattr(owner, name, wrapper)
    try:
        yield probe
    finally:
        for owner, name, real in originals:
            setattr(owner, name, real)


def _others_cpu() -> float:
    """CPU seconds this process's threads other than the calling one have used so far."""
    return time.process_time() - time.thread_time()


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children() -> float:
    """CPU seconds of this process's reaped children (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _epoch_timer(finetune: ModuleType) -> Any:
    class CpuEpochTimer(finetune.EpochTimer):  # type: ignore[misc,name-defined]
        """The case study's epoch timer, with the process's CPU time of each epoch beside."""

        def __init__(self) -> None:
            super().__init__()
            self.cpu: list[float] = []
            self._cpu_began = 0.0

        def on_epoch_begin(self, *args: Any, **kwargs: Any) -> None:
            self._cpu_began = time.process_time()
            super().on_epoch_begin(*args, **kwargs)

        def on_save(self, *args: Any, **kwargs: Any) -> None:
            super().on_save(*args, **kwargs)
            self.cpu.append(time.process_time() - self._cpu_began)

    return CpuEpochTimer()


def _run_arm(
    finetune: ModuleType,
    *,
    attest: bool,
    epochs: int,
    workdir: Path,
    log_url: str | None,
    args: argparse.Namespace,
    server: int | None = None,
) -> dict[str, Any]:
    """One training run; the clock starts before attestation is imported and configured (a
    fresh process pays for both). ``server``: the log server's pid (its CPU is counted)."""
    shutil.rmtree(workdir / "model", ignore_errors=True)
    evidence = workdir / ".atlas-bench"
    shutil.rmtree(evidence, ignore_errors=True)
    timer = _epoch_timer(finetune)
    began, cpu_began, children_began = time.perf_counter(), time.process_time(), _children()
    main_cpu_began = time.thread_time()
    server_began = _cpu_of(server)
    with _instrumented(attest, server) as probe:
        callback = _callback(finetune, workdir, log_url, args) if attest else None
        construct = time.perf_counter() - began
        finetune.finetune(
            epochs=epochs,
            callbacks=[*([callback] if callback else []), timer],
            save_final=not attest,
        )
        total, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        other_threads_cpu = cpu - (time.thread_time() - main_cpu_began)
        # The attestation worker process, reaped when the run finished (the log server is
        # reaped only at the very end, so it is not in here).
        worker_cpu = _children() - children_began
        server_cpu = _cpu_of(server) - server_began
    background: list[float] = []
    run_link = None
    if callback is not None:
        background = [item.seconds for item in callback.run.wait()]
        assert callback.result is not None
        # The last main-thread measurement is the run's link's products (materials: at start).
        assert probe.measured, "the run's link measured nothing on the main thread"
        last = probe.measured[-1]
        run_link = {k: getattr(last, k) for k in ("files_hashed", "files_cached", "bytes_hashed")}
        run_link["bytes_cached"] = last.bytes_cached
        # finish() waits once for the worker, then records the run's link.
        run_link["waited"] = probe.waited[0] if probe.waited else 0.0
    return {
        "epochs": list(timer.seconds),
        "epoch_cpu": list(timer.cpu),
        "total": total,
        "cpu": cpu,
        "worker_cpu": worker_cpu,
        "other_threads_cpu": other_threads_cpu,
        "server_cpu": server_cpu,
        # The parts of attestation's own time (see _own_time): the main thread's wall time in
        # attestation (importing and configuring it, start, checkpoint, finish), and the CPU
        # other threads and the log server used while training ran.
        "attest_main": (construct if attest else 0.0) + sum(probe.main_thread),
        "others_outside": other_threads_cpu - probe.others_inside,
        "server_outside": server_cpu - probe.server_inside,
        "finalise": total - sum(timer.seconds),
        "background": background,
        "run_link": run_link,
    }


def _callback(
    finetune: ModuleType, workdir: Path, log_url: str | None, args: argparse.Namespace
) -> Any:
    from atlas_intoto.integrations.hf import AtlasCallback
    from atlas_intoto.recording import RecordingOptions

    return AtlasCallback(
        step="finetune",
        options=RecordingOptions(
            key_path=workdir / "keys" / "trainer.key",
            out_dir=workdir / ".atlas-bench",
            tee="simulated",
            c2pa=True,
            log_url=log_url,
        ),
        dataset_files=[finetune.TRAIN_FILE],
        tokenizer_files=[finetune.TOKENIZER_FILE],
        config_files=[finetune.CONFIG_FILE],
        code_files=["finetune.py"],
        final_dir=finetune.FINAL,
        worker=args.worker,
        checkpoint_c2pa=args.checkpoint_c2pa,
    )


#: What one checkpoint attestation costs, by arrangement: (label, C2PA on the checkpoint's own
#: link, a TLS context built per log client as before issue 18).
_CPU_CONFIGS = (
    (
        "before issue 18: a C2PA sidecar per checkpoint link, a TLS context per log client",
        True,
        True,
    ),
    ("a C2PA sidecar per checkpoint link, one TLS context", True, False),
    ("now: no sidecar on checkpoint links, one TLS context", False, False),
)


def _attestation_cpu(workdir: Path, log_url: str, checkpoint: Path, *, n: int) -> list[str]:
    """CPU time (``time.process_time``, insensitive to other load unlike wall time) of one
    checkpoint attestation in each arrangement, on fresh files shaped like ``checkpoint``."""
    import httpx

    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step import record_step
    from atlas_intoto.tlog import client

    sizes = [p.stat().st_size for p in sorted(checkpoint.rglob("*")) if p.is_file()]
    made = iter(range(10**6))

    def fresh() -> str:
        directory = workdir / "cpu-bench" / f"checkpoint-{next(made)}"
        directory.mkdir(parents=True)
        for index, size in enumerate(sizes):
            (directory / f"file-{index}").write_bytes(os.urandom(size))
        return str(directory)

    shared = client._tls_context
    best: dict[str, list[float]] = {}
    try:
        for _round in range(3):
            for label, c2pa, per_client in _CPU_CONFIGS:
                client._tls_context = httpx.create_ssl_context if per_client else shared  # type: ignore[assignment]
                options = RecordingOptions(
                    key_path=workdir / "keys" / "trainer.key",
                    out_dir=workdir / "cpu-bench" / ".atlas",
                    tee="simulated",
                    c2pa=c2pa,
                    log_url=log_url,
                )
                paths = [fresh() for _ in range(n)]
                began = time.process_time()
                for path in paths:
                    record_step(
                        step=f"c{next(made)}", options=options, materials=[], products=[path]
                    )
                best.setdefault(label, []).append((time.process_time() - began) / n)
    finally:
        client._tls_context = shared  # type: ignore[method-assign]
        shutil.rmtree(workdir / "cpu-bench", ignore_errors=True)
    rows = [
        f"| {label} | {min(values) * 1000:.1f} | {min(values) / min(best[_CPU_CONFIGS[0][0]]):.2f} |"
        for label, values in best.items()
    ]
    return [
        f"CPU time of one checkpoint attestation ({len(sizes)} files, "
        f"{sum(sizes) / 2**20:.2f} MiB, shaped like the run's checkpoints; best of 3 rounds of "
        f"{n}; measure, quote, C2PA, link, Statement, log; the log server's CPU not counted):",
        "",
        "| arrangement | CPU ms per checkpoint | × before |",
        "|---|---:|---:|",
        *rows,
    ]


# Two-sided 95 % quantiles of Student's t by degrees of freedom (1-30); beyond, the normal's.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def mean_ci95(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95 % confidence interval (Student's t; a single value has none: ±inf)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, -math.inf, math.inf
    df = len(values) - 1
    half = (_T95[df - 1] if df <= len(_T95) else 1.960) * statistics.stdev(values)
    half /= math.sqrt(len(values))
    return mean, mean - half, mean + half


def _paired(results: dict[str, list[dict[str, Any]]], measure: Any) -> list[float]:
    """Per repetition: the on run's overhead in % against the off run of the same repetition
    (paired, so drifts of the shared machine's load between repetitions cancel out)."""
    return [
        (measure(on) / measure(off) - 1) * 100
        for off, on in zip(results["off"], results["on"], strict=True)
    ]


def _ci_row(label: str, results: dict[str, list[dict[str, Any]]], measure: Any) -> str:
    off = statistics.fmean(measure(run) for run in results["off"])
    on = statistics.fmean(measure(run) for run in results["on"])
    mean, low, high = mean_ci95(_paired(results, measure))
    return f"| {label} | {off:.3f} | {on:.3f} | {mean:+.2f} % | [{low:+.2f} %, {high:+.2f} %] |"


def _own_time(off: dict[str, Any], on: dict[str, Any]) -> float:
    """Attestation's own time in ``on``: the main thread's wall time inside attestation, plus
    the CPU every other thread used while training ran beyond what the same training used in
    ``off`` (torch, tokenizers), plus the worker process's CPU (all of it) and the log
    server's while training ran. Counted as if every one of those CPU seconds were taken from
    training: an upper bound of the overhead (only cache effects escape it)."""
    others = max(0.0, on["others_outside"] - off["others_outside"])
    return on["attest_main"] + others + on["worker_cpu"] + on["server_outside"]


def _method(args: argparse.Namespace) -> list[str]:
    if args.pairing == "simultaneous":
        how = (
            f"{args.reps} simultaneous pairs: in each, both arms run at the same time as fresh "
            "processes, each pinned to a core of its own with one torch thread (the cores swap "
            "between pairs; an uncounted warm-up pair first), so that whatever slows the shared "
            "machine slows both arms. The attesting arm's worker and log server are pinned to "
            "its core: attestation gets no spare core and takes every CPU second from training"
        )
    else:
        how = (
            f"{args.reps} repetitions interleaved in one process on every core (arm order "
            "alternating, after an uncounted warm-up run)"
        )
    where = (
        "in a worker process at niceness 19"
        if args.worker == "process"
        else "on a worker thread of the training process at niceness 10"
    )
    c2pa = (
        "with a C2PA sidecar of their own too"
        if args.checkpoint_c2pa
        else "without a C2PA sidecar of their own (the run's link signs one for each "
        "checkpoint file)"
    )
    return [
        f"`benchmarks/overhead.py --pairing {args.pairing} --worker {args.worker}"
        f"{' --checkpoint-c2pa' if args.checkpoint_c2pa else ''} --rows {args.rows} --epochs "
        f"{args.epochs} --reps {args.reps}`: the case-study fine-tuning (tiny BERT: 2 layers, "
        f"hidden 128; {args.rows} generated reviews, 80 % for training, batch 32, sequence "
        f"length 48, {args.epochs} epochs, checkpoint every epoch), attestation off vs on, "
        f"{how}. torch {_version('torch')}, transformers {_version('transformers')}, "
        f"{python_cpus_machine()}, {time.strftime('%Y-%m-%d')}; atlas_intoto's bytecode "
        "compiled beforehand, as `pip install` does.",
        "",
        '"On" = AtlasCallback with a simulated TDX quote, C2PA sidecars and publication to a '
        "local `atlas-intoto log serve` for every checkpoint (in the background) and for the "
        f"run's link at the end. Checkpoints are attested {where}, {c2pa}. The whole run is "
        "timed from importing and configuring attestation (the on arm) and building the model "
        "to the run's link written; an epoch from its start to the end of its checkpoint save "
        "including every callback's `on_save`. CPU time is the training process's (all its "
        "threads), then with the worker process's added.",
        "",
        "Overhead = the mean of each pair's difference (on vs its off run), with its 95 % "
        f"confidence interval (Student's t over the {args.reps} paired differences). "
        '"Attestation\'s own time" is measured in the on run itself, not as a difference of '
        "two runs: the main thread's wall time inside attestation (importing and configuring "
        "it, `start`, every `checkpoint`, `finish`) plus every CPU second attestation used "
        "elsewhere while training ran (the training process's other threads, beyond what they "
        "used in the paired off run; the log server; a worker process: all of its CPU), "
        "counted as if all of it were taken from training. It is an upper bound of the overhead (only cache effects escape it) and, "
        "unlike the difference of two runs, not drowned by how much the shared machine's "
        "speed varies from one run to the next.",
    ]


def _section(
    results: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
    load: tuple[float, float],
    cpu_rows: list[str],
) -> str:
    background = [s for run in results["on"] for s in run["background"]]
    fin_off = statistics.fmean(run["finalise"] for run in results["off"])
    fin_on = statistics.fmean(run["finalise"] for run in results["on"])
    links = [run["run_link"] for run in results["on"]]
    whole, whole_low, whole_high = mean_ci95(_paired(results, lambda r: r["total"]))
    pairs = list(zip(results["off"], results["on"], strict=True))
    own = [_own_time(off, on) / off["total"] * 100 for off, on in pairs]
    own_seconds = statistics.fmean(_own_time(off, on) for off, on in pairs)
    own_mean, own_low, own_high = mean_ci95(own)

    def verdict(low: float, high: float) -> str:
        return "met" if high < 1.0 else ("missed" if low >= 1.0 else "not resolved")

    def epoch_wall(run: dict[str, Any]) -> float:
        return statistics.fmean(run["epochs"])

    def epoch_cpu(run: dict[str, Any]) -> float:
        return statistics.fmean(run["epoch_cpu"])

    def mean_of(key: str, arm: str = "on") -> float:
        return statistics.fmean(run[key] for run in results[arm])

    lines = [
        SECTION,
        "",
        *_method(args),
        "",
        "| measure | attestation off | attestation on | overhead (mean) | 95 % CI |",
        "|---|---:|---:|---:|---:|",
        _ci_row("whole training run, wall (s)", results, lambda r: r["total"]),
        _ci_row("whole training run, CPU (s)", results, lambda r: r["cpu"]),
        _ci_row(
            "whole run, CPU + worker process (s)", results, lambda r: r["cpu"] + r["worker_cpu"]
        ),
        _ci_row("epoch, wall (s, mean per run)", results, epoch_wall),
        _ci_row("epoch, CPU (s, mean per run)", results, epoch_cpu),
        f"| attestation's own time (s; upper bound, % of the off run) | | "
        f"{own_seconds:.3f} | {own_mean:+.2f} % | [{own_low:+.2f} %, {own_high:+.2f} %] |",
        "",
        f"Whole-run target < 1 %: **{verdict(own_low, own_high)}** by attestation's own time "
        f"(mean {own_mean:+.2f} %, 95 % CI [{own_low:+.2f} %, {own_high:+.2f} %]); "
        f"**{verdict(whole_low, whole_high)}** by the difference of the paired runs' wall times "
        f"(mean {whole:+.2f} %, 95 % CI [{whole_low:+.2f} %, {whole_high:+.2f} %]). Load "
        f"average {load[0]:.2f} before, {load[1]:.2f} after.",
        "",
        f"Attestation's own time, per on run: {own_seconds:.3f} s = the main thread's "
        f"{mean_of('attest_main'):.3f} s inside attestation + CPU used while training ran by "
        f"the training process's other threads {mean_of('others_outside'):.3f} s less the "
        f"{mean_of('others_outside', 'off'):.3f} s they used in the off run (torch, tokenizers), "
        f"by the worker process {mean_of('worker_cpu'):.3f} s and by the log server "
        f"{mean_of('server_outside'):.3f} s.",
        "",
        f"End of run (final save, wait for the worker, the run's link): {fin_off:.3f} s off, "
        f"{fin_on:.3f} s on (+{fin_on - fin_off:.3f} s). The run's link re-hashed "
        f"{statistics.fmean(link['bytes_hashed'] for link in links) / 2**20:.2f} MiB "
        f"({statistics.fmean(link['files_hashed'] for link in links):.0f} files: the final model) "
        f"and took the digests of {statistics.fmean(link['files_cached'] for link in links):.0f} "
        "checkpoint files "
        f"({statistics.fmean(link['bytes_cached'] for link in links) / 2**20:.2f} MiB) from the "
        "digest cache the background worker filled: no checkpoint byte is measured twice. Of "
        "the end-of-run cost, waiting for the last checkpoint's attestation (queued when "
        "training ends) took "
        f"{statistics.fmean(link['waited'] for link in links):.3f} s; the rest is the final "
        "save and the run's link (quote, a C2PA sidecar for every product, signing, log).",
        "",
        f"Each checkpoint attestation (all files of `checkpoint-N`: measure, quote, link, "
        f"Statement, log) took {statistics.fmean(background):.3f} s of wall time in the worker "
        f"{args.worker} (median {statistics.median(background):.3f} s, {len(background)} "
        "checkpoints), overlapping training at a lower CPU priority; the training loop itself "
        "only queues a path.",
        "",
        *cpu_rows,
    ]
    return "\n".join(lines)


def _version(module: str) -> str:
    from importlib.metadata import version

    return version(module)


def _prepare(workdir: Path, rows: int) -> None:
    """The case study's workspace with its corpus, tokenizer and keys; the simulated platform."""
    pipeline = _load("atlas_bench_pipeline", EXAMPLE / "pipeline.py")
    pipeline.prepare_workspace(workdir)
    env = dict(os.environ, ATLAS_CASE_ROWS=str(rows))
    for script in ("fetch_corpus.py", "tokenize_corpus.py"):
        subprocess.run([sys.executable, script], cwd=workdir, env=env, check=True)
    pipeline.simulated_platform()  # created once, outside the measurement


def _progress(rep: int, arm: str, run: dict[str, Any], where: str = "") -> None:
    epochs = ", ".join(f"{s:.2f}" for s in run["epochs"])
    print(
        f"rep {rep + 1} {arm:>3}{where}: epochs {epochs} s, run {run['total']:.2f} s wall, "
        f"{run['cpu']:.2f} s CPU",
        file=sys.stderr,
    )


def _sequential(args: argparse.Namespace, workdir: Path) -> dict[str, list[dict[str, Any]]]:
    """Both arms in this process, one after the other, the order alternating."""
    _prepare(workdir, args.rows)
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with contextlib.chdir(workdir), _log_server(workdir) as (log_url, server):
        finetune = _load("atlas_bench_finetune", workdir / "finetune.py")
        _run_arm(finetune, attest=True, epochs=1, workdir=workdir, log_url=log_url, args=args)
        for rep in range(args.reps):
            for arm in ("off", "on") if rep % 2 == 0 else ("on", "off"):
                run = _run_arm(
                    finetune,
                    attest=arm == "on",
                    epochs=args.epochs,
                    workdir=workdir,
                    log_url=log_url,
                    args=args,
                    server=server,
                )
                results[arm].append(run)
                _progress(rep, arm, run)
    return results


def _simultaneous(args: argparse.Namespace, workdir: Path) -> dict[str, list[dict[str, Any]]]:
    """Both arms at the same time, each a fresh process pinned to a core of its own (the cores
    swap between repetitions): whatever slows the shared machine slows both arms alike."""
    base = workdir / "base"
    _prepare(base, args.rows)
    for arm in ("off", "on"):
        shutil.copytree(base, workdir / arm, symlinks=True)
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for rep in range(-1, args.reps):  # -1: the uncounted warm-up pair
        cpus = {"on": (rep + 1) % 2, "off": rep % 2}
        pair = _pair(args, workdir, cpus)
        if rep < 0:
            continue
        for arm in ("off", "on"):
            results[arm].append(pair[arm])
            _progress(rep, arm, pair[arm], f" (CPU {cpus[arm]})")
    return results


def _pair(args: argparse.Namespace, workdir: Path, cpus: dict[str, int]) -> dict[str, Any]:
    """Start both arms' processes, let them import, start them together, collect their runs."""
    children: dict[str, subprocess.Popen[str]] = {}
    logs = {arm: (workdir / f"{arm}.log").open("w") for arm in cpus}
    try:
        for arm, cpu in cpus.items():
            command = [sys.executable, __file__, "--child", arm, "--cpu", str(cpu)]
            command += ["--dir", str(workdir / arm), "--epochs", str(args.epochs)]
            command += ["--worker", args.worker] + ["--checkpoint-c2pa"] * args.checkpoint_c2pa
            children[arm] = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logs[arm], text=True
            )
        for arm, child in children.items():
            _expect(child, "ready", workdir / f"{arm}.log")
        for child in children.values():
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        runs = {
            arm: json.loads(_expect(child, "{", workdir / f"{arm}.log"))
            for arm, child in children.items()
        }
        for child in children.values():
            child.wait(timeout=120)
        return runs
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
        for log in logs.values():
            log.close()


def _expect(child: subprocess.Popen[str], start: str, log: Path) -> str:
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.startswith(start):
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise SystemExit(f"benchmark arm failed (expected {start!r}, got {line!r}):\n{tail}")
    return line


@contextlib.contextmanager
def _log_server(workdir: Path) -> Iterator[tuple[str, int]]:
    """``atlas-intoto log serve`` on loopback: its URL and pid. Started without importing
    atlas_intoto here: the on arm's clock counts that import, as a training script pays it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "atlas_intoto", "log", "serve", "--port", str(port)]
    command += ["--db", str(workdir / "log.db"), "--key", str(workdir / "keys" / "log.key")]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/api/v1/log") as r:
                if r.status == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{url}: the log server did not start")
            time.sleep(0.1)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def _child(args: argparse.Namespace) -> int:
    """One arm of a simultaneous pair: pin, import, say ready, wait for go, run, report."""
    os.sched_setaffinity(0, {args.cpu})  # before torch starts its threads; children inherit it
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the libraries print goes to the log, not into the protocol
    import torch

    torch.set_num_threads(1)
    workdir = args.dir.resolve()
    attest = args.child == "on"
    with contextlib.chdir(workdir), contextlib.ExitStack() as stack:
        # The on arm's log server is its child: pinned to the same core.
        log_url, server = stack.enter_context(_log_server(workdir)) if attest else (None, None)
        finetune = _load("atlas_bench_finetune", workdir / "finetune.py")
        print("ready", file=protocol, flush=True)
        sys.stdin.readline()
        run = _run_arm(
            finetune,
            attest=attest,
            epochs=args.epochs,
            workdir=workdir,
            log_url=log_url,
            args=args,
            server=server,
        )
    print(json.dumps(run), file=protocol, flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="reviews in the corpus")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10, help="repetitions of each arm (>= 2)")
    parser.add_argument("--quick", action="store_true", help="small run; no RESULTS.md update")
    parser.add_argument(
        "--pairing",
        choices=("simultaneous", "sequential"),
        default="simultaneous",
        help="simultaneous: both arms at once, a core each, one torch thread each (default); "
        "sequential: one after the other in this process, on every core",
    )
    parser.add_argument(
        "--worker",
        choices=("thread", "process"),
        default="thread",
        help="where checkpoints are attested (the integrations' default: thread)",
    )
    parser.add_argument(
        "--checkpoint-c2pa",
        action="store_true",
        help="a C2PA sidecar on each checkpoint's own link too (as before issue 18's rework)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    if args.quick:
        args.rows, args.epochs, args.reps = 600, 2, 2
    if args.reps < 2:
        parser.error("--reps: at least 2 (a confidence interval needs two paired runs)")
    if args.pairing == "simultaneous" and len(os.sched_getaffinity(0)) < 2:
        parser.error("--pairing simultaneous needs two CPUs (use --pairing sequential)")

    scratch = None
    if args.dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="atlas-overhead-")
        args.dir = Path(scratch.name)
    workdir = args.dir.resolve()
    os.environ.setdefault("ATLAS_INTOTO_HOME", str(workdir / "atlas-home"))
    # Bytecode compiled beforehand, as pip does when it installs a package: otherwise every
    # fresh arm would compile atlas_intoto from source where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(HERE.parent / "atlas_intoto", quiet=1)
    load_before = os.getloadavg()[0]
    try:
        method = _simultaneous if args.pairing == "simultaneous" else _sequential
        results = method(args, workdir)
        log_dir = workdir / ("on" if args.pairing == "simultaneous" else "")
        cpu_rows = _cpu_rows(args, log_dir)
    finally:
        if scratch is not None:
            scratch.cleanup()
    text = _section(results, args, (load_before, os.getloadavg()[0]), cpu_rows)
    print(text)
    if not args.quick:
        write_section(SECTION, text)
    return 0


def _cpu_rows(args: argparse.Namespace, workdir: Path) -> list[str]:
    """The CPU cost of one checkpoint attestation, on the run's own checkpoints' shapes."""
    with contextlib.chdir(workdir), _log_server(workdir) as (log_url, _):
        finetune = _load("atlas_bench_finetune", workdir / "finetune.py")
        checkpoint = next((workdir / finetune.CHECKPOINTS).glob("checkpoint-*"))
        return _attestation_cpu(workdir, log_url, checkpoint, n=4 if args.quick else 12)


if __name__ == "__main__":
    sys.exit(main())
