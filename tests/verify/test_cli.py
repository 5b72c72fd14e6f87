"""CLI: verify / verify-batch / inspect exit codes and JSON output (CONTRACT.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bundle_builder import Pipeline

from atlas_intoto.cli import main


def test_verify_pass_json(plain_pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "verify",
            str(plain_pipeline.bundle_file),
            "--layout-key",
            str(plain_pipeline.keys / "owner.pub"),
            "--artifacts",
            str(plain_pipeline.work),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)
    assert doc["ok"] is True and {r["check"] for r in doc["results"]} >= {"layout", "artifacts"}
    assert "VERIFIED" in captured.err


def test_verify_fail_is_exit_1(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "model.npz").write_bytes(b"swapped")
    code = main(
        [
            "verify",
            str(plain_pipeline.bundle_file),
            "--layout-key",
            str(plain_pipeline.keys / "owner.pub"),
            "--artifacts",
            str(tmp_path),
            "--html",
            str(tmp_path / "r.html"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL 7. artifacts" in captured.err and captured.out == ""
    assert "VERIFICATION FAILED" in (tmp_path / "r.html").read_text()


def test_verify_operational_errors_are_exit_2(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(plain_pipeline.keys / "owner.pub")
    (tmp_path / "bad.json").write_text("{")
    for argv in (
        ["verify", str(tmp_path / "missing.json"), "--layout-key", key],
        ["verify", str(tmp_path / "bad.json"), "--layout-key", key],
        ["verify", str(plain_pipeline.bundle_file), "--layout-key", str(tmp_path / "bad.json")],
    ):
        assert main([*argv, "--json"]) == 2, argv
        out = capsys.readouterr().out
        if out:
            assert json.loads(out)["ok"] is False
    with pytest.raises(SystemExit) as info:
        main(["verify", str(plain_pipeline.bundle_file)])
    assert info.value.code == 2


def test_verify_batch(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = plain_pipeline.bundle_file
    doc = plain_pipeline.bundle_doc()
    del doc["steps"]["train"]
    bad = tmp_path / "bad.atlas.json"
    bad.write_text(json.dumps(doc))
    key = str(plain_pipeline.keys / "owner.pub")
    assert main(["verify-batch", str(good), str(good), "--layout-key", key, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert (
        main(
            [
                "verify-batch",
                str(good),
                str(bad),
                str(good),
                "--layout-key",
                key,
                "--json",
                "--no-cache",
            ]
        )
        == 1
    )
    doc = json.loads(capsys.readouterr().out)
    assert [b["ok"] for b in doc["bundles"]] == [True, False, True]


@pytest.mark.parametrize("fmt", ["text", "json", "dot", "html"])
def test_inspect_formats(
    plain_pipeline: Pipeline, fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"lineage.{fmt}"
    assert (
        main(["inspect", str(plain_pipeline.bundle_file), "--format", fmt, "--out", str(out)]) == 0
    )
    text = out.read_text()
    for step in ("prepare", "train", "package"):
        assert step in text
    if fmt == "json":
        assert json.loads(text)["verified"] is False
    if fmt == "dot":
        assert text.startswith("digraph lineage {")
    capsys.readouterr()


def test_inspect_with_verification(
    plain_pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "inspect",
                str(plain_pipeline.bundle_file),
                "--layout-key",
                str(plain_pipeline.keys / "owner.pub"),
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["ok"] is True
    assert {a["kind"] for a in doc["artifacts"]} == {"input", "intermediate", "final"}


def test_verify_online(
    full_pipeline: Pipeline, log_server: object, capsys: pytest.CaptureFixture[str]
) -> None:
    url = log_server.url  # type: ignore[attr-defined]
    code = main(
        [
            "verify",
            str(full_pipeline.bundle_file),
            "--layout-key",
            str(full_pipeline.keys / "owner.pub"),
            "--online",
            "--log-url",
            url,
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    online = [r for r in doc["results"] if r["reason"].startswith("online:")]
    assert len(online) == 3 and all(r["passed"] for r in online)
    # an unreachable log is an operational error, not a verdict on the evidence
    code = main(
        [
            "verify",
            str(full_pipeline.bundle_file),
            "--layout-key",
            str(full_pipeline.keys / "owner.pub"),
            "--online",
            "--log-url",
            "http://127.0.0.1:9",
        ]
    )
    assert code == 2


def test_pathological_bundle_json_is_exit_2(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(plain_pipeline.keys / "owner.pub")
    deep = tmp_path / "deep.atlas.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    big = tmp_path / "big.atlas.json"
    big.write_bytes(b'{"n": ' + b"7" * 5000 + b"}")
    for path in (deep, big):
        for argv in (
            ["verify", str(path), "--layout-key", key],
            ["inspect", str(path)],
        ):
            assert main([*argv, "--json"]) == 2, argv
            doc = json.loads(capsys.readouterr().out)
            assert doc["ok"] is False, argv


@pytest.mark.parametrize("jobs", ["0", "-3", "two"])
def test_verify_batch_jobs_must_be_positive(
    plain_pipeline: Pipeline, jobs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(plain_pipeline.keys / "owner.pub")
    argv = ["verify-batch", str(plain_pipeline.bundle_file), "--layout-key", key, "--jobs", jobs]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "--jobs" in capsys.readouterr().err


def test_verify_batch_unreadable_bundle_is_exit_2(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(plain_pipeline.bundle_file)
    key = str(plain_pipeline.keys / "owner.pub")
    missing = tmp_path / "missing.atlas.json"
    deep = tmp_path / "deep.atlas.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    argv = ["verify-batch", good, str(missing), str(deep), good, "--layout-key", key]
    assert main([*argv, "--no-cache", "--json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is False and doc["unreadable"] == 2
    assert [b["ok"] for b in doc["bundles"]] == [True, False, False, True]
    rows = [b["results"][0] for b in doc["bundles"][1:3]]
    assert [r["check"] for r in rows] == ["unreadable", "unreadable"]
    assert "bundle not found" in rows[0]["reason"] and "nested too deeply" in rows[1]["reason"]
    assert f"{missing}: FAILED unreadable" in captured.err and "FAILED layout" not in captured.err


def test_verify_html_bad_path_fails_before_verifying(
    plain_pipeline: Pipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = str(plain_pipeline.keys / "owner.pub")
    (tmp_path / "file").write_text("x")
    for html in (tmp_path, tmp_path / "file" / "r.html"):
        argv = ["verify", str(plain_pipeline.bundle_file), "--layout-key", key]
        assert main([*argv, "--html", str(html), "--json"]) == 2
        captured = capsys.readouterr()
        doc = json.loads(captured.out)
        assert doc["ok"] is False and "results" not in doc
        assert "PASS" not in captured.err and str(tmp_path) in captured.err
