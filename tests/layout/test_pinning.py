"""Layout pinning: key and certificate paths become pinned content of the right kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layout_helpers import SOURCE, signed_envelope

from atlas_intoto.cli import main
from atlas_intoto.errors import InputError
from atlas_intoto.layout import load_and_pin


def test_missing_key_file_is_operational(project: Path) -> None:
    (project / "keys" / "trainer.pub").unlink()
    with pytest.raises(InputError, match=r"trainer\.pub"):
        load_and_pin(project / "layout.yaml")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("roots: [intel, keys/ca.crt]", "roots: [intel, keys/log.pub]", r"trust\.tee\.roots\[1\]"),
        ("roots: [intel, keys/ca.crt]", "roots: [intel, keys/broken.pem]", r"tee\.roots\[1\]"),
        ("anchors: [keys/ca.crt]", "anchors: [keys/log.pub]", r"trust\.c2pa\.anchors\[0\]"),
        ("anchors: [keys/ca.crt]", "anchors: [keys/broken.pem]", r"c2pa\.anchors\[0\]"),
        ("logs: [{key: keys/log.pub}]", "logs: [{key: keys/ca.crt}]", r"trust\.logs\[0\]\.key"),
        ("trainer: keys/trainer.pub", "trainer: keys/ca.crt", r"functionaries\.trainer"),
    ],
)
def test_sign_rejects_wrong_kind_of_pem(
    project: Path, old: str, new: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "keys" / "broken.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    )
    src = project / "wrong.yaml"
    src.write_text(SOURCE.replace(old, new))
    with pytest.raises(InputError, match=field):
        load_and_pin(src)
    for command in ("check", "sign"):
        argv = ["layout", command, str(src), "--json"]
        if command == "sign":
            argv += ["--key", str(project / "keys/owner.key"), "--out", str(project / "o")]
        assert main(argv) == 2
        message = json.loads(capsys.readouterr().out)["error"]["message"]
        assert "\n" not in message and new.split("/")[-1].rstrip("]}") in message


def test_cli_check_on_signed_layout_gives_hint(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = project / "root.layout"
    signed.write_text(json.dumps(signed_envelope(project)))
    assert main(["layout", "check", str(signed), "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert "this is a signed layout" in message and "YAML/JSON source" in message
