"""Layout sources: YAML/JSON text, line numbers, pathological input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from layout_helpers import SOURCE, pub_key

from atlas_intoto.cli import main
from atlas_intoto.errors import InputError, LayoutSchemaError
from atlas_intoto.layout import load_and_pin, parse_source_text


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(LayoutSchemaError, match="line 4"):
        parse_source_text("apiVersion: x\nkind: Layout\nsteps: [\n", source="bad.yaml")


def test_json_source_is_accepted(project: Path) -> None:
    doc, _ = parse_source_text(SOURCE, source="x")
    (project / "layout.json").write_text(json.dumps(doc, indent=2))
    assert (
        load_and_pin(project / "layout.json")["functionaries"]["trainer"]["keyid"]
        == pub_key(project, "trainer").keyid
    )


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


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join(f"*a{level - 1}" for _ in range(width))
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11 item 7: nine levels of nine aliases (9**9 nodes) would hang the line map and
    the schema check; the expansion is capped, exit 2 with a clear error."""
    with pytest.raises(InputError, match=r"bomb\.yaml: YAML aliases expand to more than"):
        parse_source_text(_alias_bomb(), source="bomb.yaml")
    src = project / "bomb.yaml"
    src.write_text(_alias_bomb())
    assert main(["layout", "check", str(src), "--json"]) == 2
    assert "alias" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_a_few_aliases_are_fine() -> None:
    doc, _ = parse_source_text("a: &x [1, 2]\nb: *x\nc: *x\n", source="ok.yaml")
    assert doc == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
