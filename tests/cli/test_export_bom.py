"""``export cyclonedx`` and ``export spdx``: verification first (a bundle that fails is not
exported, exit 1), the document to a file or stdout, or signed as an in-toto Statement."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bom"))

from test_cyclonedx import assert_valid_cyclonedx

from atlas_intoto import dsse
from atlas_intoto.bom.cyclonedx import CYCLONEDX_PREDICATE
from atlas_intoto.bom.spdx import SPDX_PREDICATE
from atlas_intoto.cli import main
from atlas_intoto.keys import load_public_key
from atlas_intoto.sigstore_bundle import parse_sigstore_bundle


def _argv(demo: Any, fmt: str, *extra: str) -> list[str]:
    owner = demo.directory / "keys" / "owner.pub"
    return ["export", fmt, str(demo.bundle), "--layout-key", str(owner), *extra]


def test_cyclonedx_export_with_artifacts_writes_a_valid_bom(demo: Any, tmp_path: Path) -> None:
    out = tmp_path / "model.cdx.json"
    work = demo.directory / "work"
    assert main(_argv(demo, "cyclonedx", "--out", str(out), "--artifacts", str(work))) == 0
    document = json.loads(out.read_bytes())
    assert_valid_cyclonedx(document)
    model = next(c for c in document["components"] if c["name"] == "dist/model.npz")
    metrics = model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    assert [m["type"] for m in metrics] == ["accuracy"]


def test_spdx_export_goes_to_stdout_and_json(demo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(demo, "spdx")) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    assert main([*_argv(demo, "spdx"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["format"], result["signed"], result["out"]) == ("spdx", False, None)
    assert result["document"]["@graph"]


def test_a_bundle_that_fails_verification_is_not_exported(
    demo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "model.cdx.json"
    tampered = demo.directory / "tampered"  # the model swapped after release
    code = main(_argv(demo, "cyclonedx", "--out", str(out), "--artifacts", str(tampered)))
    assert code == 1
    assert not out.exists()
    assert "not exported: the bundle does not verify" in capsys.readouterr().err
    other_owner = demo.directory / "keys" / "trainer.pub"
    argv = ["export", "spdx", str(demo.bundle), "--layout-key", str(other_owner), "--json"]
    assert main(argv) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


@pytest.mark.parametrize(
    ("fmt", "predicate"), [("cyclonedx", CYCLONEDX_PREDICATE), ("spdx", SPDX_PREDICATE)]
)
def test_signed_export_is_an_in_toto_statement_in_a_sigstore_bundle(
    demo: Any, tmp_path: Path, fmt: str, predicate: str
) -> None:
    out = tmp_path / f"model.{fmt}.sigstore.json"
    key = demo.directory / "keys" / "release.key"
    assert main(_argv(demo, fmt, "--out", str(out), "--key", str(key))) == 0
    parsed = parse_sigstore_bundle(json.loads(out.read_bytes()))
    envelope = dsse.parse(parsed.envelope)
    dsse.verify(envelope, [load_public_key(demo.directory / "keys" / "release.pub")])
    statement = json.loads(envelope.payload)
    assert statement["predicateType"] == predicate
    assert [s["name"] for s in statement["subject"]] == ["dist/model.npz"]
    if fmt == "cyclonedx":
        assert_valid_cyclonedx(statement["predicate"])
    else:
        assert statement["predicate"]["@graph"]


def test_unreadable_bundle_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "owner.pub"
    key.write_text("not a key")
    argv = ["export", "cyclonedx", str(tmp_path / "missing.atlas.json"), "--layout-key", str(key)]
    assert main([*argv, "--json"]) == 2
    assert "missing.atlas.json" in json.loads(capsys.readouterr().out)["error"]["message"]
