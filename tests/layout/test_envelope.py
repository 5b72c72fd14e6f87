"""Signed layouts: DSSE signing, owner keys, payload type, expiry, the CLI."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from layout_helpers import NOW, pub_key, signed_envelope

from atlas_intoto.cli import main
from atlas_intoto.errors import (
    InputError,
    LayoutExpiredError,
    LayoutSchemaError,
    LayoutSignatureError,
)
from atlas_intoto.layout import (
    LAYOUT_PAYLOAD_TYPE,
    layout_payload,
    load_and_pin,
    sign_layout,
    verify_signed_layout,
)


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


# --- signature semantics (atlas_intoto.dsse) ------------------------------------------------------


def test_every_owner_must_sign(project: Path) -> None:
    keys = [pub_key(project, "owner"), pub_key(project, "owner2")]
    verify_signed_layout(signed_envelope(project, "owner2", "owner"), layout_keys=keys, now=NOW)
    only_second = signed_envelope(project, "owner2")
    with pytest.raises(LayoutSignatureError, match=f"layout key {keys[0].keyid[:16]}"):
        verify_signed_layout(only_second, layout_keys=keys, now=NOW)
    # an owner key given twice is one owner
    verify_signed_layout(
        signed_envelope(project), layout_keys=[keys[0], keys[0]], now=NOW, source="x"
    )


def test_one_owner_signature_twice_is_not_two_owners(project: Path) -> None:
    keys = [pub_key(project, "owner"), pub_key(project, "owner2")]
    envelope = signed_envelope(project, "owner")
    envelope["signatures"].append({"keyid": "", "sig": envelope["signatures"][0]["sig"]})
    with pytest.raises(LayoutSignatureError, match=f"layout key {keys[1].keyid[:16]}"):
        verify_signed_layout(envelope, layout_keys=keys, now=NOW)
    # and the same key id twice is a malformed envelope
    envelope["signatures"][1]["keyid"] = keys[0].keyid
    with pytest.raises(LayoutSignatureError, match=r"^x: malformed DSSE envelope \(signatures"):
        verify_signed_layout(envelope, layout_keys=keys, now=NOW, source="x")


def test_signature_without_keyid_counts(project: Path) -> None:
    envelope = signed_envelope(project)
    envelope["signatures"][0]["keyid"] = ""
    verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)
    del envelope["signatures"][0]["keyid"]
    verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)


def test_signature_naming_another_key_is_not_tried(project: Path) -> None:
    envelope = signed_envelope(project)
    envelope["signatures"][0]["keyid"] = pub_key(project, "stranger").keyid
    with pytest.raises(LayoutSignatureError, match="no valid signature by layout key"):
        verify_signed_layout(envelope, layout_keys=[pub_key(project, "owner")], now=NOW)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda e: e.pop("signatures"), "DSSE envelope lacks field 'signatures'"),
        (lambda e: e.update(signatures={}), "signatures must be a list"),
        (lambda e: e.update(payload="!!"), "payload: not valid base64"),
        (lambda e: e["signatures"][0].update(sig="!!"), "signatures[0]: not valid base64"),
    ],
)
def test_malformed_envelope_names_source_and_reason(
    project: Path, edit: Callable[[dict[str, Any]], object], reason: str
) -> None:
    envelope = signed_envelope(project)
    edit(envelope)
    for call in (
        lambda: verify_signed_layout(envelope, layout_keys=[], now=NOW, source="x.layout"),
        lambda: layout_payload(envelope, source="x.layout"),
    ):
        with pytest.raises(LayoutSignatureError) as info:
            call()
        assert str(info.value) == f"x.layout: malformed DSSE envelope ({reason})"


def test_signed_layout_bytes_are_what_securesystemslib_wrote(project: Path) -> None:
    """The envelope file keeps its format: the bytes securesystemslib's DSSE made before
    (Ed25519 signatures are deterministic, so they compare byte for byte)."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner

    pinned = load_and_pin(project / "layout.yaml")
    signers = [CryptoSigner.generate_ed25519(), CryptoSigner.generate_ed25519()]
    old = Envelope(payload=rfc8785.dumps(pinned), payload_type=LAYOUT_PAYLOAD_TYPE, signatures={})
    for signer in [*signers, signers[0]]:  # a key given twice signed once
        old.sign(signer)
    expected = (json.dumps(old.to_dict(), indent=2) + "\n").encode()
    assert sign_layout(pinned, [*signers, signers[0]]) == expected
    assert list(json.loads(expected)) == ["payload", "payloadType", "signatures"]
    assert [list(s) for s in json.loads(expected)["signatures"]] == [["keyid", "sig"]] * 2
    verify_signed_layout(json.loads(expected), layout_keys=[s.public_key for s in signers], now=NOW)


def test_sign_needs_an_owner(project: Path) -> None:
    with pytest.raises(InputError, match="at least one owner key"):
        sign_layout(load_and_pin(project / "layout.yaml"), [])
