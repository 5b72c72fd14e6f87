"""The record start state: record stop with another --out says where the pending record is;
errors name absolute paths; --base-path from another directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_intoto.cli import main
from atlas_intoto.errors import InputError
from atlas_intoto.keys import generate_keypair
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_start, record_stop


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("alice", directory=tmp_path / "keys")
    (tmp_path / "in.txt").write_text("x")
    return tmp_path


def test_record_stop_without_the_starts_out_says_where_the_pending_record_is(ws: Path) -> None:
    key = ws / "keys" / "alice.key"
    kept = record_start(
        step="s", options=RecordingOptions(key_path=key, out_dir=Path("ev")), materials=["in.txt"]
    )
    with pytest.raises(InputError) as caught:
        record_stop(step="s", options=RecordingOptions(key_path=key), products=[])
    message = str(caught.value)
    assert message.startswith(str(ws / ".atlas" / ".pending"))
    assert f"record start kept it in {ws / kept}" in message
    assert f"give the same --out ({ws / 'ev'})" in message
    # With the right --out it completes, and the hint goes with the record.
    record_stop(step="s", options=RecordingOptions(key_path=key, out_dir=Path("ev")), products=[])
    with pytest.raises(InputError, match="run 'record start' first"):
        record_stop(
            step="s", options=RecordingOptions(key_path=key, out_dir=Path("ev")), products=[]
        )


def test_base_path_given_from_another_directory_names_the_absolute_path(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "record",
            "start",
            "--step",
            "s",
            "--key",
            "keys/alice.key",
            "--base-path",
            "elsewhere",
            "--materials",
            "in.txt",
        ]
    )
    assert code == 2
    assert f"{ws / 'elsewhere'}: base path not accessible" in capsys.readouterr().err


def test_missing_material_names_where_it_was_looked_for(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (ws / "sub").mkdir()
    code = main(
        [
            "record",
            "start",
            "--step",
            "s",
            "--key",
            "keys/alice.key",
            "--base-path",
            "sub",
            "--materials",
            "in.txt",
        ]
    )
    assert code == 2
    assert f"in.txt: not found (looked for {ws / 'sub' / 'in.txt'})" in capsys.readouterr().err
