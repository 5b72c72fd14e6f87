"""The admission webhook with real AdmissionReview v1 documents over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from bundle_builder import Pipeline
from service_helpers import final_digests


def review(
    *,
    namespace: str = "ml-prod",
    annotations: dict[str, str] | None = None,
    kind: tuple[str, str, str] = ("", "v1", "Pod"),
    operation: str = "CREATE",
) -> dict[str, Any]:
    group, version, name = kind
    obj = {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": name,
        "metadata": {
            "name": "model-server",
            "namespace": namespace,
            "annotations": annotations or {},
        },
        "spec": {"containers": [{"name": "server", "image": "registry.example/server:1"}]},
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": group, "version": version, "kind": name},
            "resource": {"group": group, "version": version, "resource": name.lower() + "s"},
            "requestKind": {"group": group, "version": version, "kind": name},
            "name": "model-server",
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:ml-prod:deployer"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def annotations(pipeline: Pipeline, **changes: str) -> dict[str, str]:
    return {
        "atlas-intoto.dev/bundle": "model.atlas.json",
        "atlas-intoto.dev/artifacts": json.dumps(final_digests(pipeline)),
        **changes,
    }


def _admit(url: str, doc: Any) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/admission", json=doc)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    return answer["response"]  # type: ignore[no-any-return]


def test_verified_pod_and_inference_service_are_admitted(
    service: tuple[str, Any, Path], attested: Pipeline
) -> None:
    url, _, _ = service
    assert _admit(url, review(annotations=annotations(attested)))["allowed"] is True
    kserve = review(
        annotations=annotations(attested), kind=("serving.kserve.io", "v1beta1", "InferenceService")
    )
    assert _admit(url, kserve)["allowed"] is True


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"atlas-intoto.dev/bundle": ""}, "atlas-intoto.dev/bundle missing"),
        ({"atlas-intoto.dev/artifacts": "{"}, "not JSON"),
        ({"atlas-intoto.dev/bundle": "../service.yaml"}, "outside the bundle root"),
        ({"atlas-intoto.dev/bundle": "missing.atlas.json"}, "no such bundle"),
    ],
)
def test_denied_with_a_reason(
    service: tuple[str, Any, Path], attested: Pipeline, change: dict[str, str], reason: str
) -> None:
    url, _, _ = service
    response = _admit(url, review(annotations=annotations(attested, **change)))
    assert response["allowed"] is False and response["status"]["code"] == 403
    assert reason in response["status"]["message"]


def test_swapped_model_is_denied(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, _, _ = service
    digests = {p: "1" * 64 for p in final_digests(attested)}
    response = _admit(
        url,
        review(
            annotations=annotations(attested, **{"atlas-intoto.dev/artifacts": json.dumps(digests)})
        ),
    )
    assert response["allowed"] is False
    assert response["status"]["message"].startswith("provenance not verified: artifacts")


def test_other_cases(service: tuple[str, Any, Path], attested: Pipeline) -> None:
    url, _, _ = service
    assert _admit(url, review(operation="DELETE"))["allowed"] is True
    ungoverned = _admit(url, review(namespace="scratch", annotations={}))
    assert ungoverned["allowed"] is True and ungoverned["warnings"]
    other = _admit(url, review(kind=("apps", "v1", "Deployment")))
    assert other["allowed"] is False


@pytest.mark.parametrize(
    "doc",
    [
        {"kind": "Pod"},
        {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": ""}},
        [],
    ],
)
def test_malformed_reviews_are_400(service: tuple[str, Any, Path], doc: Any) -> None:
    url, _, _ = service
    response = httpx.post(f"{url}/v1/admission", json=doc)
    assert response.status_code == 400 and response.json()["ok"] is False
