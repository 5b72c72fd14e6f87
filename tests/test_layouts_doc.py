"""docs/layouts.md: its worked example runs exactly as written, from an empty directory to a
verified bundle (files marked ``<!-- file: NAME -->``, commands marked ``<!-- run -->``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "layouts.md"
_BLOCK = re.compile(r"<!-- (file: [^ ]+|run|run: fails) -->\n```[a-z]*\n(.*?)```\n", re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(DOC.read_text())]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("ATLAS_INTOTO_KEY_PASSWORD", None)
    return env


def test_the_doc_has_the_example() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds.count("run") == 1 and "run: fails" in kinds
    assert {"file: pipeline.yaml", "file: fetch.py", "file: train.py"} <= set(kinds)


def test_worked_example_runs_to_a_verified_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = _env()
    for kind, body in _blocks():
        if kind.startswith("file: "):
            (tmp_path / kind.removeprefix("file: ")).write_text(body)
        elif kind == "run":
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", body], env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            assert "VERIFIED" in done.stdout + done.stderr
        else:
            done = subprocess.run(["bash", "-c", body], env=env, capture_output=True, text=True)
            assert done.returncode == 2, done.stderr
            shown = re.search(r"```\n(atlas-intoto: error: .*?)\n```", DOC.read_text())
            assert shown is not None
            assert done.stderr.strip().splitlines()[-1] == shown.group(1)
            assert not list((tmp_path / ".atlas").glob("trian.*"))
