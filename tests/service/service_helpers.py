"""Helpers of the service tests (a module of its own: ``conftest`` names clash across test
directories when imported)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verify"))

from bundle_builder import Pipeline

from atlas_intoto.measure import measure

TOKEN = "s3cret-ci-token"
OTHER_TOKEN = "s3cret-other-token"
ADMIN_TOKEN = "s3cret-admin-token"


def final_digests(pipeline: Pipeline) -> dict[str, str]:
    """The caller's map for the final products (the ``package`` step's outputs)."""
    products = measure(["."], base_path=pipeline.work)
    return {path: d["sha256"] for path, d in products.items()}


def write_config(directory: Path, pipeline: Pipeline, **overrides: Any) -> Path:
    from atlas_intoto.service.config import hash_token

    (directory / "bundles").mkdir(exist_ok=True)
    (directory / "bundles" / "model.atlas.json").write_bytes(pipeline.bundle_bytes())
    doc: dict[str, Any] = {
        "policies": {
            "production": {
                "layout_keys": [str(pipeline.keys / "owner.pub")],
                "require": {"tee": True, "c2pa": True, "log": True},
                "vsa_key": str(pipeline.keys / "owner.key"),
            },
            "staging": {"layout_keys": [str(pipeline.keys / "owner.pub")]},
        },
        "tokens": [
            {"name": "ci", "sha256": hash_token(TOKEN), "policies": ["production", "staging"]},
            {"name": "other", "sha256": hash_token(OTHER_TOKEN), "policies": ["staging"]},
            {"name": "admin", "sha256": hash_token(ADMIN_TOKEN), "policies": ["*"]},
        ],
        "bundle_root": "bundles",
        "cache_dir": "cache",
        "limits": {"max_body": 4 * 1024 * 1024, "timeout": 60},
        "admission": {"namespaces": {"ml-prod": "production"}},
    }
    doc.update(overrides)
    path = directory / "service.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path
