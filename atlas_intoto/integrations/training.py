"""Framework-neutral engine of the training integrations.

A training run is one step. Its materials (dataset, config, code) are measured when the run
starts, exactly like ``record start``; each checkpoint is attested as soon as it is saved; when
the run ends, one link covers the whole run with every checkpoint and the final weights as
products (``record stop``).

A checkpoint attestation is a complete recorded step of its own, named ``<step>-checkpoint-<n>``
and written to ``checkpoint_dir`` (default ``<out_dir>/checkpoints``, outside the bundle's
evidence so layouts need not declare it): the checkpoint's digest, a TEE quote bound to it and
its log entry, whose integrated time proves when the checkpoint existed. Hashing, quoting,
signing and publishing run on a worker thread at a lower CPU priority (``worker="process"``: in a
process of its own at the lowest, :mod:`atlas_intoto.integrations.attest_worker`), so the
training loop only pays for handing a path to a queue. One worker, one job at a time, on
purpose: attestations happen in save order and never race on the evidence directory or on the
first-use creation of the simulated TEE platform.

The thread is the default because it costs less. A checkpoint's attestation is about 20 ms of
CPU (the hashing, which releases the GIL, aside), and a process costs a fresh interpreter
(~0.25 s of CPU to start and import) and its own first use of the key, the TEE provider and
the log connection, which the thread shares with the run's link. On the case study's 21-s runs
the process added +6.1 % and the thread +1.8 % (benchmarks/RESULTS.md, Training overhead).
A process keeps the training interpreter's GIL entirely free: choose it for a GIL-bound loop
that checkpoints often.

A checkpoint's own link carries no C2PA sidecars unless ``checkpoint_c2pa=True``: the run's
link lists every checkpoint file as a product, so with ``c2pa`` each of them gets a sidecar
bound to the run's link, the one the bundle carries and check 5 verifies. A sidecar per
checkpoint link signed the same bytes a second time (most of a checkpoint's attestation CPU).
The run's link reuses the digests the worker measured (the digest cache is a file both
processes use), so no checkpoint byte is hashed twice for the links.

A log outage does not stop training and loses nothing. Links are written before they are
published (:mod:`atlas_intoto.publishing`); a link the log did not take is kept with a pending
marker, later checkpoints try the log once instead of waiting through retries, and each link
the log takes again drains the queue. :meth:`TrainingRun.finish` retries what is still pending
with the full retry policy; what stays pending is listed in :attr:`TrainingRun.unpublished`, is
warned about, and is finished with ``atlas-intoto log publish``.

Failures are loud. A failed checkpoint attestation is raised at the next ``checkpoint()`` call
(training should not go on for hours producing unattested checkpoints) and again by
``finish()``, which waits for all pending work before writing the run's link and refuses to
write it if any attestation failed or if a checkpoint changed after it was attested.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from atlas_intoto.errors import AtlasError, AttestationFailedError, PublishPendingError, UsageError
from atlas_intoto.integrations import attest_worker
from atlas_intoto.integrations.attest_worker import WorkerProcess
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import RecordedStep, record_start, record_step, record_stop

PathLike = str | os.PathLike[str]

#: Niceness of the attestation worker thread (Linux applies it per thread).
WORKER_NICENESS = 10
#: Where checkpoints are attested: a thread of this process (default) or a worker process.
WORKERS = ("thread", "process")

_log = logging.getLogger(__name__)


#: The integrations' name for :class:`atlas_intoto.recording.RecordingOptions` (the same class).
AttestationOptions = RecordingOptions


@dataclass(frozen=True, kw_only=True)
class CheckpointAttestation:
    """One checkpoint attested by the background worker."""

    index: int
    path: Path
    step: str
    recorded: RecordedStep
    #: Wall time the worker spent on it (off the training loop).
    seconds: float
    #: whether the log took the link (else it is queued with a pending marker)
    published: bool = True
    #: whether links are still waiting for the log after this one (later jobs try it once)
    log_down: bool = False


@dataclass(frozen=True, kw_only=True)
class CheckpointJob:
    """Everything attesting one checkpoint needs (sent to the worker process as it is)."""

    index: int
    #: absolute path of the checkpoint file or directory
    path: str
    #: the run's step; the checkpoint's is ``<step>-checkpoint-<index>``
    step: str
    options: RecordingOptions
    checkpoint_dir: Path
    #: the log was down for an earlier checkpoint: one attempt, no waiting through retries
    log_down: bool
    #: C2PA sidecars on the checkpoint's own link too (``checkpoint_c2pa``)
    c2pa: bool
    #: the working directory relative paths in ``options`` are relative to
    cwd: str


def attest_checkpoint(job: CheckpointJob) -> CheckpointAttestation:
    """Record checkpoint ``job.path`` as its own step (in the worker thread or process)."""
    opts = job.options.with_changes(out_dir=job.checkpoint_dir, c2pa=job.options.c2pa and job.c2pa)
    if job.log_down:
        opts = opts.with_changes(log_retries=0)
    name = f"{job.step}-checkpoint-{job.index}"
    began = time.perf_counter()
    published, log_down = True, job.log_down
    try:
        recorded = record_step(step=name, options=opts, materials=[], products=[job.path])
    except PublishPendingError as exc:
        if exc.recorded is None:
            raise
        recorded, published, log_down = exc.recorded, False, True
        _log.warning("%s: queued for the log: %s", name, exc)
    if published and log_down:
        log_down = bool(_drain_checkpoints(job.options, job.checkpoint_dir))
    return CheckpointAttestation(
        index=job.index,
        path=Path(job.path),
        step=name,
        recorded=recorded,
        seconds=time.perf_counter() - began,
        published=published,
        log_down=log_down,
    )


def _drain_checkpoints(options: RecordingOptions, directory: Path) -> list[str]:
    """One attempt to publish the checkpoint links queued in ``directory``; what is left."""
    from atlas_intoto.publishing import RetryPolicy, pending_markers, publish_pending

    if options.log_url is None or not pending_markers(directory):
        return []
    policy = RetryPolicy(retries=0, backoff=options.log_backoff)
    try:
        outcome = publish_pending(
            directory, url=options.log_url, policy=policy, max_entry=options.log_max_entry
        )
    except AtlasError as exc:
        _log.warning("%s: publishing queued links failed: %s", directory, exc)
        return [marker.name for marker in pending_markers(directory)]
    return list(outcome.failed)


#: What recording the run's link imports at its first use. With the worker in another process,
#: this process has not imported them during training; :meth:`TrainingRun.finish` imports them
#: while the worker finishes its last attestation instead of after it (~90 ms of CPU). The
#: worker process imports them when it starts.
_RECORDING_MODULES = (
    "in_toto.models.link",
    "atlas_intoto.c2pa.builder",
    "atlas_intoto.evidence.recording",
    "atlas_intoto.publishing",
    "atlas_intoto.rerun",
    "atlas_intoto.step_statement",
    "atlas_intoto.tee.kind",
    "atlas_intoto.tee.providers",
    "atlas_intoto.tlog.select",
    "atlas_intoto.tlog.rekor_v1",
    "atlas_intoto.tlog.rekor_v2",
    "atlas_intoto.tsa.client",
)


def import_recording_modules() -> None:
    """Import what recording a step needs (see ``_RECORDING_MODULES``)."""
    for name in _RECORDING_MODULES:
        with contextlib.suppress(ImportError):  # an optional part: imported when used, if ever
            importlib.import_module(name)


def _key_needs_prompt(options: RecordingOptions) -> bool:
    """An encrypted key without the password in the environment: only this process can ask."""
    from atlas_intoto.keys import PASSWORD_ENV

    if PASSWORD_ENV in os.environ:
        return False
    try:
        return b"ENCRYPTED" in options.key_path.read_bytes()
    except OSError:  # not a file (or unreadable): recording reports it
        return False


def _lower_priority() -> None:
    # Best effort: not every platform has per-thread priorities.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if isinstance(exc, AtlasError) else f"{type(exc).__name__}: {text}"


class TrainingRun:
    """Record one training run as a step; attest checkpoints in the background.

    Paths are file-system paths (relative ones relative to the current directory, as given to
    ``torch.save``); links record them relative to ``options.base_path``. ``command`` is what
    the run's link records as its command (e.g. the training script's argv). Call :meth:`start`
    before training, :meth:`checkpoint` after each save, :meth:`add_product` for final weights
    and :meth:`finish` at the end (or :meth:`abort` when training failed: no link is written).
    ``worker``: where checkpoints are attested, ``"thread"`` (default) or ``"process"`` (where
    the platform can, and unless the key is encrypted with no ``ATLAS_INTOTO_KEY_PASSWORD`` set:
    only this process can prompt for it); ``checkpoint_c2pa``: C2PA sidecars on each
    checkpoint's own link too.
    """

    def __init__(
        self,
        *,
        step: str,
        options: RecordingOptions,
        materials: Sequence[PathLike] = (),
        command: Sequence[str] = (),
        attest_checkpoints: bool = True,
        checkpoint_dir: Path | None = None,
        worker: str = "thread",
        checkpoint_c2pa: bool = False,
    ) -> None:
        if worker not in WORKERS:
            raise UsageError(f"worker {worker!r}: expected one of {', '.join(WORKERS)}")
        self.step = step
        self.options = options
        self.command = list(command)
        self.materials = [os.path.abspath(path) for path in materials]
        self.attest_checkpoints = attest_checkpoints
        self.worker = worker
        self.checkpoint_c2pa = checkpoint_c2pa
        self.checkpoint_dir = (
            checkpoint_dir if checkpoint_dir is not None else options.out_dir / "checkpoints"
        )
        self._products: list[str] = []
        self._checkpoints: list[str] = []
        self._jobs: list[tuple[str, Future[CheckpointAttestation]]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._process: WorkerProcess | None = None
        self._pending_record: Path | None = None
        self._state = "new"
        self._log_down = False
        self.result: RecordedStep | None = None
        #: links still waiting for the log after :meth:`finish` (``atlas-intoto log publish``)
        self.unpublished: list[Path] = []

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Measure the materials (synchronously: before training can touch them)."""
        if self._state != "new":
            raise UsageError(f"step {self.step}: training run already {self._state}")
        opts = self.options
        self._pending_record = record_start(step=self.step, options=opts, materials=self.materials)
        if self.attest_checkpoints:
            in_process = (
                self.worker == "process"
                and attest_worker.available()
                and not _key_needs_prompt(opts)
            )
            # In process mode the thread only waits for the worker's answers (no GIL held).
            self._executor = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="atlas-attest",
                initializer=None if in_process else _lower_priority,
            )
            if in_process:
                self._process = WorkerProcess()
        self._state = "running"

    def checkpoint(self, path: PathLike) -> None:
        """Register a checkpoint just saved at ``path`` (file or directory) and queue its
        attestation. Raises at once if an earlier attestation has already failed."""
        absolute = self._register(path, what="checkpoint")
        self._raise_if_failed()
        self._checkpoints.append(absolute)
        if self._executor is None:
            return
        index = len(self._checkpoints)
        future = self._executor.submit(self._attest, index, absolute)
        self._jobs.append((absolute, future))

    def add_product(self, path: PathLike) -> None:
        """Register final weights (or any other product) to be measured by :meth:`finish`."""
        self._products.append(self._register(path, what="product"))

    def wait(self) -> list[CheckpointAttestation]:
        """Block until every queued attestation is done; raise if any failed."""
        failures: list[tuple[str, BaseException]] = []
        done: list[CheckpointAttestation] = []
        for path, future in self._jobs:
            try:
                done.append(future.result())
            except Exception as exc:  # every failure is reported, not only the first
                failures.append((path, exc))
        if failures:
            path, first = failures[0]
            raise AttestationFailedError(
                f"step {self.step}: {len(failures)} of {len(self._jobs)} checkpoint "
                f"attestations failed; first: {self._rel(path)}: {_one_line(first)}"
            ) from first
        return done

    def finish(self) -> RecordedStep:
        """Wait for pending work, then record the run's link (checkpoints + final products)."""
        if self._state != "running":
            raise UsageError(f"step {self.step}: training run is {self._state}, not running")
        if self._process is not None:
            import_recording_modules()
        try:
            attested = self.wait()
        except BaseException:
            self.abort()
            raise
        self._shutdown()
        opts = self.options
        try:
            recorded = record_stop(
                step=self.step,
                options=opts,
                products=[*self._checkpoints, *self._products],
                command=self.command,
            )
        except PublishPendingError as exc:
            if exc.recorded is None:
                raise
            recorded = exc.recorded
        self._state = "finished"
        self._check_unchanged(recorded, attested)
        self.result = recorded
        self._drain(final=True)
        return recorded

    def abort(self) -> None:
        """Training failed: let running work end, drop the rest, write no link."""
        self._shutdown(cancel=True)
        if self._pending_record is not None:
            with contextlib.suppress(OSError):
                self._pending_record.unlink()
        self._state = "aborted"

    @property
    def pending(self) -> int:
        """Checkpoint attestations queued or running."""
        return sum(1 for _, future in self._jobs if not future.done())

    @property
    def checkpoints(self) -> list[str]:
        return list(self._checkpoints)

    # -- internals ------------------------------------------------------------------------------

    def _register(self, path: PathLike, *, what: str) -> str:
        if self._state != "running":
            raise UsageError(f"step {self.step}: {what} saved while the run is {self._state}")
        absolute = os.path.abspath(path)
        if absolute in self._checkpoints or absolute in self._products:
            # A path saved twice would make the earlier attestation describe bytes that no
            # longer exist: every checkpoint needs its own file or directory.
            raise UsageError(f"{path}: {what} saved twice in step {self.step}; use a new path")
        if not os.path.exists(absolute):
            raise UsageError(f"{path}: {what} does not exist (register it after saving)")
        return absolute

    def _rel(self, absolute: str) -> str:
        try:
            return Path(absolute).relative_to(self.options.base.resolve()).as_posix()
        except ValueError:
            return absolute

    def _attest(self, index: int, path: str) -> CheckpointAttestation:
        """On the executor's thread: one job, in the worker process or right here."""
        job = CheckpointJob(
            index=index,
            path=path,
            step=self.step,
            options=self.options,
            checkpoint_dir=self.checkpoint_dir,
            log_down=self._log_down,
            c2pa=self.checkpoint_c2pa,
            cwd=os.getcwd(),
        )
        done: CheckpointAttestation = (
            attest_checkpoint(job) if self._process is None else self._process.call(job)
        )
        self._log_down = done.log_down
        return done

    def _drain(self, *, final: bool) -> None:
        """Publish what is queued in the checkpoint and evidence directories."""
        from atlas_intoto.publishing import RetryPolicy, pending_markers, publish_pending

        url = self.options.log_url
        if url is None:
            return
        opts = self.options
        policy = RetryPolicy(retries=opts.log_retries if final else 0, backoff=opts.log_backoff)
        left: list[Path] = []
        # Only this run's links: the checkpoints, and the run's own link once it exists.
        own = {self.result.link_path.name} if self.result is not None else set()
        for directory, links in ((self.checkpoint_dir, None), (opts.out_dir, own)):
            if not pending_markers(directory) or links == set():
                continue
            try:
                outcome = publish_pending(
                    directory, url=url, policy=policy, max_entry=opts.log_max_entry, links=links
                )
            except AtlasError as exc:
                _log.warning("%s: publishing queued links failed: %s", directory, exc)
                left.extend(
                    directory / f"{marker.name[: -len('.json')]}.link"
                    for marker in pending_markers(directory)
                    if links is None or f"{marker.name[: -len('.json')]}.link" in links
                )
                continue
            left.extend(directory / name for name in outcome.failed)
        self._log_down = bool(left)
        if final and left:
            self.unpublished = left
            _log.warning(
                "step %s: %d link(s) not in the log yet; finish with: atlas-intoto log publish "
                "--evidence %s --evidence %s --url %s",
                self.step,
                len(left),
                opts.out_dir,
                self.checkpoint_dir,
                url,
            )

    def _raise_if_failed(self) -> None:
        for path, future in self._jobs:
            if future.done() and future.exception() is not None:
                exc = future.exception()
                assert exc is not None
                raise AttestationFailedError(
                    f"step {self.step}: attestation of checkpoint {self._rel(path)} failed: "
                    f"{_one_line(exc)}"
                ) from exc

    def _shutdown(self, *, cancel: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=cancel)
            self._executor = None
        if self._process is not None:
            self._process.close()
            self._process = None

    def _check_unchanged(self, final: RecordedStep, attested: list[CheckpointAttestation]) -> None:
        for item in attested:
            for name, digests in item.recorded.products.items():
                if final.products.get(name) != digests:
                    self._discard(final)
                    raise AttestationFailedError(
                        f"{name}: changed after it was attested as {item.step}; "
                        f"step {self.step} not recorded"
                    )

    @staticmethod
    def _discard(recorded: RecordedStep) -> None:
        paths = [recorded.link_path, recorded.log_entry_path, recorded.collateral_path]
        evidence_dir = recorded.link_path.parent
        paths.extend(evidence_dir / entry["sidecar"] for entry in recorded.sidecars.values())
        for path in paths:
            if path is not None:
                with contextlib.suppress(OSError):
                    path.unlink()
