"""Layouts: source validation (field path + line), key pinning, DSSE signing, expiry, export."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785

from atlas_intoto.cli import main
from atlas_intoto.errors import (
    InputError,
    LayoutExpiredError,
    LayoutSchemaError,
    LayoutSignatureError,
)
from atlas_intoto.keys import generate_keypair, load_public_key, load_signer
from atlas_intoto.layout import (
    LAYOUT_PAYLOAD_TYPE,
    export_intoto,
    layout_payload,
    load_and_pin,
    parse_source_text,
    sign_layout,
    validate_document,
    verify_signed_layout,
)

REPO = Path(__file__).resolve().parent.parent
NOW = 1_800_000_000  # 2027-01-15

SOURCE = """\
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2028-01-01T00:00:00Z"
readme: test pipeline
functionaries: {data-eng: keys/data-eng.pub, trainer: keys/trainer.pub}
trust:
  logs: [{key: keys/log.pub}]
  tee: {roots: [intel, keys/ca.crt], allow_tcb_status: [UpToDate]}
  c2pa: {anchors: [keys/ca.crt]}
steps:
  - name: prepare
    functionaries: [data-eng]
    threshold: 1
    expected_command: [python, prepare.py]
    materials: ["ALLOW raw/*"]
    products: ["CREATE data/*", "DISALLOW *"]
    tee: {required: true}
    c2pa: {required: true}
  - name: train
    functionaries: [trainer]
    materials: ["MATCH data/* WITH PRODUCTS FROM prepare", "ALLOW train.py", "DISALLOW *"]
    products: ["CREATE model/*", "DISALLOW *"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    for name in ("owner", "owner2", "data-eng", "trainer", "log", "stranger"):
        generate_keypair(name, directory=keys)
    (tmp_path / "layout.yaml").write_text(SOURCE)
    return tmp_path


def _signed(project: Path, *owners: str) -> dict[str, object]:
    pinned = load_and_pin(project / "layout.yaml")
    signers = [load_signer(project / "keys" / f"{o}.key") for o in owners or ("owner",)]
    return json.loads(sign_layout(pinned, signers))  # type: ignore[no-any-return]


def _key(project: Path, name: str):  # type: ignore[no-untyped-def]
    return load_public_key(project / "keys" / f"{name}.pub")


# --- source validation ------------------------------------------------------------------------


def test_example_layouts_validate() -> None:
    for name in ("demo.yaml", "bert-finetune.yaml"):
        path = REPO / "layouts" / name
        doc, lines = parse_source_text(path.read_text(), source=str(path))
        validate_document(doc, source=str(path), lines=lines)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    threshold: 1\n",
            "    threshold: two\n",
            "line 13: steps[0].threshold: 'two' is not of type",
        ),
        ("kind: Layout", "kind: Layuot", "line 2: kind:"),
        ('expires: "2028-01-01T00:00:00Z"', "expires: 2028-01-01", "line 3: expires:"),
        (
            "functionaries: [trainer]",
            "functionaries: [nobody]",
            "line 20: steps[1].functionaries[0]: undeclared functionary 'nobody'",
        ),
        ('"ALLOW train.py"', '"ALLOW"', "line 21: steps[1].materials[1]: 'ALLOW' does not match"),
        (
            '"MATCH data/* WITH PRODUCTS FROM prepare"',
            '"MATCH data/* WITH PRODUCTS"',
            "line 21: steps[1].materials[0]: invalid artifact rule",
        ),
        (
            "FROM prepare",
            "FROM nowhere",
            "line 21: steps[1].materials[0]: MATCH refers to unknown step 'nowhere'",
        ),
        (
            "    c2pa: {required: true}\n",
            "    c2pa: {required: yes please}\n",
            "line 18: steps[0].c2pa.required",
        ),
        (
            "  - name: train",
            "  - name: prepare",
            "line 19: steps[1].name: duplicate step 'prepare'",
        ),
        (
            'expires: "2028-01-01T00:00:00Z"',
            'expires: "2028-02-31T00:00:00Z"',
            "expires: not a valid date",
        ),
        ("    threshold: 1\n", "    threshold: 2\n", "steps[0].threshold: threshold exceeds"),
    ],
)
def test_schema_errors_name_field_and_line(old: str, new: str, expected: str) -> None:
    text = SOURCE.replace(old, new)
    assert text != SOURCE
    with pytest.raises(LayoutSchemaError) as info:
        doc, lines = parse_source_text(text, source="layout.yaml")
        validate_document(doc, source="layout.yaml", lines=lines)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_json_source_is_accepted(project: Path) -> None:
    doc, _ = parse_source_text(SOURCE, source="x")
    (project / "layout.json").write_text(json.dumps(doc, indent=2))
    assert (
        load_and_pin(project / "layout.json")["functionaries"]["trainer"]["keyid"]
        == _key(project, "trainer").keyid
    )


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(LayoutSchemaError, match="line 4"):
        parse_source_text("apiVersion: x\nkind: Layout\nsteps: [\n", source="bad.yaml")


