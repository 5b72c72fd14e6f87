"""Identity functionaries and trust.ca in layouts: schema, pinning, the model, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from layout_helpers import SOURCE

from atlas_intoto.errors import LayoutSchemaError, UsageError
from atlas_intoto.layout import export_intoto, load_and_pin, parse_layout
from atlas_intoto.layout.identity import FunctionaryIdentity

GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/model/.github/workflows/train.yml@refs/heads/main"

IDENTITY = (
    "functionaries:\n"
    "  data-eng: keys/data-eng.pub\n"
    f"  trainer: {{identity: {{issuer: '{GITHUB}', subject: '{WORKFLOW}'}}}}\n"
)
CA = "trust:\n  ca: {roots: [keys/ca.crt], ct_keys: [keys/log.pub]}\n"


def _source(project: Path, text: str) -> Path:
    path = project / "identity.yaml"
    path.write_text(text)
    return path


def _identity_source(functionaries: str = IDENTITY, ca: str = CA) -> str:
    text = SOURCE.replace(
        "functionaries: {data-eng: keys/data-eng.pub, trainer: keys/trainer.pub}\n",
        functionaries,
    )
    return text.replace("trust:\n", ca if ca else "trust:\n")


def test_identity_functionary_and_ca_are_pinned(project: Path) -> None:
    pinned = load_and_pin(_source(project, _identity_source()))
    assert pinned["functionaries"]["trainer"] == {
        "identity": {"issuer": GITHUB, "subject": WORKFLOW}
    }
    ca = pinned["trust"]["ca"]
    assert ca["roots"][0]["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert set(ca["ct_keys"][0]) == {"keyid", "pem"}
    layout = parse_layout(pinned)
    assert layout.identities["trainer"] == FunctionaryIdentity(
        name="trainer", issuer=GITHUB, subject=WORKFLOW
    )
    assert "trainer" not in layout.functionaries
    assert layout.ca is not None and len(layout.ca.roots) == 1 and len(layout.ca.ct_keys) == 1
    assert layout.ca.to_dict()["ct_keys"] == ca["ct_keys"]


def test_identity_without_trust_ca_is_refused(project: Path) -> None:
    text = _identity_source(ca="")
    with pytest.raises(LayoutSchemaError, match=r"functionaries\.trainer: .*trust\.ca"):
        load_and_pin(_source(project, text))


@pytest.mark.parametrize(
    ("identity", "match"),
    [
        (f"{{issuer: '{GITHUB}'}}", "identity"),
        (f"{{issuer: '{GITHUB}', subject: a, subject_pattern: b}}", "identity"),
        ("{subject: a}", "identity"),
        (f"{{issuer: '{GITHUB}', subject: a, audience: b}}", "identity"),
    ],
)
def test_identity_needs_an_issuer_and_one_subject(project: Path, identity: str, match: str) -> None:
    text = _identity_source(
        f"functionaries:\n  data-eng: keys/data-eng.pub\n  trainer: {{identity: {identity}}}\n"
    )
    with pytest.raises(LayoutSchemaError, match=r"functionaries\.trainer"):
        load_and_pin(_source(project, text))


def test_bad_subject_pattern_is_refused(project: Path) -> None:
    text = _identity_source(
        "functionaries:\n  data-eng: keys/data-eng.pub\n"
        f"  trainer: {{identity: {{issuer: '{GITHUB}', subject_pattern: '(unclosed'}}}}\n"
    )
    with pytest.raises(LayoutSchemaError, match=r"subject_pattern: not a regular expression"):
        load_and_pin(_source(project, text))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("roots: [keys/ca.crt]", "roots: [keys/log.pub]", r"trust\.ca\.roots\[0\]"),
        ("ct_keys: [keys/log.pub]", "ct_keys: [keys/ca.crt]", r"trust\.ca\.ct_keys\[0\]"),
    ],
)
def test_ca_pins_certificates_and_keys_of_the_right_kind(
    project: Path, old: str, new: str, field: str
) -> None:
    from atlas_intoto.errors import AtlasError

    text = _identity_source().replace(old, new)
    with pytest.raises(AtlasError, match=field):
        load_and_pin(_source(project, text))


def test_ct_key_id_must_match_its_key(project: Path) -> None:
    pinned = load_and_pin(_source(project, _identity_source()))
    pinned["trust"]["ca"]["ct_keys"][0]["keyid"] = "0" * 64
    with pytest.raises(LayoutSchemaError, match=r"trust\.ca\.ct_keys\[0\]\.keyid"):
        parse_layout(pinned)


def test_subject_pattern_is_a_full_match() -> None:
    who = FunctionaryIdentity(
        name="ci", issuer="https://gitlab.com", subject_pattern=r"https://gitlab\.com/acme/.+"
    )
    assert who.subject_matches("https://gitlab.com/acme/model//.gitlab-ci.yml@refs/heads/main")
    assert not who.subject_matches("https://gitlab.com/evil/x?https://gitlab.com/acme/y")
    assert who.to_dict() == {
        "identity": {
            "issuer": "https://gitlab.com",
            "subject_pattern": r"https://gitlab\.com/acme/.+",
        }
    }


def test_in_toto_export_refuses_identities(project: Path) -> None:
    layout = parse_layout(load_and_pin(_source(project, _identity_source())))
    with pytest.raises(UsageError, match="identity functionary trainer"):
        export_intoto(layout)


def test_layout_check_lists_identities(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from atlas_intoto.cli import main

    source = _source(project, _identity_source())
    assert main(["layout", "check", str(source), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["identities"] == {"trainer": f"{WORKFLOW} from {GITHUB}"}
    assert "trainer" not in doc["functionaries"]


def test_identities_without_a_source_of_trusted_time_are_uncheckable(project: Path) -> None:
    from atlas_intoto.errors import LayoutUncheckableError
    from atlas_intoto.layout.checkable import check_checkable

    text = _identity_source().replace("  logs: [{key: keys/log.pub}]\n", "")
    layout = parse_layout(load_and_pin(_source(project, text)))
    with pytest.raises(LayoutUncheckableError, match=r"functionaries\.trainer: .*trusted time"):
        check_checkable(layout, now=0, source="identity.yaml")
    # a pinned log (or TSA) gives every keyless link its time
    check_checkable(
        parse_layout(load_and_pin(_source(project, _identity_source()))),
        now=0,
        source="identity.yaml",
    )
