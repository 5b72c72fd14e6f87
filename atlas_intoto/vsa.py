"""SLSA Verification Summary Attestation v1 of a verified model bundle (pure).

``verify --vsa-key KEY --vsa-out FILE`` signs this Statement and writes it as a Sigstore bundle,
so a policy engine (Kyverno, Sigstore policy-controller, GUAC) can admit the model on our
verdict without running our verifier::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [<the final step's products>],
     "predicateType": "https://slsa.dev/verification_summary/v1",
     "predicate": {"verifier": {"id": VERIFIER_ID, "version": {"atlas-intoto": "<version>"}},
                   "timeVerified": "<RFC 3339>", "resourceUri": "<the bundle>",
                   "policy": {"uri": "<layout>", "digest": {"sha256": "<layout digest>"}},
                   "inputAttestations": [{"uri": "<bundle>#<step>/<n>",
                                          "digest": {"sha256": "<envelope digest>"}}, ...],
                   "verificationResult": "PASSED" | "FAILED",
                   "verifiedLevels": ["SLSA_BUILD_LEVEL_1"] | ["FAILED"],
                   "slsaVersion": "1.0"}}

The level claimed is Build L1 (provenance exists, is complete and verified); a failed
verification claims ``FAILED`` (the spec's value for a failed policy).
"""

from __future__ import annotations

import hashlib
from typing import Any

from atlas_intoto.bundle import Bundle
from atlas_intoto.measure import digest_set
from atlas_intoto.statement import STATEMENT_TYPE, descriptors
from atlas_intoto.tlog.trusted_root import rfc3339
from atlas_intoto.verify.report import VerificationReport

#: predicateType of SLSA VSA v1.
VSA_PREDICATE = "https://slsa.dev/verification_summary/v1"
#: Our verifier's id.
VERIFIER_ID = "https://github.com/atlas-intoto/atlas-intoto/verifier"

__all__ = ["VERIFIER_ID", "VSA_PREDICATE", "final_products", "vsa_statement"]


def final_products(report: VerificationReport) -> dict[str, dict[str, str]]:
    """The products of the layout's last step that has a link (the released model)."""
    for step in reversed(report.steps):
        if step.products:
            return {path: digest_set(digest) for path, digest in step.products.items()}
    return {}


def vsa_statement(
    report: VerificationReport, bundle: Bundle, *, resource_uri: str, version: str
) -> dict[str, Any]:
    """The VSA Statement of ``report`` (the verification of ``bundle``, at
    ``report.verified_at``)."""
    inputs = []
    counts: dict[str, int] = {}
    for link in bundle.links:
        index = counts.get(link.step, 0)
        counts[link.step] = index + 1
        inputs.append(
            {
                "uri": f"{resource_uri}#{link.step}/{index}",
                "digest": {"sha256": hashlib.sha256(link.envelope).hexdigest()},
            }
        )
    return {
        "_type": STATEMENT_TYPE,
        "subject": descriptors(final_products(report)),
        "predicateType": VSA_PREDICATE,
        "predicate": {
            "verifier": {"id": VERIFIER_ID, "version": {"atlas-intoto": version}},
            "timeVerified": rfc3339(report.verified_at),
            "resourceUri": resource_uri,
            "policy": {
                "uri": f"{resource_uri}#layout",
                "digest": {"sha256": report.layout_digest or ""},
            },
            "inputAttestations": inputs,
            "verificationResult": "PASSED" if report.ok else "FAILED",
            "verifiedLevels": ["SLSA_BUILD_LEVEL_1"] if report.ok else ["FAILED"],
            "slsaVersion": "1.0",
        },
    }
