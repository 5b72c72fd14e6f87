"""The verification service under the shared auth config (``auth:`` in its config): tokens by
hash with policies, OIDC identities, revoked tokens 403, reads public or token-only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from bundle_builder import Pipeline
from service_helpers import final_digests, write_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from auth_helpers import READ_TOKEN, REVOKED_TOKEN, WRITE_TOKEN, config_doc, id_token, jwks

from atlas_intoto.errors import ServiceConfigError


def _auth_file(directory: Path, reads: str = "token") -> str:
    doc = config_doc(reads=reads)
    doc["tokens"][1]["policies"] = ["staging"]  # the read token may use staging only
    (directory / "jwks.json").write_text(json.dumps(jwks()))
    (directory / "auth.yaml").write_text(json.dumps(doc))
    return "auth.yaml"


def _verify(url: str, pipeline: Pipeline, policy: str, token: str | None) -> httpx.Response:
    body = {"policy": policy, "bundle": pipeline.bundle_doc(), "artifacts": final_digests(pipeline)}
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{url}/v1/verify", json=body, headers=headers, timeout=120)


def _serve(path: Path) -> Any:
    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.config import load_config
    from atlas_intoto.tlog.serving import serve_in_thread

    return serve_in_thread(create_app(lambda: load_config(path)), name="atlas-service")


def test_shared_auth_config_decides(tmp_path: Path, attested: Pipeline) -> None:
    path = write_config(tmp_path, attested, tokens=[], auth=_auth_file(tmp_path))
    with _serve(path) as url:
        for token, status in ((None, 401), ("wrong", 401), (REVOKED_TOKEN, 403)):
            response = _verify(url, attested, "staging", token)
            assert response.status_code == status
            assert response.json()["error"]["check"] == "auth"
        assert _verify(url, attested, "production", READ_TOKEN).status_code == 403  # policies
        assert _verify(url, attested, "staging", READ_TOKEN).status_code == 200
        assert _verify(url, attested, "production", WRITE_TOKEN).status_code == 200
        assert _verify(url, attested, "staging", id_token()).status_code == 200
        evil = id_token(subject="repo:evil/x:ref:y")
        assert _verify(url, attested, "staging", evil).status_code == 403


def test_public_reads_serve_anyone(tmp_path: Path, attested: Pipeline) -> None:
    path = write_config(tmp_path, attested, tokens=[], auth=_auth_file(tmp_path, "public"))
    with _serve(path) as url:
        assert _verify(url, attested, "staging", None).status_code == 200


def test_auth_policies_must_exist(tmp_path: Path, attested: Pipeline) -> None:
    from atlas_intoto.service.config import load_config

    name = _auth_file(tmp_path)
    doc = json.loads((tmp_path / name).read_text())
    doc["tokens"][0]["policies"] = ["nope"]
    (tmp_path / name).write_text(json.dumps(doc))
    with pytest.raises(ServiceConfigError, match="unknown policy 'nope'"):
        load_config(write_config(tmp_path, attested, tokens=[], auth=name))
    with pytest.raises(ServiceConfigError, match="auth: must be the path"):
        load_config(write_config(tmp_path, attested, auth=7))


def test_several_authorization_headers_are_refused(tmp_path: Path, attested: Pipeline) -> None:
    path = write_config(tmp_path, attested, tokens=[], auth=_auth_file(tmp_path))
    body = {"policy": "staging", "bundle": attested.bundle_doc()}
    headers = [("Authorization", f"Bearer {WRITE_TOKEN}"), ("Authorization", "Bearer wrong")]
    with _serve(path) as url:
        response = httpx.post(f"{url}/v1/verify", json=body, headers=headers, timeout=120)
    assert response.status_code == 401
    assert response.json()["error"]["check"] == "auth"
