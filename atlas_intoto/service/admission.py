"""A Kubernetes ValidatingAdmissionWebhook: admit a model workload only if its bundle verifies.

``POST /v1/admission`` takes an ``admission.k8s.io/v1`` AdmissionReview and answers one. A Pod
or a KServe InferenceService is admitted only if its annotations name a bundle (a path under
the service's ``bundle_root``) and the model's digests, and that bundle verifies, with those
digests as the final artifacts, under the policy of the object's namespace
(``admission.namespaces``, else ``admission.default_policy``)::

    metadata:
      annotations:
        atlas-intoto.dev/bundle: team-a/model-v3.atlas.json
        atlas-intoto.dev/artifacts: '{"model/model.npz": "<sha256 hex>"}'

Deletions (and CONNECT) are admitted; a namespace no policy governs is admitted with a
warning (scope the webhook with a namespaceSelector); everything else that cannot be verified
is denied with the reason. A document that is not an AdmissionReview is a 400.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_intoto.errors import ServiceRequestError

API_VERSION = "admission.k8s.io/v1"
BUNDLE_ANNOTATION = "atlas-intoto.dev/bundle"
ARTIFACTS_ANNOTATION = "atlas-intoto.dev/artifacts"
#: (API group, kind) of the workloads the webhook judges
MODEL_WORKLOADS = {("", "Pod"), ("serving.kserve.io", "InferenceService")}


@dataclass(frozen=True, kw_only=True)
class AdmissionRequest:
    """The parts of an AdmissionReview request the webhook uses."""

    uid: str
    group: str
    kind: str
    namespace: str
    operation: str
    annotations: Mapping[str, str]


def parse_review(doc: Any) -> AdmissionRequest:
    """The request of an AdmissionReview v1 document (ServiceRequestError names the field)."""
    if not isinstance(doc, Mapping) or doc.get("kind") != "AdmissionReview":
        raise ServiceRequestError("kind: expected an AdmissionReview")
    if doc.get("apiVersion") != API_VERSION:
        raise ServiceRequestError(f"apiVersion: expected {API_VERSION}")
    request = doc.get("request")
    if not isinstance(request, Mapping):
        raise ServiceRequestError("request: missing")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ServiceRequestError("request.uid: missing")
    kind = request.get("kind")
    if not isinstance(kind, Mapping) or not isinstance(kind.get("kind"), str):
        raise ServiceRequestError("request.kind: missing")
    operation = request.get("operation")
    if not isinstance(operation, str):
        raise ServiceRequestError("request.operation: missing")
    obj = request.get("object")
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    if annotations is not None and not (
        isinstance(annotations, Mapping) and all(isinstance(v, str) for v in annotations.values())
    ):
        raise ServiceRequestError("request.object.metadata.annotations: must map to strings")
    namespace = request.get("namespace")
    return AdmissionRequest(
        uid=uid,
        group=str(kind.get("group", "")),
        kind=kind["kind"],
        namespace=namespace if isinstance(namespace, str) else "",
        operation=operation,
        annotations=dict(annotations or {}),
    )


def review_response(
    uid: str, *, allowed: bool, message: str, warnings: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The AdmissionReview v1 answer."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message}
    else:
        response["status"] = {"code": 200, "message": message}
    if warnings:
        response["warnings"] = list(warnings)
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def verify_request_document(request: AdmissionRequest, policy: str) -> dict[str, Any] | str:
    """The ``/v1/verify`` document the annotations describe, or the reason to deny."""
    bundle = request.annotations.get(BUNDLE_ANNOTATION)
    if not bundle:
        return f"annotation {BUNDLE_ANNOTATION} missing: no provenance bundle named"
    text = request.annotations.get(ARTIFACTS_ANNOTATION)
    if not text:
        return f"annotation {ARTIFACTS_ANNOTATION} missing: no model digests given"
    try:
        artifacts = json.loads(text)
    except (ValueError, RecursionError):
        return f"annotation {ARTIFACTS_ANNOTATION}: not JSON"
    return {"policy": policy, "bundle_path": bundle, "artifacts": artifacts}


def denial_reason(answer: Mapping[str, Any]) -> str:
    """One line naming the first failed check of a verdict."""
    for row in answer.get("results", ()):
        if not row.get("passed"):
            where = f" [{row['step']}]" if row.get("step") else ""
            return f"provenance not verified: {row['check']}{where}: {row['reason']}"
    return "provenance not verified"
