"""Issue 11 item 2: a requirement the layout states but no verifier could check, and an already
expired layout, are layout errors at ``layout check`` / ``layout sign`` time (exit 1, naming the
field)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from layout_helpers import NOW, SOURCE

from atlas_intoto.cli import main
from atlas_intoto.errors import LayoutExpiredError, LayoutUncheckableError
from atlas_intoto.layout import load_and_pin, parse_layout
from atlas_intoto.layout.checkable import check_checkable


def _write(project: Path, mutate: object) -> Path:
    doc = yaml.safe_load(SOURCE)
    mutate(doc)  # type: ignore[operator]
    path = project / "variant.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _check(path: Path, now: int = NOW) -> None:
    check_checkable(parse_layout(load_and_pin(path)), now=now, source=str(path))


def test_the_sample_layout_is_checkable(project: Path) -> None:
    _check(project / "layout.yaml")


def test_tee_required_without_roots(project: Path) -> None:
    path = _write(project, lambda d: d["trust"].pop("tee"))
    with pytest.raises(LayoutUncheckableError, match=r"steps\[0\]\.tee: .*no TEE root"):
        _check(path)


def test_tee_not_required_without_roots_is_fine(project: Path) -> None:
    def mutate(doc: dict) -> None:  # type: ignore[type-arg]
        doc["trust"].pop("tee")
        doc["steps"][0]["tee"] = {"required": False}

    _check(_write(project, mutate))


def test_c2pa_required_without_anchors(project: Path) -> None:
    path = _write(project, lambda d: d["trust"].pop("c2pa"))
    with pytest.raises(LayoutUncheckableError, match=r"steps\[0\]\.c2pa\.required"):
        _check(path)


def test_expired_layout(project: Path) -> None:
    with pytest.raises(LayoutExpiredError, match="expires"):
        _check(project / "layout.yaml", now=2_000_000_000)


@pytest.mark.parametrize("command", ["check", "sign"])
def test_cli_refuses_uncheckable_layouts_with_exit_1(
    project: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(project, lambda d: d["trust"].pop("c2pa"))
    argv = ["layout", command, str(path), "--json"]
    if command == "sign":
        argv += ["--key", str(project / "keys" / "owner.key"), "--out", str(project / "o")]
    assert main(argv) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert "steps[0].c2pa.required" in error["message"]
    assert not (project / "o").exists()
