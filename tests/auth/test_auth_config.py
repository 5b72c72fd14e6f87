"""The auth config format: schema, semantic checks, round trip, package data = schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import config_doc, write_config

from atlas_intoto.auth.config import SCHEMA_PATH, AuthConfig, load_auth_config, parse_auth_config
from atlas_intoto.errors import AuthConfigError, ServiceConfigError

REPO = Path(__file__).resolve().parents[2]


def test_schema_is_package_data_identical_to_schemas_dir() -> None:
    assert SCHEMA_PATH.read_bytes() == (REPO / "schemas" / "auth-config.schema.json").read_bytes()


def test_round_trip_and_relative_jwks(tmp_path: Path) -> None:
    config = load_auth_config(write_config(tmp_path))
    assert config.issuers[0].jwks_file == str(tmp_path / "jwks.json")
    assert AuthConfig.from_dict(config.to_dict()) == config
    assert [t.name for t in config.tokens] == ["ci", "reader", "old-ci"]
    assert config.tokens[1].algorithm == "sha512" and config.tokens[2].revoked


def _broken(change: Any) -> dict[str, Any]:
    doc = config_doc()
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(reads="maybe"), "reads"),
        (lambda d: d["tokens"][0].update(sha256="NOT-HEX"), "tokens[0].sha256"),
        (lambda d: d["tokens"][0].update(token="plaintext"), "tokens[0]"),
        (lambda d: d["tokens"][0].update(scopes=["admin"]), "tokens[0].scopes[0]"),
        (lambda d: d["tokens"][0].pop("sha256"), "tokens[0]"),
        (lambda d: d["oidc"]["issuers"][0].pop("audience"), "oidc.issuers[0]"),
        (
            lambda d: d["oidc"]["identities"][0].update(issuer="https://other"),
            "identities[0].issuer",
        ),
        (lambda d: d["oidc"]["identities"][1].update(subject_pattern="("), "subject_pattern"),
        (lambda d: d["tokens"][1].update(name="ci"), "name 'ci' is used twice"),
        (
            lambda d: d["tokens"][2].update(sha256=d["tokens"][0]["sha256"]),
            "tokens[2].sha256: the same token as 'ci'",
        ),
        (lambda d: d["tokens"][0].update(sha256="AB" * 32), "tokens[0].sha256"),
        (lambda d: d["tokens"][0].update(sha256="ab" * 31), "tokens[0].sha256"),
        (lambda d: d["oidc"]["identities"][1].update(name="main"), "is used twice"),
        (lambda d: (d.pop("tokens"), d.pop("oidc")), "nobody could write"),
    ],
)
def test_malformed_configs_name_the_field(change: Any, field: str) -> None:
    with pytest.raises(AuthConfigError, match=r"auth\.yaml: ") as caught:
        parse_auth_config(_broken(change), source="auth.yaml")
    assert field in str(caught.value)
    assert isinstance(caught.value, ServiceConfigError)  # exit 2, a configuration fault


def test_not_a_mapping_and_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="top level"):
        parse_auth_config([1, 2], source="auth.yaml")
    (tmp_path / "auth.yaml").write_text("tokens: [unclosed")
    with pytest.raises(AuthConfigError, match="not YAML"):
        load_auth_config(tmp_path / "auth.yaml")


def test_bad_jwks_file_is_a_config_error(tmp_path: Path) -> None:
    from atlas_intoto.auth import Guard

    path = write_config(tmp_path)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": "nope"}))
    with pytest.raises(AuthConfigError, match=r"jwks\.json: not a JWKS"):
        Guard.from_file(path)
    (tmp_path / "jwks.json").unlink()
    with pytest.raises(AuthConfigError, match="cannot read the JWKS"):
        Guard.from_file(path)
