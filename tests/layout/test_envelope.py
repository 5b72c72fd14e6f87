"""Signed layouts: DSSE signing, owner keys, payload type, expiry, the CLI."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import rfc8785
from layout_helpers import NOW, pub_key, signed_envelope

from atlas_intoto.cli import main
from atlas_intoto.errors import LayoutExpiredError, LayoutSchemaError, LayoutSignatureError
from atlas_intoto.layout import LAYOUT_PAYLOAD_TYPE, layout_payload, verify_signed_layout


def test_sign_pins_every_anchor_and_verifies_without_key_files(project: Path) -> None:
    envelope = signed_envelope(project)
    owner = pub_key(project, "owner")
    shutil.rmtree(project / "keys")
    layout = verify_signed_layout(envelope, layout_keys=[owner], now=NOW)
    assert envelope["payloadType"] == LAYOUT_PAYLOAD_TYPE
    assert [s.name for s in layout.steps] == ["prepare", "train"]
    assert layout.functionaries["trainer"].pem.startswith("-----BEGIN PUBLIC KEY")
    assert layout.logs[0].required is True
    assert layout.tee_roots[0] == "intel" and "CERTIFICATE" in layout.tee_roots[1]
    assert "CERTIFICATE" in layout.c2pa_anchors[0]
    assert layout.steps[1].match_sources() == ("prepare",)
    assert layout.steps[0].evidence["tdx"] == {"required": True} and layout.steps[0].c2pa_required


def test_multiple_owner_keys(project: Path) -> None:
    envelope = signed_envelope(project, "owner", "owner2")
    keys = [pub_key(project, "owner"), pub_key(project, "owner2")]
    verify_signed_layout(envelope, layout_keys=keys, now=NOW)
    single = signed_envelope(project, "owner")
    with pytest.raises(LayoutSignatureError, match="no valid signature by layout key"):
        verify_signed_layout(single, layout_keys=keys, now=NOW)


def test_unknown_owner_key_rejected(project: Path) -> None:
    envelope = signed_envelope(project, "stranger")
    with pytest.raises(LayoutSignatureError):
        verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)


def test_no_owner_key_rejected(project: Path) -> None:
    with pytest.raises(LayoutSignatureError, match="no layout owner key"):
        verify_signed_layout(signed_envelope(project), layout_keys=[], now=NOW)


def test_edited_after_signing_rejected(project: Path) -> None:
    envelope = signed_envelope(project)
    doc = json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[arg-type]
    doc["steps"][1]["products"] = ["ALLOW *"]
    envelope["payload"] = base64.b64encode(rfc8785.dumps(doc)).decode()
    with pytest.raises(LayoutSignatureError):
        verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)


def test_wrong_payload_type_rejected(project: Path) -> None:
    envelope = signed_envelope(project)
    envelope["payloadType"] = "application/vnd.in-toto+json"
    with pytest.raises(LayoutSignatureError, match="payloadType"):
        verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)


@pytest.mark.parametrize(
    "garbage", [None, [], {"payload": "!!"}, {"payload": "", "payloadType": 1, "signatures": []}]
)
def test_garbage_envelope_rejected(garbage: object) -> None:
    with pytest.raises(LayoutSignatureError):
        verify_signed_layout(garbage, layout_keys=[], now=NOW)


def test_expired_layout_rejected(project: Path) -> None:
    envelope = signed_envelope(project)
    with pytest.raises(LayoutExpiredError, match="expired at 2028-01-01T00:00:00Z"):
        verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=1_900_000_000)


def test_pathological_layout_payload_is_schema_error(project: Path) -> None:
    envelope = signed_envelope(project)
    envelope["payload"] = base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    with pytest.raises(LayoutSchemaError, match="payload is not JSON"):
        layout_payload(envelope, source="x.layout")


@pytest.mark.parametrize("payload_type", ["", "application/vnd.in-toto+json"])
def test_layout_payload_checks_payload_type(project: Path, payload_type: str) -> None:
    envelope = signed_envelope(project)
    envelope["payloadType"] = payload_type
    with pytest.raises(LayoutSignatureError, match="payloadType"):
        layout_payload(envelope, source="x.layout")


@pytest.mark.parametrize("payload_type", ["", "application/vnd.in-toto+json"])
def test_cli_export_of_a_link_or_untyped_envelope_is_exit_2(
    project: Path, payload_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = signed_envelope(project)
    envelope["payloadType"] = payload_type  # e.g. a link file's envelope
    link = project / "prepare.12345678.link"
    link.write_text(json.dumps(envelope))
    out = project / "x.layout"
    assert main(["layout", "export-intoto", str(link), "--out", str(out), "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert message.startswith(f"{link}: not a signed layout (payloadType")
    assert "::" not in message and not out.exists()


def test_cli_sign_check_export(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = project / "layout.yaml", project / "root.layout"
    assert main(["layout", "check", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    assert (
        main(
            [
                "layout",
                "sign",
                str(src),
                "--key",
                str(project / "keys/owner.key"),
                "--key",
                str(project / "keys/owner2.key"),
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["owner_keyids"]) == 2 and doc["steps"] == ["prepare", "train"]
    verify_signed_layout(
        json.loads(out.read_text()), layout_keys=[pub_key(project, "owner")], now=NOW
    )
    assert (
        main(
            [
                "layout",
                "export-intoto",
                str(out),
                "--out",
                str(project / "x.layout"),
                "--key",
                str(project / "keys/owner.key"),
            ]
        )
        == 0
    )
    assert (
        json.loads((project / "x.layout").read_text())["payloadType"]
        == "application/vnd.in-toto+json"
    )
    assert main(["layout", "export-intoto", str(out), "--out", str(project / "y.layout")]) == 0
