"""CLI conventions: exit codes, --json documents, one-line errors, fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_intoto.cli import main


def test_help_is_fast_and_lists_commands() -> None:
    # Run in a fresh interpreter: import time is what the user waits for.
    code = (
        "import time, sys; t=time.perf_counter(); from atlas_intoto.cli import build_parser; "
        "build_parser(); print(time.perf_counter()-t); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('in_toto','securesystemslib','c2pa','dcap_qvl','sigstore','cryptography','starlette')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed, heavy = proc.stdout.splitlines()
    assert heavy == "[]", f"--help imports heavy libraries: {heavy}"
    assert float(elapsed) < 1.0  # generous: the real budget (0.3 s) is a benchmark concern


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_keygen_json_and_refuses_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "alice", "--dir", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["keyid"]) == 64
    assert (tmp_path / "alice.key").stat().st_mode & 0o777 == 0o600
    assert main(["keygen", "alice", "--dir", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    err = json.loads(captured.out)["error"]
    assert err["exit_code"] == 2 and "already exists" in err["message"]
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
