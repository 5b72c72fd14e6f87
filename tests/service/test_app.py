"""The verification service over real HTTP (httpx against 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from bundle_builder import Pipeline
from service_helpers import ADMIN_TOKEN, OTHER_TOKEN, TOKEN, final_digests

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _verify(url: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/verify", json=body, headers=AUTH if headers is None else headers)


def _request(pipeline: Pipeline, **changes: Any) -> dict[str, Any]:
    doc = {
        "policy": "production",
        "bundle": pipeline.bundle_doc(),
        "artifacts": final_digests(pipeline),
    }
    doc.update(changes)
    return doc


def test_verified_then_cached_with_vsa(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    from atlas_intoto import dsse
    from atlas_intoto.keys import load_public_key

    url, _, _ = service
    first = _verify(url, _request(attested))
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["ok"] is True and answer["cached"] is False and answer["policy"] == "production"
    checks = [r["check"] for r in answer["results"]]
    assert "artifacts" in checks and checks[-1] == "policy"
    assert all(r["status"] == "pass" for r in answer["results"])
    envelope = dsse.Envelope.from_dict(answer["vsa"])
    dsse.verify(envelope, [load_public_key(attested.keys / "owner.pub")])
    statement = json.loads(envelope.payload)
    assert statement["predicate"]["verificationResult"] == "PASSED"
    assert {s["name"] for s in statement["subject"]} == set(final_digests(attested))
    second = _verify(url, _request(attested)).json()
    assert second["cached"] is True and second["ok"] is True
    assert second["results"] == answer["results"]
    # The same bytes from a caller who may not use the policy: still refused.
    other = _verify(url, _request(attested), headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    assert other.status_code == 403


def test_wrong_model_digest_is_not_verified(
    service: tuple[str, Any, Path], attested: Pipeline
) -> None:
    url, _, _ = service
    digests = final_digests(attested)
    path = "dist/model.npz"  # the final product of the package step
    assert path in digests
    for artifacts in ({**digests, path: "0" * 64}, {}):
        answer = _verify(url, _request(attested, artifacts=artifacts)).json()
        assert answer["ok"] is False
        failing = [r for r in answer["results"] if not r["passed"]]
        assert failing[0]["check"] == "artifacts" and failing[0]["error"] == "FinalArtifactError"
        assert failing[0]["status"] == "fail" and answer["cached"] is False


def test_tampered_bundle_fails_closed(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, _, _ = service
    # Warm the cache with the good bundle first: a tampered one must not reuse its verdict.
    assert _verify(url, _request(attested)).json()["ok"] is True
    bundle = attested.bundle_doc()
    bundle["layout"]["signatures"][0]["sig"] = "AAAA" + bundle["layout"]["signatures"][0]["sig"][4:]
    answer = _verify(url, _request(attested, bundle=bundle)).json()
    assert answer["ok"] is False and answer["results"][0]["check"] == "layout"


def test_policy_requirements_and_allowed_layouts(
    tmp_path: Path, attested: Pipeline, service_home: Path
) -> None:
    from service_helpers import write_config

    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.config import load_config
    from atlas_intoto.tlog.serving import serve_in_thread

    policies = {
        "production": {
            "layout_keys": [str(attested.keys / "owner.pub")],
            "layouts": ["ab" * 32],
        },
        "staging": {"layout_keys": [str(attested.keys / "owner.pub")]},
    }
    path = write_config(tmp_path, attested, policies=policies)
    with serve_in_thread(create_app(lambda: load_config(path))) as url:
        answer = _verify(url, _request(attested)).json()
    assert answer["ok"] is False
    assert answer["results"][-1]["error"] == "PolicyRequirementError"
    assert "is not allowed" in answer["results"][-1]["reason"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": f"Bearer {OTHER_TOKEN}"}, 403),
    ],
)
def test_credentials(
    service: tuple[str, Any, Path], attested: Pipeline, headers: dict[str, str], status: int
) -> None:
    url, _, _ = service
    response = _verify(url, _request(attested), headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["check"] == "service.auth" and "wrong" not in error["message"]


def test_bad_requests_are_4xx_json(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, _, _ = service
    cases: list[tuple[Any, int]] = [
        (_request(attested, policy="nope"), 403),  # a policy this token may not use
        (_request(attested, policy=7), 400),
        ({"policy": "production", "bundle": attested.bundle_doc()}, 400),
        (_request(attested, artifacts={"m": "xyz"}), 400),
        (_request(attested, artifacts=["m"]), 400),
        (_request(attested, bundle={"media_type": "garbage"}), 422),
        (_request(attested, bundle="text"), 400),
        (_request(attested, extra=1), 400),
        (_request(attested, bundle_path="model.atlas.json"), 400),  # both bundle and path
        ([1, 2], 400),
    ]
    for body, status in cases:
        response = _verify(url, body)
        assert response.status_code == status, response.text
        assert response.json()["ok"] is False and response.json()["error"]["message"]
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    unknown = _verify(url, _request(attested, policy="nope"), headers=admin)
    assert unknown.status_code == 404 and "unknown policy 'nope'" in unknown.text
    for raw in (b"{not json", b"[" * 100_000, b"\xff\xfe"):
        response = httpx.post(f"{url}/v1/verify", content=raw, headers=AUTH)
        assert response.status_code == 400 and response.json()["ok"] is False
    doubled = json.dumps(_request(attested)).replace(
        '"policy": "production"', '"policy": "production", "policy": "production"'
    )
    response = httpx.post(f"{url}/v1/verify", content=doubled.encode(), headers=AUTH)
    assert response.status_code == 400
    assert "key 'policy' appears twice" in response.json()["error"]["message"]
    huge = httpx.post(f"{url}/v1/verify", content=b" " * (5 * 1024 * 1024), headers=AUTH)
    assert huge.status_code == 413 and huge.json()["error"]["check"] == "service.request"
    assert httpx.get(f"{url}/v1/verify").status_code == 405
    assert httpx.get(f"{url}/nothing").json()["ok"] is False


def test_bundle_by_path_within_root(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, _, _ = service
    digests = final_digests(attested)
    ok = _verify(
        url, {"policy": "staging", "bundle_path": "model.atlas.json", "artifacts": digests}
    )
    assert ok.status_code == 200 and ok.json()["ok"] is True
    for path, status in (("../service.yaml", 403), ("/etc/passwd", 403), ("none.json", 404)):
        response = _verify(url, {"policy": "staging", "bundle_path": path, "artifacts": digests})
        assert response.status_code == status, response.text


def test_batch(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, _, _ = service
    good = {"bundle": attested.bundle_doc(), "artifacts": final_digests(attested)}
    items = [good, {**good, "artifacts": {}}, {"bundle": {}, "artifacts": {}}]
    response = httpx.post(
        f"{url}/v1/verify-batch", json={"policy": "production", "items": items}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False]
    assert results[2]["status"] == 422 and response.json()["ok"] is False
    assert httpx.post(f"{url}/v1/verify-batch", json={"items": []}, headers=AUTH).status_code == 400
    denied = httpx.post(
        f"{url}/v1/verify-batch",
        json={"policy": "production", "items": [good]},
        headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
    )
    assert denied.status_code == 403


def test_health_metrics_openapi_need_no_token(
    service: tuple[str, Any, Path], attested: Pipeline
) -> None:
    url, _, _ = service
    _verify(url, _request(attested))
    _verify(url, _request(attested))
    assert httpx.get(f"{url}/healthz").json() == {"ok": True}
    assert httpx.get(f"{url}/readyz").json()["policies"] == ["production", "staging"]
    metrics = httpx.get(f"{url}/metrics").text
    assert 'atlas_service_verdicts_total{policy="production",verdict="verified"} 2.0' in metrics
    assert 'atlas_service_cache_hits_total{layer="verdict"} 1.0' in metrics
    assert "atlas_service_request_seconds_bucket" in metrics
    assert TOKEN not in metrics
    spec = httpx.get(f"{url}/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/v1/verify" in spec["paths"]


def test_verdict_cache_is_keyed_by_policy_and_time(
    tmp_path: Path, attested: Pipeline, service_home: Path
) -> None:
    from service_helpers import write_config

    from atlas_intoto.layout import layout_payload
    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.config import load_config
    from atlas_intoto.tlog.serving import serve_in_thread

    path = write_config(tmp_path, attested)
    expires = layout_payload(attested.bundle_doc()["layout"]).expires_at
    clock = {"now": float(expires - 10)}
    with serve_in_thread(create_app(lambda: load_config(path), clock=lambda: clock["now"])) as url:
        assert _verify(url, _request(attested)).json()["cached"] is False
        assert _verify(url, _request(attested)).json()["cached"] is True
        # Another policy: its own verdict.
        assert _verify(url, _request(attested, policy="staging")).json()["cached"] is False
        # Past the layout's expiry the cached pass is not reused: the layout now fails.
        clock["now"] = float(expires + 1)
        late = _verify(url, _request(attested)).json()
        assert late["cached"] is False and late["ok"] is False
        assert late["results"][0]["error"] == "LayoutExpiredError"


def test_reload_swaps_the_configuration(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, app, path = service
    assert _verify(url, _request(attested)).status_code == 200
    text = path.read_text().replace("production", "prod2")
    path.write_text(text)
    assert app.state.service.reload() is True
    # The token's policies were renamed with the policy: "production" is gone for it.
    assert _verify(url, _request(attested)).status_code == 403
    assert _verify(url, _request(attested, policy="prod2")).json()["ok"] is True
    path.write_text("policies: [")
    assert app.state.service.reload() is False  # broken config: the previous one stays
    assert _verify(url, _request(attested, policy="prod2")).status_code == 200


def test_time_limit_is_a_504(tmp_path: Path, attested: Pipeline, service_home: Path) -> None:
    from service_helpers import write_config

    from atlas_intoto.service.app import create_app
    from atlas_intoto.service.config import load_config
    from atlas_intoto.tlog.serving import serve_in_thread

    limits = {"timeout": 0.001}
    path = write_config(tmp_path, attested, limits=limits, cache_dir="fresh-cache")
    with serve_in_thread(create_app(lambda: load_config(path))) as url:
        response = _verify(url, _request(attested))
    assert response.status_code == 504 and response.json()["error"]["check"] == "service.request"
