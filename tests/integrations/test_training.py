"""The framework-neutral training recorder: background checkpoint attestation and its failures."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.errors import AttestationFailedError, InputError, UsageError
from atlas_intoto.integrations import training
from atlas_intoto.integrations.training import AttestationOptions, TrainingRun
from atlas_intoto.keys import generate_keypair


def _payload(link: Path) -> dict[str, Any]:
    envelope = json.loads(link.read_bytes())
    return json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[no-any-return]


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("trainer", directory=tmp_path / "keys")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "a", "label": 1}\n')
    (tmp_path / "train.py").write_text("print('train')\n")
    return tmp_path


def _run(work: Path, **kwargs: Any) -> TrainingRun:
    options = AttestationOptions(key_path=work / "keys" / "trainer.key", base_path=work)
    return TrainingRun(step="train", options=options, materials=["data", "train.py"], **kwargs)


def _save(path: str, content: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(content)
    return path


def test_run_records_materials_at_start_and_every_checkpoint(work: Path) -> None:
    run = _run(work)
    run.start()
    # Materials are measured when training starts, not when it ends.
    (work / "train.py").write_text("print('edited during training')\n")
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))
    run.checkpoint(_save("ckpt/epoch-2.pt", "two"))
    run.add_product(_save("model/final.safetensors", "final"))
    recorded = run.finish()

    link = _payload(recorded.link_path)
    assert recorded.link_path.resolve() == work / ".atlas" / recorded.link_path.name
    assert link["name"] == "train"
    assert set(link["materials"]) == {"data/train.jsonl", "train.py"}
    original = hashlib.sha256(b"print('train')\n").hexdigest()
    assert link["materials"]["train.py"] == {"sha256": original}
    assert set(link["products"]) == {
        "ckpt/epoch-1.pt",
        "ckpt/epoch-2.pt",
        "model/final.safetensors",
    }
    checkpoint_links = sorted((work / ".atlas" / "checkpoints").glob("*.link"))
    assert [p.name.split(".")[0] for p in checkpoint_links] == [
        "train-checkpoint-1",
        "train-checkpoint-2",
    ]
    first = _payload(checkpoint_links[0])
    assert first["materials"] == {}
    assert first["products"] == {"ckpt/epoch-1.pt": link["products"]["ckpt/epoch-1.pt"]}
    assert not list((work / ".atlas" / ".pending").glob("*.json"))
    assert run.pending == 0


def test_wait_reports_each_checkpoint_attestation(work: Path) -> None:
    run = _run(work)
    run.start()
    run.checkpoint(_save("ckpt/a.pt", "a"))
    done = run.wait()
    assert [(item.index, item.step) for item in done] == [(1, "train-checkpoint-1")]
    assert done[0].seconds >= 0
    assert list(done[0].recorded.products) == ["ckpt/a.pt"]
    run.finish()


def test_without_checkpoint_attestation_only_the_run_is_recorded(work: Path) -> None:
    run = _run(work, attest_checkpoints=False)
    run.start()
    run.checkpoint(_save("ckpt/a.pt", "a"))
    recorded = run.finish()
    assert list(recorded.products) == ["ckpt/a.pt"]
    assert not (work / ".atlas" / "checkpoints").exists()


def _failing_record_step(fail_on: str) -> Any:
    real = training.record_step

    def record_step(**kwargs: Any) -> Any:
        if any(str(p).endswith(fail_on) for p in kwargs["products"]):
            raise InputError(f"{fail_on}: simulated failure")
        return real(**kwargs)

    return record_step


def test_failed_background_attestation_fails_finish_and_writes_no_link(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "record_step", _failing_record_step("b.pt"))
    run = _run(work, worker="thread")  # the patched record_step lives in this process
    run.start()
    run.checkpoint(_save("ckpt/a.pt", "a"))
    run.checkpoint(_save("ckpt/b.pt", "b"))
    with pytest.raises(
        AttestationFailedError, match=r"1 of 2 checkpoint attestations failed.*b\.pt"
    ):
        run.finish()
    assert not list((work / ".atlas").glob("train.*.link"))
    assert not list((work / ".atlas" / ".pending").glob("*.json"))


def test_failed_attestation_is_raised_at_the_next_checkpoint(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "record_step", _failing_record_step("a.pt"))
    run = _run(work, worker="thread")
    run.start()
    run.checkpoint(_save("ckpt/a.pt", "a"))
    with pytest.raises(AttestationFailedError):
        run.wait()
    with pytest.raises(AttestationFailedError, match=r"checkpoint ckpt/a\.pt failed"):
        run.checkpoint(_save("ckpt/b.pt", "b"))
    run.abort()


def test_checkpoint_changed_after_attestation_is_refused(work: Path) -> None:
    run = _run(work)
    run.start()
    run.checkpoint(_save("ckpt/a.pt", "a"))
    run.wait()
    Path("ckpt/a.pt").write_text("tampered after attestation")
    with pytest.raises(AttestationFailedError, match=r"ckpt/a\.pt: changed after it was attested"):
        run.finish()
    assert not list((work / ".atlas").glob("train.*.link"))


def test_a_path_saved_twice_is_refused(work: Path) -> None:
    run = _run(work)
    run.start()
    run.checkpoint(_save("ckpt/last.pt", "1"))
    with pytest.raises(UsageError, match="saved twice"):
        run.checkpoint(_save("ckpt/last.pt", "2"))
    run.abort()


def test_unsaved_path_and_wrong_states_are_usage_errors(work: Path) -> None:
    run = _run(work)
    with pytest.raises(UsageError, match="while the run is new"):
        run.checkpoint("ckpt/a.pt")
    with pytest.raises(UsageError, match="not running"):
        run.finish()
    run.start()
    with pytest.raises(UsageError, match="already running"):
        run.start()
    with pytest.raises(UsageError, match="does not exist"):
        run.checkpoint("ckpt/never-saved.pt")
    run.abort()
    with pytest.raises(UsageError, match="aborted"):
        run.add_product(_save("model/x", "x"))


def test_abort_writes_nothing_and_removes_the_pending_record(work: Path) -> None:
    run = _run(work)
    run.start()
    assert list((work / ".atlas" / ".pending").glob("*.json"))
    run.checkpoint(_save("ckpt/a.pt", "a"))
    run.abort()
    assert not list((work / ".atlas").glob("train.*.link"))
    assert not list((work / ".atlas" / ".pending").glob("*.json"))


def test_missing_material_fails_at_start(work: Path) -> None:
    options = AttestationOptions(key_path=work / "keys" / "trainer.key", base_path=work)
    run = TrainingRun(step="train", options=options, materials=["data/missing.jsonl"])
    with pytest.raises(InputError, match=r"missing\.jsonl"):
        run.start()


def test_worker_thread_runs_at_lower_priority(work: Path) -> None:
    run = _run(work, worker="thread")
    run.start()
    assert run._executor is not None
    niceness = run._executor.submit(os.getpriority, os.PRIO_PROCESS, 0).result()
    run.abort()
    assert niceness >= os.getpriority(os.PRIO_PROCESS, 0)


def test_worker_process_runs_at_the_lowest_priority_and_ends_with_the_run(work: Path) -> None:
    from atlas_intoto.integrations.attest_worker import WORKER_NICENESS

    run = _run(work, worker="process")
    run.start()
    assert run._process is not None
    process = run._process._process
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))
    (done,) = run.wait()  # the worker has lowered its priority before answering
    niceness = os.getpriority(os.PRIO_PROCESS, run._process.pid)
    assert niceness >= min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
    assert done.recorded.link_path.is_file()
    run.finish()
    assert process.poll() == 0  # asked to end, and reaped


def test_a_failure_in_the_worker_process_reaches_the_training_loop(work: Path) -> None:
    run = _run(work, worker="process")
    run.start()
    path = _save("ckpt/epoch-1.pt", "one")
    Path(path).unlink()  # gone before the worker measures it
    run.checkpoint(_save("ckpt/epoch-2.pt", "two"))
    run._checkpoints.append(os.path.abspath(path))
    assert run._executor is not None
    run._jobs.append((os.path.abspath(path), run._executor.submit(run._attest, 9, path)))
    with pytest.raises(AttestationFailedError, match=r"1 of 2 checkpoint attestations failed"):
        run.finish()
    assert not list((work / ".atlas").glob("train.*.link"))


def test_a_worker_process_that_dies_fails_the_attestation(work: Path) -> None:
    run = _run(work, worker="process")
    run.start()
    assert run._process is not None
    run._process._process.kill()
    run._process._process.wait()
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))
    with pytest.raises(AttestationFailedError, match=r"attestation worker .* exited"):
        run.finish()


def test_unknown_worker_is_a_usage_error(work: Path) -> None:
    with pytest.raises(UsageError, match="worker 'fork'"):
        _run(work, worker="fork")


def test_log_outage_queues_checkpoints_without_failing_and_drains_when_it_is_back(
    work: Path,
) -> None:
    from helpers import free_port, log_on

    from atlas_intoto.publishing import pending_markers

    port = free_port()
    options = AttestationOptions(
        key_path=work / "keys" / "trainer.key",
        base_path=work,
        log_url=f"http://127.0.0.1:{port}",
        log_retries=0,
        log_backoff=0.0,
    )
    run = TrainingRun(step="train", options=options, materials=["data"])
    run.start()
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))  # log down: queued, training goes on
    first = run.wait()
    assert [item.published for item in first] == [False]
    assert len(pending_markers(work / ".atlas" / "checkpoints")) == 1
    with log_on(work / "log", port):
        run.checkpoint(_save("ckpt/epoch-2.pt", "two"))  # log back: published, queue drained
        done = run.wait()
        assert [item.published for item in done] == [False, True]
        assert pending_markers(work / ".atlas" / "checkpoints") == []
        recorded = run.finish()
    assert recorded.log_entry_path is not None and run.unpublished == []


def test_log_down_at_finish_keeps_the_link_and_lists_it_unpublished(work: Path) -> None:
    from helpers import free_port

    options = AttestationOptions(
        key_path=work / "keys" / "trainer.key",
        base_path=work,
        log_url=f"http://127.0.0.1:{free_port()}",
        log_retries=0,
    )
    run = TrainingRun(step="train", options=options, materials=["data"], attest_checkpoints=False)
    run.start()
    run.add_product(_save("model/final.bin", "w"))
    recorded = run.finish()
    assert recorded.link_path.is_file()
    assert run.unpublished == [recorded.link_path]


def test_the_run_link_does_not_read_attested_checkpoints_again(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_intoto import measure as measure_mod

    seen: list[Any] = []
    real = measure_mod.measure_files

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(measure_mod, "measure_files", spy)
    run = _run(work)
    run.start()
    run.checkpoint(_save("ckpt/epoch-1.pt", "one" * 1000))
    run.checkpoint(_save("ckpt/epoch-2.pt", "two" * 1000))
    run.add_product(_save("model/final.safetensors", "final"))
    run.wait()
    attested = len(seen)
    run.finish()
    (final,) = seen[attested:]
    assert (final.files_cached, final.files_hashed) == (2, 1)
    assert final.bytes_hashed == len("final")


@pytest.mark.parametrize("checkpoint_c2pa", [False, True])
def test_checkpoint_files_get_c2pa_sidecars_from_the_run_link(
    work: Path, checkpoint_c2pa: bool
) -> None:
    """By default a checkpoint's own link signs no sidecar: the run's link, which lists every
    checkpoint file as a product, signs one for each (the sidecars the bundle carries)."""
    options = AttestationOptions(key_path=work / "keys" / "trainer.key", base_path=work, c2pa=True)
    run = TrainingRun(
        step="train", options=options, materials=["data"], checkpoint_c2pa=checkpoint_c2pa
    )
    run.start()
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))
    run.add_product(_save("model/final.bin", "w"))
    (attested,) = run.wait()
    recorded = run.finish()
    assert set(recorded.sidecars) == {"ckpt/epoch-1.pt", "model/final.bin"}
    for entry in recorded.sidecars.values():
        assert (work / ".atlas" / entry["sidecar"]).is_file()
    if checkpoint_c2pa:
        assert set(attested.recorded.sidecars) == {"ckpt/epoch-1.pt"}
        assert (work / ".atlas" / "checkpoints" / "c2pa" / "ckpt" / "epoch-1.pt.c2pa").is_file()
    else:
        assert attested.recorded.sidecars == {}
        assert "c2pa" not in _payload(attested.recorded.link_path)["environment"]["atlas-intoto"]


def test_ctrl_c_is_the_training_process_s_to_handle_not_the_worker_s(work: Path) -> None:
    import signal

    run = _run(work, worker="process")
    run.start()
    assert run._process is not None
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))
    run.wait()  # the worker is serving: its SIGINT handler is set
    os.kill(run._process.pid, signal.SIGINT)  # as a terminal's Ctrl-C reaches the group
    run.checkpoint(_save("ckpt/epoch-2.pt", "two"))
    assert len(run.wait()) == 2
    assert run.finish().link_path.is_file()


def test_an_encrypted_key_to_prompt_for_keeps_the_worker_in_this_process(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_intoto.keys import PASSWORD_ENV

    generate_keypair("locked", directory=work / "keys", password=b"secret")
    options = AttestationOptions(key_path=work / "keys" / "locked.key", base_path=work)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    prompted: list[Path] = []
    monkeypatch.setattr(  # the terminal prompt, answered
        "atlas_intoto.keys._password_for", lambda path: prompted.append(path) or b"secret"
    )
    run = TrainingRun(step="train", options=options, materials=["data"], worker="process")
    run.start()
    assert run._process is None and run._executor is not None  # a thread: it can prompt
    run.checkpoint(_save("ckpt/epoch-0.pt", "zero"))
    run.wait()
    assert prompted  # asked in this process, for the checkpoint too
    run.abort()
    monkeypatch.setenv(PASSWORD_ENV, "secret")
    run = TrainingRun(step="train", options=options, materials=["data"], worker="process")
    run.start()
    assert run._process is not None  # the worker process reads the password as this one does
    run.checkpoint(_save("ckpt/epoch-1.pt", "one"))
    assert run.finish().link_path.is_file()
