"""Pre-flight against a signed layout: nothing runs when the step does not fit (exit 2)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.cli import main
from atlas_intoto.errors import PreflightError
from atlas_intoto.keys import generate_keypair
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_start, record_stop, run_step

LAYOUT = """\
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2035-01-01T00:00:00Z"
functionaries: {alice: keys/alice.pub, bob: keys/bob.pub}
steps:
  - name: fetch
    functionaries: [alice]
    expected_command: [python3, fetch.py]
    command_match: prefix
    materials: ["ALLOW src/*", "DISALLOW *"]
    products: ["CREATE data/*", "DISALLOW *"]
  - name: train
    functionaries: [alice]
    expected_command: [python3, train.py]
    materials: ["MATCH data/* WITH PRODUCTS FROM fetch", "DISALLOW *"]
    products: ["CREATE model/*", "DISALLOW *"]
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("alice", "bob", "owner"):
        generate_keypair(name, directory=tmp_path / "keys")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a\n")
    (tmp_path / "fetch.py").write_text(
        "import os, sys; os.makedirs('data', exist_ok=True); open('data/d.txt', 'w').write('d')\n"
    )
    (tmp_path / "layout.yaml").write_text(LAYOUT)
    assert (
        main(["layout", "sign", "layout.yaml", "--key", "keys/owner.key", "--out", "l.json"]) == 0
    )
    return tmp_path


def opts(ws: Path, key: str = "alice", **changes: Any) -> RecordingOptions:
    return RecordingOptions(key_path=ws / "keys" / f"{key}.key", layout=ws / "l.json", **changes)


def fetch(ws: Path, *, step: str = "fetch", key: str = "alice", extra: tuple[str, ...] = ()) -> Any:
    marker = ws / "ran"
    command: list[str] = ["python3", "fetch.py", *extra]
    # The command leaves a trace, so a test can see it did not run.
    (ws / "fetch.py").write_text(
        f"import os; open({str(marker)!r}, 'w'); os.makedirs('data', exist_ok=True); "
        "open('data/d.txt', 'w').write('d')\n"
    )
    return run_step(
        step=step,
        options=opts(ws, key),
        command=command,
        materials=["src"],
        products=["data"],
        echo_stdout=io.StringIO(),
    )


def test_a_fitting_step_runs(ws: Path) -> None:
    fetch(ws, extra=("--rows", "3"))  # prefix match
    assert (ws / "ran").exists()


def test_unknown_step_gets_a_did_you_mean_hint_and_nothing_runs(ws: Path) -> None:
    with pytest.raises(PreflightError, match=r"step 'fecth' is not declared.*did you mean 'fetch'"):
        fetch(ws, step="fecth")
    assert not (ws / "ran").exists()
    assert list((ws / ".atlas").glob("*.link")) == []


def test_a_key_that_is_not_a_functionary_of_the_step_is_refused(ws: Path) -> None:
    with pytest.raises(PreflightError, match="is not a functionary of step fetch"):
        fetch(ws, key="bob")
    assert not (ws / "ran").exists()


def test_a_command_that_does_not_match_is_refused(ws: Path) -> None:
    with pytest.raises(PreflightError, match=r"does not match expected_command.*\(prefix\)"):
        run_step(
            step="fetch",
            options=opts(ws),
            command=[sys.executable, "-c", "open('ran', 'w')"],
            materials=["src"],
            echo_stdout=io.StringIO(),
        )
    assert not (ws / "ran").exists()


def test_materials_breaking_the_rules_are_refused(ws: Path) -> None:
    (ws / "fetch.py").write_text("x")
    with pytest.raises(PreflightError, match=r"materials: .*DISALLOW"):
        run_step(
            step="fetch",
            options=opts(ws),
            command=["python3", "fetch.py"],
            materials=["src", "fetch.py"],
            echo_stdout=io.StringIO(),
        )


def test_match_rules_read_the_upstream_link_from_the_evidence_directory(ws: Path) -> None:
    fetch(ws)
    (ws / "data" / "d.txt").write_text("changed")
    with pytest.raises(PreflightError, match="train: materials"):
        record_start(
            step="train", options=opts(ws), materials=["data"], command=["python3", "train.py"]
        )
    (ws / "data" / "d.txt").write_text("d")
    record_start(
        step="train", options=opts(ws), materials=["data"], command=["python3", "train.py"]
    )


