"""The OpenAPI 3.1 description of the verification service (``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "check": {"type": "string"},
                "message": {"type": "string"},
            },
        },
    },
}
_VERIFY_REQUEST = {
    "type": "object",
    "required": ["policy", "artifacts"],
    "properties": {
        "policy": {"type": "string", "description": "a policy name of the service's config"},
        "bundle": {"type": "object", "description": "the model bundle document"},
        "bundle_path": {"type": "string", "description": "a bundle under the bundle root"},
        "bundle_url": {"type": "string", "description": "a bundle under an allowed URL prefix"},
        "artifacts": {
            "type": "object",
            "description": "path → SHA-256 hex of the model files the caller holds",
            "additionalProperties": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        },
        "export": {
            "enum": ["cyclonedx", "spdx"],
            "description": "also return this AI-BOM of the bundle with a passing verdict",
        },
    },
}
_VERDICT = {
    "type": "object",
    "description": "verify --json's report (+ policy rows, status per row), policy, cached, vsa",
    "required": ["ok", "results", "policy"],
    "properties": {
        "ok": {"type": "boolean"},
        "results": {"type": "array", "items": {"type": "object"}},
        "steps": {"type": "array", "items": {"type": "object"}},
        "policy": {"type": "string"},
        "cached": {"type": "boolean"},
        "vsa": {"type": "object", "description": "DSSE envelope of a SLSA VSA v1 statement"},
        "export": {
            "type": "object",
            "description": "the requested AI-BOM (format, exported, document; statement: its "
            "in-toto Statement in a DSSE envelope when the policy signs VSAs)",
        },
    },
}


def _json_body(schema: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors() -> dict[str, Any]:
    return {
        str(code): {"description": text, **_json_body(_ERROR)}
        for code, text in (
            (400, "malformed request"),
            (401, "missing or unknown token"),
            (403, "policy not allowed for this caller, or path outside the bundle root"),
            (404, "unknown policy or bundle"),
            (413, "request too large"),
            (422, "the bundle cannot be parsed"),
            (504, "verification took longer than the time limit"),
        )
    }


def _post(summary: str, request: Any, response: Any) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}],
            "requestBody": {"required": True, **_json_body(request)},
            "responses": {"200": {"description": "verdict", **_json_body(response)}, **_errors()},
        }
    }


def _get(summary: str, media: str = "application/json") -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": [],
            "responses": {"200": {"description": summary, "content": {media: {}}}},
        }
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI document of the service at ``version``."""
    batch_request = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "policy": {"type": "string", "description": "default policy of the items"},
            "items": {"type": "array", "items": _VERIFY_REQUEST},
        },
    }
    batch_answer = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "results": {"type": "array"}},
    }
    review = {"type": "object", "description": "admission.k8s.io/v1 AdmissionReview"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "atlas-intoto verification service", "version": version},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/v1/verify": _post("verify one bundle under a policy", _VERIFY_REQUEST, _VERDICT),
            "/v1/verify-batch": _post("verify many bundles", batch_request, batch_answer),
            "/v1/admission": _post("Kubernetes validating admission webhook", review, review),
            "/healthz": _get("liveness (no token)"),
            "/readyz": _get("readiness (no token)"),
            "/metrics": _get("Prometheus metrics (no token)", "text/plain"),
            "/openapi.json": _get("this document"),
        },
    }
