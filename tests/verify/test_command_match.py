"""Check 2 holds a link's command against expected_command per command_match (end to end)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from atlas_intoto.bundle import collect_evidence, serialize_bundle
from atlas_intoto.cli import main
from atlas_intoto.errors import CommandMismatchError
from atlas_intoto.keys import generate_keypair
from atlas_intoto.layout import load_signed_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_start, record_stop, run_step
from atlas_intoto.verify import verify_bundle

LAYOUT = """\
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2035-01-01T00:00:00Z"
functionaries: {{alice: keys/alice.pub}}
steps:
  - name: s
    functionaries: [alice]
    expected_command: ["{python}", "-c"]
    command_match: {match}
"""


def _verify(tmp_path: Path, match: str, record: str) -> list[type[Exception] | None]:
    generate_keypair("alice", directory=tmp_path / "keys")
    generate_keypair("owner", directory=tmp_path / "keys")
    (tmp_path / "l.yaml").write_text(LAYOUT.format(python=sys.executable, match=match))
    assert main(["layout", "sign", "l.yaml", "--key", "keys/owner.key", "--out", "l.json"]) == 0
    options = RecordingOptions(key_path=tmp_path / "keys" / "alice.key")
    if record == "run":
        run_step(
            step="s",
            options=options,
            command=[sys.executable, "-c", "pass"],
            echo_stdout=io.StringIO(),
        )
    else:  # record start/stop, the command declared at start
        record_start(step="s", options=options, materials=[], command=[sys.executable, "-c"])
        record_stop(step="s", options=options, products=[])
    envelope, _ = load_signed_layout(tmp_path / "l.json")
    bundle = collect_evidence(layout_envelope=envelope, evidence_dirs=[tmp_path / ".atlas"])
    report = verify_bundle(
        serialize_bundle(bundle), layout_keys=[(tmp_path / "keys" / "owner.pub").read_bytes()]
    )
    return [row.error_class for row in report.failures]


@pytest.mark.parametrize(
    ("match", "record", "errors"),
    [
        ("exact", "run", [CommandMismatchError]),
        ("prefix", "run", []),
        ("none", "run", []),
        ("exact", "record", []),
    ],
)
def test_command_match_in_verification(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    match: str,
    record: str,
    errors: list[type[Exception]],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _verify(tmp_path, match, record) == errors