def test_missing_upstream_link_is_a_note_not_a_failure(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (ws / "data").mkdir()
    (ws / "data" / "d.txt").write_text("d")
    record_start(
        step="train", options=opts(ws), materials=["data"], command=["python3", "train.py"]
    )
    assert "material rules not checked: no link of step(s) fetch" in capfd.readouterr().err


def test_record_start_without_command_cannot_satisfy_expected_command(ws: Path) -> None:
    fetch(ws)
    with pytest.raises(PreflightError, match="give 'record start --command'"):
        record_start(step="train", options=opts(ws), materials=["data"])


def test_record_start_command_is_recorded_by_record_stop(ws: Path) -> None:
    fetch(ws)
    record_start(
        step="train", options=opts(ws), materials=["data"], command=["python3", "train.py"]
    )
    (ws / "model").mkdir()
    (ws / "model" / "m").write_text("m")
    recorded = record_stop(step="train", options=opts(ws), products=["model"])
    from atlas_intoto.link import read_unverified_link

    assert list(read_unverified_link(recorded.envelope, source="x").command) == [
        "python3",
        "train.py",
    ]


def test_cli_run_with_layout_typo_exits_2_with_hint(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "--step",
            "trian",
            "--key",
            "keys/alice.key",
            "--layout",
            "l.json",
            "--json",
            "--",
            "python3",
            "-c",
            "open('ran', 'w')",
        ]
    )
    assert code == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["check"] == "preflight" and "did you mean 'train'" in error["message"]
    assert not (ws / "ran").exists()


def test_cli_record_start_command_option(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fetch(ws)
    code = main(
        [
            "record",
            "start",
            "--step",
            "train",
            "--key",
            "keys/alice.key",
            "--layout",
            "l.json",
            "--materials",
            "data",
            "--command",
            "python3 train.py",
            "--json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["command"] == ["python3", "train.py"]


def _identity_layout(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization

    from atlas_intoto.ca.keys import create_authority
    from atlas_intoto.keys import load_signer
    from atlas_intoto.layout import load_and_pin, sign_layout

    ca = create_authority()
    (tmp_path / "chain.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in ca.chain)
    )
    (tmp_path / "ct.pub").write_bytes(ca.ct_public_key_pem())
    generate_keypair("owner", directory=tmp_path)
    generate_keypair("release", directory=tmp_path)
    doc = {
        "apiVersion": "atlas-intoto/v1",
        "kind": "Layout",
        "expires": "2099-01-01T00:00:00Z",
        "functionaries": {
            "ci": {"identity": {"issuer": "https://gitlab.com", "subject_pattern": ".+"}},
            "release": "release.pub",
        },
        "trust": {"ca": {"roots": ["chain.pem"], "ct_keys": ["ct.pub"]}},
        "steps": [
            {"name": "train", "functionaries": ["ci"]},
            {"name": "package", "functionaries": ["release"]},
        ],
    }
    (tmp_path / "layout.json").write_text(json.dumps(doc))
    signed = tmp_path / "signed.layout"
    signed.write_bytes(
        sign_layout(load_and_pin(tmp_path / "layout.json"), [load_signer(tmp_path / "owner.key")])
    )
    return signed


def test_keyless_recording_of_an_identity_step_passes_preflight(tmp_path: Path) -> None:
    from atlas_intoto.preflight import check_step

    layout = _identity_layout(tmp_path)
    ephemeral = "ab" * 32
    check_step(
        layout_path=layout,
        step="train",
        keyid=ephemeral,
        command=None,
        materials=None,
        keyless=True,
    )
    # keyless cannot sign a step of key functionaries only, and a key cannot sign for an identity
    with pytest.raises(PreflightError, match="no identity functionary"):
        check_step(
            layout_path=layout,
            step="package",
            keyid=ephemeral,
            command=None,
            materials=None,
            keyless=True,
        )
    with pytest.raises(PreflightError, match="not a functionary of step train"):
        check_step(layout_path=layout, step="train", keyid=ephemeral, command=None, materials=None)
