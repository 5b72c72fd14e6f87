"""Service configuration: every mistake names its field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from bundle_builder import Pipeline
from service_helpers import write_config

from atlas_intoto.errors import ServiceConfigError
from atlas_intoto.service.auth import authenticate
from atlas_intoto.service.config import hash_token, load_config


def test_loads(tmp_path: Path, attested: Pipeline) -> None:
    config = load_config(write_config(tmp_path, attested))
    assert sorted(config.policies) == ["production", "staging"]
    assert config.policies["production"].require.tee and config.policies["production"].vsa_signer
    assert config.bundle_root == tmp_path / "bundles"
    assert config.policies["production"].digest != config.policies["staging"].digest


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"policies": {}}, "policies"),
        ({"policies": {"p": {}}}, "policies.p.layout_keys"),
        ({"policies": {"p": {"layout_keys": ["nope.pub"]}}}, "policies.p"),
        ({"policies": {"bad name": {"layout_keys": ["x"]}}}, "policies.bad name"),
        ({"policies": {"p": {"layout_keys": ["x"], "colour": 1}}}, "policies.p.colour"),
        ({"tokens": [{"name": "t", "sha256": "abc", "policies": ["*"]}]}, "tokens[0].sha256"),
        ({"tokens": [{"sha256": "a" * 64, "policies": ["ghost"]}]}, "tokens[0].policies"),
        ({"tokens": None}, "tokens"),
        ({"limits": {"max_body": -1}}, "limits.max_body"),
        ({"admission": {"namespaces": {"ns": "ghost"}}}, "admission.namespaces.ns"),
        ({"surprise": True}, "config.surprise"),
    ],
)
def test_errors_name_the_field(
    tmp_path: Path, attested: Pipeline, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(
        ServiceConfigError, match=f"service.yaml: {field.replace('[', '.').replace(']', '.')}"
    ):
        load_config(write_config(tmp_path, attested, **changes))


def test_witness_requirement_loads_and_must_be_whole(tmp_path: Path, attested: Pipeline) -> None:
    policies = {
        "p": {"layout_keys": [str(attested.keys / "owner.pub")], "require": {"witnesses": 2}}
    }
    anyone = {"admission": {}, "tokens": [], "allow_anonymous": True}
    config = load_config(write_config(tmp_path, attested, policies=policies, **anyone))
    assert config.policies["p"].require.witnesses == 2
    policies["p"]["require"] = {"witnesses": 1.5}
    with pytest.raises(ServiceConfigError, match="witnesses"):
        load_config(write_config(tmp_path, attested, policies=policies, **anyone))


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("policies: [")
    with pytest.raises(ServiceConfigError, match="not valid YAML"):
        load_config(path)


def test_token_hashes_and_mtls(tmp_path: Path, attested: Pipeline) -> None:
    config = load_config(
        write_config(tmp_path, attested, mtls={"client_ca": "ca.pem", "policies": ["staging"]})
    )
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert "s3cret" not in yaml.safe_dump([t.sha256 for t in config.tokens])
    mtls = authenticate(config, authorization=None, client_certificate=True)
    assert mtls.allows("staging") and not mtls.allows("production")
    with pytest.raises(Exception, match="token is required"):
        authenticate(config, authorization=None, client_certificate=False)
