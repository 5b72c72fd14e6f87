"""SLSA Provenance v1 of the final model of a verified bundle (pure).

``atlas-intoto export slsa BUNDLE --out FILE`` verifies the bundle and writes::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [<the final step's products>],
     "predicateType": "https://slsa.dev/provenance/v1",
     "predicate": {
       "buildDefinition": {
         "buildType": BUILD_TYPE,
         "externalParameters": {"layout": {"digest": {"sha256": "<layout digest>"}},
                                "step": "<final step>", "command": [...]},
         "resolvedDependencies": [<every material of every step that no step produced:
                                   the datasets and code that fed the model>]},
       "runDetails": {
         "builder": {"id": "<BUILDER_PREFIX><final step>",
                     "version": {"tee": "<TEE type>", "mrtd": "<hex>", "tcb_status": "..."}},
         "metadata": {"invocationId": "<log entry id>", "finishedOn": "<RFC 3339 log time>"}}}}

The builder is the TEE-measured final step: its identity is the measurement the verifier
checked (MRTD), not a hosted build service.
"""

from __future__ import annotations

from typing import Any

from atlas_intoto.measure import digest_set
from atlas_intoto.statement import SLSA_PROVENANCE, STATEMENT_TYPE, descriptors
from atlas_intoto.tlog.trusted_root import rfc3339
from atlas_intoto.verify.report import StepLineage, VerificationReport
from atlas_intoto.vsa import final_products

#: buildType of the provenance we export.
BUILD_TYPE = "https://github.com/atlas-intoto/atlas-intoto/slsa/step/v1"
#: builder.id prefix (the step name follows).
BUILDER_PREFIX = "https://github.com/atlas-intoto/atlas-intoto/builder/step/"

__all__ = ["BUILDER_PREFIX", "BUILD_TYPE", "provenance_statement", "resolved_dependencies"]


def resolved_dependencies(report: VerificationReport) -> dict[str, dict[str, str]]:
    """Materials of all steps that no step produced (same path and digest): the pipeline's
    inputs, such as datasets and code."""
    produced = {(p, d) for step in report.steps for p, d in step.products.items()}
    inputs: dict[str, dict[str, str]] = {}
    for step in report.steps:
        for path, digest in step.materials.items():
            if (path, digest) not in produced:
                inputs[path] = digest_set(digest)
    return inputs


def _final_step(report: VerificationReport) -> StepLineage:
    return next((s for s in reversed(report.steps) if s.products), report.steps[-1])


def _builder(step: StepLineage) -> dict[str, Any]:
    version = {
        key: value
        for key, value in (
            ("tee", step.tee_type),
            ("mrtd", step.mrtd),
            ("tcb_status", step.tcb_status),
        )
        if value
    }
    builder: dict[str, Any] = {"id": f"{BUILDER_PREFIX}{step.step}"}
    if version:
        builder["version"] = version
    return builder


def provenance_statement(report: VerificationReport) -> dict[str, Any]:
    """The SLSA Provenance v1 Statement of the final model of a verified ``report``."""
    final = _final_step(report)
    metadata: dict[str, Any] = {}
    if final.log_uuid:
        metadata["invocationId"] = final.log_uuid
    if final.integrated_time is not None:
        metadata["finishedOn"] = rfc3339(final.integrated_time)
    run_details: dict[str, Any] = {"builder": _builder(final)}
    if metadata:
        run_details["metadata"] = metadata
    return {
        "_type": STATEMENT_TYPE,
        "subject": descriptors(final_products(report)),
        "predicateType": SLSA_PROVENANCE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "layout": {"digest": {"sha256": report.layout_digest or ""}},
                    "step": final.step,
                    "command": list(final.command),
                },
                "resolvedDependencies": descriptors(resolved_dependencies(report)),
            },
            "runDetails": run_details,
        },
    }
