"""examples/kubernetes: the manifests parse, the embedded config is valid, the webhook and the
annotated workloads fit what /v1/admission reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from atlas_intoto.service.admission import parse_review, verify_request_document
from atlas_intoto.service.config import parse_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "kubernetes"


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d]


def test_service_config_is_valid() -> None:
    config_map = next(d for d in _documents("service.yaml") if d["kind"] == "ConfigMap")
    doc = yaml.safe_load(config_map["data"]["service.yaml"])
    config = parse_config(doc, base=Path("/"), load_key=lambda p: b"", load_signer=lambda p: None)
    assert config.admission.policy_for("ml-prod") == "production"


def test_webhook_points_at_the_admission_endpoint() -> None:
    (webhook,) = _documents("webhook.yaml")
    hook = webhook["webhooks"][0]
    assert hook["clientConfig"]["service"]["path"] == "/v1/admission"
    assert hook["admissionReviewVersions"] == ["v1"] and hook["failurePolicy"] == "Fail"


def test_annotated_workloads_make_verify_requests() -> None:
    for obj in _documents("model-server.yaml"):
        if obj["kind"] == "Namespace":
            continue
        group, _, version = obj["apiVersion"].rpartition("/")
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": group, "version": version, "kind": obj["kind"]},
                "namespace": obj["metadata"]["namespace"],
                "operation": "CREATE",
                "object": obj,
            },
        }
        request = verify_request_document(parse_review(review), "production")
        assert isinstance(request, dict) and request["bundle_path"] == "sentiment/v3.atlas.json"
        assert list(request["artifacts"]) == ["dist/model.npz"]
