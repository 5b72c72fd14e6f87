"""``atlas-intoto demo``: the whole pipeline passes, the tampered copy fails, nothing left running."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from atlas_intoto.cli import main
from atlas_intoto.errors import OperationalError


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "demo"
    threads_before = set(threading.enumerate())
    assert main(["demo", "--dir", str(directory), "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["verified"] is True and doc["tampered_detected"] is True
    assert doc["tampered_error"] == "FinalArtifactError"
    bundle = json.loads(Path(doc["bundle"]).read_bytes())
    assert bundle["media_type"] == "application/vnd.atlas-intoto.bundle.v2+json"
    assert "dist/model.npz" in doc["tampered_reason"]
    html = (directory / "report.html").read_text()
    assert "✓ VERIFIED" in html
    for step in ("prepare", "train", "evaluate", "package"):
        assert f'data-step="{step}"' in html
    assert "VERIFICATION FAILED" in (directory / "tampered-report.html").read_text()
    # the verified bundle verifies again from the CLI, offline, with only the owner key
    assert (
        main(
            [
                "verify",
                doc["bundle"],
                "--layout-key",
                str(directory / "keys" / "owner.pub"),
                "--artifacts",
                str(directory / "work"),
            ]
        )
        == 0
    )
    # no server left behind
    url = next(
        line.split(" at ")[1] for line in captured.err.splitlines() if "transparency log at" in line
    )
    assert not _port_open(url)
    assert not [t for t in set(threading.enumerate()) - threads_before if t.name == "atlas-log"]
    # human output: the numbered summary in order, short, no per-check lines after it
    lines = [line for line in captured.err.splitlines() if line[:2] in {f"{n}." for n in range(10)}]
    numbers = [int(line.split(".")[0]) for line in lines]
    assert numbers == sorted(numbers) and set(numbers) == set(range(1, 10))
    assert "7. verify: VERIFIED" in captured.err
    assert "PASS" not in captured.err and "\nVERIFIED" not in captured.err
    assert captured.err.rstrip().splitlines()[-1].startswith("demo finished")


def test_demo_refuses_non_empty_dir(tmp_path: Path) -> None:
    from atlas_intoto.demo import run_demo

    (tmp_path / "x").write_text("mine")
    with pytest.raises(OperationalError, match="not empty"):
        run_demo(tmp_path)


def test_demo_dir_that_is_a_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_intoto.demo import run_demo
    from atlas_intoto.errors import InputError

    target = tmp_path / "file"
    target.write_text("mine")
    with pytest.raises(InputError, match="not a directory"):
        run_demo(target)
    assert main(["demo", "--dir", str(target), "--json"]) == 2
    assert "not a directory" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert target.read_text() == "mine"


def test_demo_layout_is_package_data_identical_to_documented_example() -> None:
    import atlas_intoto
    from atlas_intoto.demo import DEMO_LAYOUT

    package = Path(atlas_intoto.__file__).resolve().parent
    assert DEMO_LAYOUT.parent == package / "data"  # shipped by package-data "data/*"
    assert DEMO_LAYOUT.read_bytes() == (package.parent / "layouts" / "demo.yaml").read_bytes()
