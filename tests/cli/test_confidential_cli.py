"""The confidential options on the command line: ``run --private/--private-secret``,
``bundle create --audience``, ``verify --openings``; malformed input is one line, exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from atlas_intoto.cli import main
from atlas_intoto.confidential.secret import generate_secret
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import load_and_pin, sign_layout

PREPARE = "import pathlib; pathlib.Path('data').mkdir(exist_ok=True); (pathlib.Path('data') / 'd.csv').write_text('secret,1\\n')"
TRAIN = "import pathlib; pathlib.Path('model').mkdir(exist_ok=True); pathlib.Path('model/m.bin').write_bytes(next(pathlib.Path('data').iterdir()).read_bytes()[::-1])"


def _layout(root: Path, match: str = "data/*") -> Path:
    doc = {
        "apiVersion": "atlas-intoto/v1",
        "kind": "Layout",
        "expires": "2099-01-01T00:00:00Z",
        "private": ["data/*"],
        "functionaries": {"alice": "keys/alice.pub"},
        "steps": [
            {
                "name": "prepare",
                "functionaries": ["alice"],
                "products": ["CREATE data/*", "DISALLOW *"],
            },
            {
                "name": "train",
                "functionaries": ["alice"],
                "materials": [f"MATCH {match} WITH PRODUCTS FROM prepare", "DISALLOW *"],
                "products": ["CREATE model/*", "DISALLOW *"],
            },
        ],
    }
    (root / "layout.yaml").write_text(yaml.safe_dump(doc))
    signed = root / "layout.layout"
    signed.write_bytes(
        sign_layout(load_and_pin(root / "layout.yaml"), [load_signer(root / "keys" / "owner.key")])
    )
    return signed


def _bundle_create(out: str, *extra: str) -> int:
    """``bundle create`` of the recorded evidence (``ev``) under ``layout.layout``."""
    return main(
        ["bundle", "create", "--layout", "layout.layout", "--evidence", "ev", "--out", out, *extra]
    )


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("owner", "alice"):
        generate_keypair(name, directory=tmp_path / "keys")
    generate_secret(tmp_path / "pipeline.secret")
    common = [
        "--key",
        "keys/alice.key",
        "--out",
        "ev",
        "--private",
        "data/*",
        "--private-secret",
        "pipeline.secret",
    ]
    assert (
        main(
            [
                "run",
                "--step",
                "prepare",
                *common,
                "--products",
                "data",
                "--",
                sys.executable,
                "-c",
                PREPARE,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "run",
                "--step",
                "train",
                *common,
                "--materials",
                "data/d.csv",
                "--products",
                "model",
                "--",
                sys.executable,
                "-c",
                TRAIN,
            ]
        )
        == 0
    )
    _layout(tmp_path)
    return tmp_path


def test_public_and_auditor_bundles_from_the_cli(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = json.loads((next((recorded / "ev").glob("prepare.*.link"))).read_bytes())
    assert b"data/d.csv" not in json.dumps(link).encode()
    capsys.readouterr()
    assert _bundle_create("public.json", "--json") == 0
    assert json.loads(capsys.readouterr().out)["audience"] == "public"
    assert b"data/d.csv" not in (recorded / "public.json").read_bytes()
    assert _bundle_create("auditor.json", "--audience", "auditor", "--json") == 0
    assert json.loads(capsys.readouterr().out)["openings"] == 1

    assert main(["verify", "public.json", "--layout-key", "keys/owner.pub", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    skips = [
        r
        for r in report["results"]
        if r["check"] == "artifacts" and r["status"] == "skip" and r["step"]
    ]
    assert {r["step"] for r in skips} == {"prepare", "train"}

    openings = sorted(str(p) for p in (recorded / "ev").glob("*.openings.json"))
    args = [
        "verify",
        "public.json",
        "--layout-key",
        "keys/owner.pub",
        "--artifacts",
        ".",
        "--allow-unattested",
        "--json",
    ]
    for path in openings:
        args += ["--openings", path]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert all(r["status"] == "pass" for r in report["results"] if r["check"] == "artifacts")

    (recorded / "data" / "d.csv").write_text("swapped\n")
    assert (
        main(
            [
                "verify",
                "auditor.json",
                "--layout-key",
                "keys/owner.pub",
                "--artifacts",
                ".",
                "--allow-unattested",
                "--json",
            ]
        )
        == 1
    )
    report = json.loads(capsys.readouterr().out)
    failing = [r for r in report["results"] if r["status"] == "fail"]
    assert [r["error"] for r in failing] == ["OpeningMismatchError"]


def test_a_layout_naming_a_private_file_is_not_bundled_publicly(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _layout(recorded, match="data/d.csv")
    code = _bundle_create("public.json")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "would disclose private path data/d.csv" in err and "\n" not in err
    assert not (recorded / "public.json").exists()


def test_malformed_openings_file(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _bundle_create("public.json") == 0
    (recorded / "bad.json").write_text(
        '{"media_type": "application/vnd.atlas-intoto.openings.v1+json", "openings": {"zz": {}}}'
    )
    capsys.readouterr()
    code = main(
        ["verify", "public.json", "--layout-key", "keys/owner.pub", "--openings", "bad.json"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "bad.json" in err and "\n" not in err


def test_bad_secret(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (recorded / "short.secret").write_text("abcd\n")
    code = main(
        [
            "run",
            "--step",
            "prepare",
            "--key",
            "keys/alice.key",
            "--out",
            "ev2",
            "--private",
            "data/*",
            "--private-secret",
            "short.secret",
            "--products",
            "data",
            "--",
            sys.executable,
            "-c",
            PREPARE,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "short.secret" in err and "at least 32 bytes" in err
    assert not (recorded / "ev2").exists() or not list((recorded / "ev2").glob("*.link"))


def test_auditor_directory_missing_the_private_file(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``verify --openings --artifacts DIR`` without the opened private file fails closed
    (exit 1, its own error), never passes having compared nothing."""
    assert _bundle_create("public.json") == 0
    (recorded / "data" / "d.csv").unlink()
    capsys.readouterr()
    args = ["verify", "public.json", "--layout-key", "keys/owner.pub", "--artifacts", "."]
    for path in sorted((recorded / "ev").glob("*.openings.json")):
        args += ["--openings", str(path)]
    assert main([*args, "--allow-unattested", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failing = [r for r in report["results"] if r["status"] == "fail"]
    assert [r["error"] for r in failing] == ["MissingPrivateFileError"]
    assert "data/d.csv" in failing[0]["reason"] and "\n" not in failing[0]["reason"]


def test_run_json_prints_what_the_link_records(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --json`` goes to CI logs: a private artifact appears by its committed name, and
    the openings file is named."""
    capsys.readouterr()
    code = main(
        [
            "run",
            "--step",
            "train",
            "--key",
            "keys/alice.key",
            "--out",
            "ev",
            "--private",
            "data/*",
            "--private-secret",
            "pipeline.secret",
            "--materials",
            "data/d.csv",
            "--products",
            "model",
            "--json",
            "--",
            sys.executable,
            "-c",
            TRAIN,
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "data/d.csv" not in out
    doc = json.loads(out)
    assert [m.startswith("private/") for m in doc["materials"]] == [True]
    assert doc["openings"].endswith(".openings.json")
