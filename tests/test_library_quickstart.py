"""examples/library_quickstart.py: the library-only flow verifies; a tampered artifact fails."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

from atlas_intoto.errors import EvidenceError, FinalArtifactError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "library_quickstart.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("library_quickstart", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quickstart_verifies_and_detects_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quickstart = _load()
    result = quickstart.run(tmp_path / "qs")
    assert result.report.ok
    assert {row.check for row in result.report.results} == {
        "layout", "links", "rules", "tee", "c2pa", "tlog", "artifacts",
    }  # fmt: skip
    assert [s.step for s in result.report.steps] == ["prepare", "train"]
    assert all(
        s.tee_type == "simulated-tdx" and s.log_index is not None for s in result.report.steps
    )
    first = result.tampered_report.first_failure
    assert not result.tampered_report.ok and first is not None
    assert first.check == "artifacts" and first.error == "FinalArtifactError"
    assert first.error_class is FinalArtifactError
    assert issubclass(first.error_class, EvidenceError)
    assert "model/weights.bin" in first.reason
    out = capsys.readouterr().out
    assert "exit code 3" in out and "garbage bundle: InputError" in out
    assert (tmp_path / "qs" / "report.html").is_file()
    # the in-process log server was stopped
    assert not [t for t in threading.enumerate() if t.name == "atlas-log"]


def test_quickstart_main_exit_code(tmp_path: Path) -> None:
    assert _load().main([str(tmp_path / "qs")]) == 0


def test_error_class_resolves_names() -> None:
    from atlas_intoto.verify import CheckResult

    row = CheckResult(check="tee", step="s", passed=False, reason="r", error="TcbStatusError")
    from atlas_intoto.errors import TcbStatusError

    assert row.error_class is TcbStatusError
    assert CheckResult(check="tee", step="s", passed=True, reason="ok").error_class is None
    crash = CheckResult(check="tee", step="s", passed=False, reason="r", error="KeyError")
    assert crash.error_class is None
