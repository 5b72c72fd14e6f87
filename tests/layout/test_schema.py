"""Layout validation: schema and semantic errors name the field and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layout_helpers import REPO, SOURCE

from atlas_intoto.cli import main
from atlas_intoto.errors import LayoutSchemaError
from atlas_intoto.layout import parse_source_text, validate_document


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


def test_cli_layout_without_subcommand_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["layout"])
    assert info.value.code == 2 and "COMMAND" in capsys.readouterr().err


def test_layout_schema_is_package_data_identical_to_schemas_dir() -> None:
    from atlas_intoto.layout import SCHEMA_PATH

    assert SCHEMA_PATH.parent.name == "data" and SCHEMA_PATH.parent.parent.name == "atlas_intoto"
    assert SCHEMA_PATH.read_bytes() == (REPO / "schemas" / "layout.schema.json").read_bytes()


# --- evidence kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    tee: {required: true}\n",
            "    tee: {required: true}\n    evidence: {tdx: {required: false}}\n",
            "line 18: steps[0].evidence.tdx: kind 'tdx' is also given as tee",
        ),
        (
            "  c2pa: {anchors: [keys/ca.crt]}\n",
            "  c2pa: {anchors: [keys/ca.crt]}\n  evidence: {tdx: {allow_debug: false}}\n",
            "line 10: trust.evidence.tdx: kind 'tdx' is also given as tee",
        ),
        (
            "    tee: {required: true}\n",
            "    evidence: {Bad_Kind: {}}\n",
            "line 17: steps[0].evidence: 'Bad_Kind' does not match",
        ),
        (
            "  c2pa: {anchors: [keys/ca.crt]}\n",
            "  c2pa: {anchors: [keys/ca.crt]}\n  evidence: {9tdx: {}}\n",
            "line 10: trust.evidence: '9tdx' does not match",
        ),
        (
            "    tee: {required: true}\n",
            "    evidence: {" + "k" * 33 + ": {}}\n",
            "steps[0].evidence: '" + "k" * 33 + "' does not match",
        ),
        (
            "    tee: {required: true}\n",
            "    evidence: {fake: [1, 2]}\n",
            "line 17: steps[0].evidence.fake: [1, 2] is not of type 'object'",
        ),
        (
            "  c2pa: {anchors: [keys/ca.crt]}\n",
            "  c2pa: {anchors: [keys/ca.crt]}\n  evidence: {fake: yes}\n",
            "line 10: trust.evidence.fake: True is not of type 'object'",
        ),
        # kind tdx has the same schema in either spelling
        (
            "    tee: {required: true}\n",
            "    evidence: {tdx: {mrtd: [abc]}}\n",
            "line 17: steps[0].evidence.tdx.mrtd[0]: 'abc' does not match",
        ),
    ],
)
def test_evidence_kind_errors_name_field_and_line(old: str, new: str, expected: str) -> None:
    text = SOURCE.replace(old, new)
    assert text != SOURCE
    with pytest.raises(LayoutSchemaError) as info:
        doc, lines = parse_source_text(text, source="layout.yaml")
        validate_document(doc, source="layout.yaml", lines=lines)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_evidence_policies_of_other_kinds_are_free_form() -> None:
    text = SOURCE.replace(
        "    tee: {required: true}\n",
        "    tee: {required: true}\n"
        "    evidence: {fake: {anything: [1, {nested: true}]}, sev-snp: {}}\n",
    ).replace(
        "  c2pa: {anchors: [keys/ca.crt]}\n",
        "  c2pa: {anchors: [keys/ca.crt]}\n  evidence: {fake: {roots: [whatever]}}\n",
    )
    doc, lines = parse_source_text(text, source="layout.yaml")
    validate_document(doc, source="layout.yaml", lines=lines)
