"""Recording private artifacts: record start/stop, re-runs, the secret from the environment,
and the openings file's mode."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from confidential_builder import IO, build

from atlas_intoto.confidential.commitment import is_committed
from atlas_intoto.confidential.openings import parse_openings
from atlas_intoto.confidential.secret import SECRET_ENV, load_secret
from atlas_intoto.errors import InputError
from atlas_intoto.link import read_unverified_link
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_start, record_stop


def test_record_start_stop_commits_at_stop(tmp_path: Path) -> None:
    pipeline = build(tmp_path, record=False)
    pipeline.record("prepare")
    options = pipeline.options("train")
    materials, products = IO["train"]
    record_start(step="train", options=options, materials=list(materials))
    recorded = record_stop(step="train", options=options, products=list(products))
    link = read_unverified_link(recorded.envelope, source="train")
    assert [m for m in link.materials if is_committed(m)] and "data/train.csv" not in link.materials
    assert recorded.openings_path is not None and recorded.openings_path.is_file()
    assert stat.S_IMODE(recorded.openings_path.stat().st_mode) == 0o600
    assert "data/train.csv" in recorded.materials  # the API returns the measured, clear digests


def test_rerun_moves_the_old_openings_aside(tmp_path: Path) -> None:
    pipeline = build(tmp_path, record=False)
    first = pipeline.record("prepare")
    (pipeline.work / "data" / "test.csv").write_text("x,y\n5,10\n")
    second = pipeline.record("prepare")
    assert second.superseded is not None
    old = list(second.superseded.rglob("*.openings.json"))
    assert len(old) == 1 and first.openings_path is not None
    new = parse_openings(first.openings_path.read_bytes(), source="new")
    previous = parse_openings(old[0].read_bytes(), source="old")
    assert {o.commitment for o in new.items} != {o.commitment for o in previous.items}


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SECRET_ENV, "ab" * 32)
    assert load_secret(None) == bytes.fromhex("ab" * 32)
    monkeypatch.setenv(SECRET_ENV, "not hex")
    with pytest.raises(InputError, match=SECRET_ENV):
        load_secret(None)
    (tmp_path / "s").write_text("ab" * 8)
    with pytest.raises(InputError, match="at least 32 bytes"):
        load_secret(tmp_path / "s")


def test_secret_file_is_private(tmp_path: Path) -> None:
    pipeline = build(tmp_path, record=False)
    assert stat.S_IMODE(pipeline.secret.stat().st_mode) == 0o600


def test_options_round_trip() -> None:
    options = RecordingOptions(
        key_path=Path("k"), private=("data/*",), private_secret=Path("pipeline.secret")
    )
    again = RecordingOptions.from_dict(options.to_dict())
    assert again.private == ("data/*",) and again.private_secret == Path("pipeline.secret")
    assert RecordingOptions.from_dict({"key_path": "k"}).private == ()


def test_preflight_checks_rules_over_commitments(tmp_path: Path) -> None:
    from atlas_intoto.errors import PreflightError
    from atlas_intoto.step import run_step

    pipeline = build(tmp_path, record=False)

    def run(step: str, materials: list[str], products: list[str]) -> None:
        run_step(
            step=step,
            options=pipeline.options(step, layout=pipeline.layout_file),
            command=["true"],
            materials=materials,
            products=products,
        )

    run("prepare", ["src/prepare.py"], ["data"])
    run("train", ["data/train.csv", "src/train.py"], ["model"])
    (pipeline.work / "data" / "train.csv").write_text("swapped\n")
    with pytest.raises(PreflightError, match="step train: materials"):
        run("train", ["data/train.csv", "src/train.py"], ["model"])


def test_command_and_output_naming_a_private_file_are_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command naming a private file and its recorded output printing the path and digests
    (hex, upper-case hex, base64) reach the link, Statement and log: they are redacted to the
    committed name before signing."""
    import base64
    import hashlib
    import io

    from confidential_builder import TRAIN_CSV

    from atlas_intoto.step import run_step

    pipeline = build(tmp_path, record=False)
    pipeline.record("prepare")
    monkeypatch.chdir(pipeline.work)
    digest = hashlib.sha256(TRAIN_CSV).digest()
    script = (
        "import sys; print('reading data/train.csv, /abs/data/other.csv and data/x from data/'); "
        f"print('{digest.hex()}', '{digest.hex().upper()}'); "
        f"print('{base64.b64encode(digest).decode()}', file=sys.stderr); "
        "open('model/model.npz', 'wb').write(b'MODEL-1')"
    )
    recorded = run_step(
        step="train",
        command=["python3", "-c", script, "--data", "data/train.csv"],
        options=pipeline.options("train", record_output=True),
        materials=list(IO["train"][0]),
        products=list(IO["train"][1]),
        echo_stdout=io.StringIO(),
        echo_stderr=io.StringIO(),
    )
    link = read_unverified_link(recorded.envelope, source="train")
    committed = next(m for m in link.materials if is_committed(m))
    assert link.command[-1] == committed
    assert committed in link.byproducts["stdout"]
    # a private file that is not this step's artifact: the word is redacted
    assert link.byproducts["stdout"].splitlines()[0] == (
        f"reading {committed}, [private path] and [private path] from data/"
    )
    assert link.command[:2] == ["python3", "-c"]
    written = [recorded.envelope]
    if recorded.sigstore_bundle_path is not None:
        written.append(recorded.sigstore_bundle_path.read_bytes())
    from atlas_intoto.confidential.audience import disclosures
    from atlas_intoto.confidential.openings import Openings

    assert recorded.openings_path is not None
    openings = parse_openings(recorded.openings_path.read_bytes(), source="openings")
    for data in written:
        assert disclosures(data, Openings(items=openings.items)) == []
    text = json.dumps(link.to_dict())
    for needle in ("data/train", "data/other", digest.hex(), digest.hex().upper()):
        assert needle not in text


def test_the_pipeline_secret_printed_by_the_command_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command inherits ATLAS_INTOTO_PRIVATE_SECRET: printing it (``env``, a debug line)
    with --record-output must not sign it into the link and the log."""
    import io

    from atlas_intoto.step import run_step

    pipeline = build(tmp_path, record=False)
    secret = pipeline.secret.read_text().strip()
    monkeypatch.setenv(SECRET_ENV, secret)
    monkeypatch.chdir(pipeline.work)
    script = f"import os; print(os.environ['{SECRET_ENV}'], os.environ['{SECRET_ENV}'].upper())"
    recorded = run_step(
        step="prepare",
        command=["python3", "-c", script],
        options=pipeline.options("prepare", private_secret=None, record_output=True),
        materials=list(IO["prepare"][0]),
        products=list(IO["prepare"][1]),
        echo_stdout=io.StringIO(),
        echo_stderr=io.StringIO(),
    )
    link = read_unverified_link(recorded.envelope, source="prepare")
    text = json.dumps(link.to_dict())
    assert secret not in text and secret.upper() not in text
    assert link.byproducts["stdout"].split() == ["[pipeline", "secret]"] * 2