def test_missing_key_file_is_operational(project: Path) -> None:
    (project / "keys" / "trainer.pub").unlink()
    with pytest.raises(InputError, match=r"trainer\.pub"):
        load_and_pin(project / "layout.yaml")


# --- signing and verification ---------------------------------------------------------------------


def test_sign_pins_every_anchor_and_verifies_without_key_files(project: Path) -> None:
    envelope = _signed(project)
    owner = _key(project, "owner")
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
    envelope = _signed(project, "owner", "owner2")
    keys = [_key(project, "owner"), _key(project, "owner2")]
    verify_signed_layout(envelope, layout_keys=keys, now=NOW)
    single = _signed(project, "owner")
    with pytest.raises(LayoutSignatureError, match="no valid signature by layout key"):
        verify_signed_layout(single, layout_keys=keys, now=NOW)


def test_unknown_owner_key_rejected(project: Path) -> None:
    envelope = _signed(project, "stranger")
    with pytest.raises(LayoutSignatureError):
        verify_signed_layout(envelope, layout_keys=[_key(project, "owner")], now=NOW)


def test_no_owner_key_rejected(project: Path) -> None:
    with pytest.raises(LayoutSignatureError, match="no layout owner key"):
        verify_signed_layout(_signed(project), layout_keys=[], now=NOW)


def test_edited_after_signing_rejected(project: Path) -> None:
    envelope = _signed(project)
    doc = json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[arg-type]
    doc["steps"][1]["products"] = ["ALLOW *"]
    envelope["payload"] = base64.b64encode(rfc8785.dumps(doc)).decode()
    with pytest.raises(LayoutSignatureError):
        verify_signed_layout(envelope, layout_keys=[_key(project, "owner")], now=NOW)


def test_wrong_payload_type_rejected(project: Path) -> None:
    envelope = _signed(project)
    envelope["payloadType"] = "application/vnd.in-toto+json"
    with pytest.raises(LayoutSignatureError, match="payloadType"):
        verify_signed_layout(envelope, layout_keys=[_key(project, "owner")], now=NOW)


@pytest.mark.parametrize(
    "garbage", [None, [], {"payload": "!!"}, {"payload": "", "payloadType": 1, "signatures": []}]
)
def test_garbage_envelope_rejected(garbage: object) -> None:
    with pytest.raises(LayoutSignatureError):
        verify_signed_layout(garbage, layout_keys=[], now=NOW)


def test_expired_layout_rejected(project: Path) -> None:
    envelope = _signed(project)
    with pytest.raises(LayoutExpiredError, match="expired at 2028-01-01T00:00:00Z"):
        verify_signed_layout(envelope, layout_keys=[_key(project, "owner")], now=1_900_000_000)


def _resign(project: Path, doc: dict[str, object]) -> dict[str, object]:
    from securesystemslib.dsse import Envelope

    env = Envelope(payload=rfc8785.dumps(doc), payload_type=LAYOUT_PAYLOAD_TYPE, signatures={})
    env.sign(load_signer(project / "keys" / "owner.key"))
    return env.to_dict()  # type: ignore[no-any-return]


def test_signed_payload_must_be_pinned_and_consistent(project: Path) -> None:
    pinned = load_and_pin(project / "layout.yaml")
    owner = [_key(project, "owner")]
    unpinned = json.loads(json.dumps(pinned))
    unpinned["functionaries"]["trainer"] = "keys/trainer.pub"
    with pytest.raises(LayoutSchemaError, match=r"functionaries\.trainer: not pinned"):
        verify_signed_layout(_resign(project, unpinned), layout_keys=owner, now=NOW)
    lying = json.loads(json.dumps(pinned))
    lying["functionaries"]["trainer"]["keyid"] = pinned["functionaries"]["data-eng"]["keyid"]
    with pytest.raises(LayoutSchemaError, match="keyid does not match"):
        verify_signed_layout(_resign(project, lying), layout_keys=owner, now=NOW)
    bad_schema = json.loads(json.dumps(pinned))
    bad_schema["steps"] = []
    with pytest.raises(LayoutSchemaError, match="steps"):
        verify_signed_layout(_resign(project, bad_schema), layout_keys=owner, now=NOW)


