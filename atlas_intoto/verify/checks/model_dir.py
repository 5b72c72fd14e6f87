"""Check 7, the model directory against the OMS model signatures of the bundle (with
``verify --model-dir``): every file signed, nothing extra, nothing missing, as model-signing
checks a model (:mod:`atlas_intoto.oms`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from atlas_intoto.errors import EvidenceError, ModelDirectoryError
from atlas_intoto.verify.checks import failed, passed
from atlas_intoto.verify.report import CheckResult
from atlas_intoto.verify.state import VerificationState, VerifiedLink

if TYPE_CHECKING:
    from atlas_intoto.oms import ModelManifest


def _manifest(link: VerifiedLink) -> ModelManifest:
    from atlas_intoto import dsse
    from atlas_intoto.oms import parse_manifest

    payload = json.loads(dsse.parse(link.evidence.envelope).payload)
    return parse_manifest(payload, source=f"step {link.step}: model signature")


def check_model_dir(state: VerificationState, model_dir: Path) -> list[CheckResult]:
    """Check 7 for ``--model-dir``.

    Steps:
      1. the bundle holds at least one verified OMS model signature (check 2), else fail;
      2. for each: hash the directory as model-signing does (its ignore paths and git's files
         skipped) and compare with the signed files: any extra, missing or changed file fails
         (ModelDirectoryError listing them).
    """
    from atlas_intoto.oms import OMS_PREDICATE, compare_model_dir, hash_model_dir

    signed = [link for link in state.all_links() if link.predicate_type == OMS_PREDICATE]
    if not signed:
        error = ModelDirectoryError(f"{model_dir}: the bundle has no verified model signature")
        return [failed("artifacts", None, error)]
    rows = []
    for link in signed:
        try:
            manifest = _manifest(link)
        except (EvidenceError, ValueError) as exc:
            rows.append(failed("artifacts", link.step, exc))
            continue
        diffs = compare_model_dir(manifest, hash_model_dir(model_dir, manifest))
        if diffs:
            error = ModelDirectoryError(f"{model_dir}: " + "; ".join(diffs))
            rows.append(failed("artifacts", link.step, error))
        else:
            count = len(manifest.resources)
            rows.append(passed("artifacts", link.step, f"{model_dir}: {count} file(s) as signed"))
    return rows
