"""``atlas-intoto c2pa show``: summary and lineage, exit codes, --json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from atlas_intoto.c2pa import sign_products
from atlas_intoto.cli import main
from atlas_intoto.keys import generate_keypair


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    keys = generate_keypair("trainer", directory=tmp_path / "keys")
    files = {"data/d.csv": b"a,b\n1,2\n", "model/m.safetensors": b"\0" * 16 + b"weights"}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)

    def digests(path: str) -> dict[str, dict[str, str]]:
        return {path: {"sha256": hashlib.sha256(files[path]).hexdigest()}}

    for step, product, materials in (
        ("prepare", "data/d.csv", {}),
        ("train", "model/m.safetensors", digests("data/d.csv")),
    ):
        sign_products(
            step=step,
            binding=b"\1" * 32,
            quote_digest=None,
            products=digests(product),
            materials=materials,
            base_path=tmp_path,
            evidence_dir=tmp_path / ".atlas",
            key_path=keys.private_key,
            cert_chain_path=keys.certificate_chain,
        )
    return tmp_path


def test_show_text_lists_lineage(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["c2pa", "show", "model/m.safetensors", "--anchor", "keys/ca.crt"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("model/m.safetensors: Trusted (2 manifests")
    assert "step train" in out and "- inputTo data/d.csv" in out and "step prepare" in out


def test_show_json_is_one_document(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["c2pa", "show", "model/m.safetensors", "--json", "--anchor", "keys/ca.crt"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["validation_state"] == "Trusted"
    assert doc["manifest"] == ".atlas/c2pa/model/m.safetensors.c2pa"
    ingredient = doc["active_manifest"]["ingredients"][0]
    assert ingredient["relationship"] == "inputTo"
    assert ingredient["manifest"]["ml"]["kind"] == "dataset"


def test_show_without_anchor_is_valid_not_trusted(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["c2pa", "show", "data/d.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["validation_state"] == "Valid"


def test_show_tampered_file_exits_1(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workspace / "data/d.csv").write_bytes(b"tampered\n")
    assert main(["c2pa", "show", "data/d.csv", "--anchor", "keys/ca.crt"]) == 1
    assert "assertion.dataHash.mismatch" in capsys.readouterr().out


def test_show_explicit_manifest_and_errors(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sidecar = ".atlas/c2pa/data/d.csv.c2pa"
    assert main(["c2pa", "show", "data/d.csv", "--manifest", sidecar]) == 0
    capsys.readouterr()
    assert main(["c2pa", "show", "nothere.bin", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "InputError"
    assert main(["c2pa", "show", "data/d.csv", "--manifest", "keys/ca.crt"]) == 1
    err = capsys.readouterr().err
    assert "keys/ca.crt: not a C2PA manifest store" in err
    assert "Traceback" not in err
    assert main(["c2pa", "show", "data", "--manifest", sidecar]) == 2


@pytest.mark.parametrize(
    "content",
    [
        b"\x8f\x00garbage",  # reached c2pa-rs and failed there as an internal error
        b"null",  # silently ignored: exit 0
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"",
    ],
)
def test_show_rejects_anchor_that_is_not_a_certificate(
    workspace: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (workspace / "anchor.pem").write_bytes(content)
    assert main(["c2pa", "show", "data/d.csv", "--anchor", "anchor.pem", "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert (
        error["type"] == "InputError"
        and "anchor.pem: trust anchor is not a PEM" in error["message"]
    )
    assert "internal error" not in captured.err
    # A public key is PEM but not a certificate.
    assert main(["c2pa", "show", "data/d.csv", "--anchor", "keys/trainer.pub"]) == 2


def test_show_untrusted_under_given_anchor_exits_1(
    workspace: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    other = generate_keypair("other", directory=tmp_path_factory.mktemp("other"))
    assert main(["c2pa", "show", "data/d.csv", "--anchor", str(other.ca_certificate)]) == 1
    assert "untrusted" in capsys.readouterr().out