# --- export to upstream in-toto -------------------------------------------------------------------


def test_export_accepted_by_upstream_in_toto_verify(project: Path, tmp_path: Path) -> None:
    from in_toto.models.link import Link
    from in_toto.models.metadata import Envelope

    envelope = _signed(project)
    layout = layout_payload(envelope)
    exported = project / "root.layout"
    exported.write_bytes(export_intoto(layout, [load_signer(project / "keys" / "owner.key")]))
    links = project / "links"
    links.mkdir()
    data = {"data/train.csv": {"sha256": "aa" * 32}}
    for step, key, materials, products, command in (
        ("prepare", "data-eng", {"raw/x": {"sha256": "bb" * 32}}, data, ["python", "prepare.py"]),
        (
            "train",
            "trainer",
            {**data, "train.py": {"sha256": "cc" * 32}},
            {"model/m.npz": {"sha256": "dd" * 32}},
            ["python", "train.py"],
        ),
    ):
        signer = load_signer(project / "keys" / f"{key}.key")
        link = Link(
            name=step,
            materials=materials,
            products=products,
            command=command,
            byproducts={},
            environment={"atlas-intoto": {"version": 1}},
        )
        env = Envelope.from_signable(link)
        env.create_signature(signer)
        (links / f"{step}.{signer.public_key.keyid[:8]}.link").write_text(json.dumps(env.to_dict()))
    verify = Path(sys.executable).parent / "in-toto-verify"
    run = subprocess.run(
        [
            str(verify),
            "--layout",
            str(exported),
            "--verification-keys",
            str(project / "keys" / "owner.pub"),
            "--link-dir",
            str(links),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    # A product that violates the rules makes upstream fail too: the export carries the rules.
    bad = links / next(p.name for p in links.iterdir() if p.name.startswith("train"))
    signer = load_signer(project / "keys" / "trainer.key")
    link = Link(
        name="train",
        materials=data,
        products={"evil.sh": {"sha256": "ee" * 32}},
        command=["python", "train.py"],
        byproducts={},
        environment={},
    )
    env = Envelope.from_signable(link)
    env.create_signature(signer)
    bad.write_text(json.dumps(env.to_dict()))
    run = subprocess.run(
        [
            str(verify),
            "--layout",
            str(exported),
            "--verification-keys",
            str(project / "keys" / "owner.pub"),
            "--link-dir",
            str(links),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0


def test_export_unsigned_is_metablock(project: Path) -> None:
    data = json.loads(export_intoto(layout_payload(_signed(project))))
    assert data["signatures"] == [] and data["signed"]["_type"] == "layout"
    assert [s["name"] for s in data["signed"]["steps"]] == ["prepare", "train"]


# --- CLI ------------------------------------------------------------------------------------------


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
    verify_signed_layout(json.loads(out.read_text()), layout_keys=[_key(project, "owner")], now=NOW)
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


def test_cli_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = project / "bad.yaml"
    bad.write_text(SOURCE.replace("threshold: 1", "threshold: 0"))
    assert main(["layout", "check", str(bad), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (
        out["error"]["type"] == "LayoutSchemaError"
        and "steps[0].threshold" in out["error"]["message"]
    )
    assert main(["layout", "check", str(project / "missing.yaml")]) == 2
    assert (
        main(
            [
                "layout",
                "sign",
                str(project / "layout.yaml"),
                "--key",
                str(project / "keys/owner.pub"),
                "--out",
                str(project / "o"),
            ]
        )
        == 2
    )
    capsys.readouterr()


def test_export_accepts_links_recorded_by_step_py(tmp_path: Path) -> None:
    """The export plus the links `atlas-intoto run/record` writes pass upstream in-toto-verify."""
    sys.path.insert(0, str(REPO / "tests" / "verify"))
    from bundle_builder import build_pipeline

    pipeline = build_pipeline(tmp_path / "p")
    layout = layout_payload(json.loads(pipeline.layout_file.read_bytes()))
    exported = tmp_path / "root.layout"
    exported.write_bytes(export_intoto(layout, [load_signer(pipeline.keys / "owner.key")]))
    verify = Path(sys.executable).parent / "in-toto-verify"
    argv = [
        str(verify),
        "--layout",
        str(exported),
        "--verification-keys",
        str(pipeline.keys / "owner.pub"),
        "--link-dir",
        str(pipeline.evidence),
    ]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    # and it fails when a link is missing
    next(pipeline.evidence.glob("train.*.link")).unlink()
    assert subprocess.run(argv, capture_output=True, check=False).returncode != 0


def test_pathological_layout_payload_is_schema_error(project: Path) -> None:
    envelope = _signed(project)
    envelope["payload"] = base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()
    with pytest.raises(LayoutSchemaError, match="payload is not JSON"):
        layout_payload(envelope, source="x.layout")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "a: " + "[" * 3000 + "]" * 3000,
        "expires: " + "9" * 5000,
        '{"expires": ' + "9" * 5000 + "}",
    ],
)
def test_pathological_source_is_input_error(
    project: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match=r"x\.yaml: invalid YAML/JSON"):
        parse_source_text(text, source="x.yaml")
    src = project / "deep.yaml"
    src.write_text(text)
    key = str(project / "keys/owner.key")
    for argv in (
        ["layout", "check", str(src)],
        ["layout", "sign", str(src), "--key", key, "--out", str(project / "o")],
    ):
        assert main([*argv, "--json"]) == 2
        assert str(src) in json.loads(capsys.readouterr().out)["error"]["message"]


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


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("trust", "tee", "roots", 1), r"trust\.tee\.roots\[1\]: not a PEM X\.509 certificate"),
        (("trust", "c2pa", "anchors", 0), r"c2pa\.anchors\[0\]: not a PEM X\.509 certificate"),
        (("trust", "logs", 0, "key"), r"trust\.logs\[0\]\.key: not a PEM public key"),
    ],
)
def test_signed_layout_with_wrong_kind_of_pem_is_clear_schema_error(
    project: Path, path: tuple[str | int, ...], field: str
) -> None:
    pinned = load_and_pin(project / "layout.yaml")
    node: object = pinned
    for part in path[:-1]:
        node = node[part]  # type: ignore[index]
    wrong = (project / "keys" / "log.pub").read_text()
    if path[-1] == "key":
        wrong = pinned["trust"]["c2pa"]["anchors"][0]["pem"]
        node[path[-1]] = {"keyid": "0" * 64, "pem": wrong}  # type: ignore[index]
    else:
        node[path[-1]] = {"pem": wrong}  # type: ignore[index]
    envelope = _resign(project, pinned)
    with pytest.raises(LayoutSchemaError, match=field) as info:
        verify_signed_layout(envelope, layout_keys=[_key(project, "owner")], now=NOW)
    assert "Error" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("payload_type", ["", "application/vnd.in-toto+json"])
def test_layout_payload_checks_payload_type(project: Path, payload_type: str) -> None:
    envelope = _signed(project)
    envelope["payloadType"] = payload_type
    with pytest.raises(LayoutSignatureError, match="payloadType"):
        layout_payload(envelope, source="x.layout")


@pytest.mark.parametrize("payload_type", ["", "application/vnd.in-toto+json"])
def test_cli_export_of_a_link_or_untyped_envelope_is_exit_2(
    project: Path, payload_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = _signed(project)
    envelope["payloadType"] = payload_type  # e.g. a link file's envelope
    link = project / "prepare.12345678.link"
    link.write_text(json.dumps(envelope))
    out = project / "x.layout"
    assert main(["layout", "export-intoto", str(link), "--out", str(out), "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert message.startswith(f"{link}: not a signed layout (payloadType")
    assert "::" not in message and not out.exists()


def test_cli_check_on_signed_layout_gives_hint(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = project / "root.layout"
    signed.write_text(json.dumps(_signed(project)))
    assert main(["layout", "check", str(signed), "--json"]) == 2
    message = json.loads(capsys.readouterr().out)["error"]["message"]
    assert "this is a signed layout" in message and "YAML/JSON source" in message


def test_cli_layout_without_subcommand_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["layout"])
    assert info.value.code == 2 and "COMMAND" in capsys.readouterr().err


def test_layout_schema_is_package_data_identical_to_schemas_dir() -> None:
    from atlas_intoto.layout import SCHEMA_PATH

    assert SCHEMA_PATH.parent.name == "data" and SCHEMA_PATH.parent.parent.name == "atlas_intoto"
    assert SCHEMA_PATH.read_bytes() == (REPO / "schemas" / "layout.schema.json").read_bytes()
