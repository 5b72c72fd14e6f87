"""Verification Summary Attestations (SLSA VSA v1) for the service's verdicts.

The service signs one in-toto Statement v1 per verdict when the policy names a VSA key: the
subjects are the artifacts the caller compared, the predicate says which verifier, which policy
(by name and digest), which bundle and the result. A small interface (:class:`VsaSigner`) keeps
it replaceable by the package's shared VSA builder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from atlas_intoto import dsse

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
VSA_PREDICATE = "https://slsa.dev/verification_summary/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


#: What the service needs to answer a signed VSA: called with :func:`vsa_statement`'s keyword
#: arguments, it returns the signed document.
VsaSigner = Callable[..., dict[str, Any]]


def vsa_statement(
    *,
    report: Mapping[str, Any],
    policy: str,
    policy_digest: str,
    bundle_digest: str,
    artifacts: Mapping[str, str],
    verifier: str,
) -> dict[str, Any]:
    """The VSA statement for one verdict (pure)."""
    verified_at = int(report.get("verified_at") or time.time())
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": p, "digest": {"sha256": d}} for p, d in sorted(artifacts.items())],
        "predicateType": VSA_PREDICATE,
        "predicate": {
            "verifier": {"id": verifier},
            "timeVerified": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(verified_at)),
            "resourceUri": f"atlas-intoto-bundle:sha256:{bundle_digest}",
            "policy": {"uri": f"atlas-intoto-policy:{policy}", "digest": {"sha256": policy_digest}},
            "inputAttestations": [
                {"uri": "atlas-intoto-bundle", "digest": {"sha256": bundle_digest}}
            ],
            "verificationResult": "PASSED" if report.get("ok") else "FAILED",
            "verifiedLevels": [],
        },
    }


def dsse_vsa_signer(signer: Any) -> VsaSigner:
    """A :class:`VsaSigner` that signs the statement in a DSSE envelope with ``signer``."""

    def sign(**fields: Any) -> dict[str, Any]:
        statement = vsa_statement(**fields)
        payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
        return dsse.sign(PAYLOAD_TYPE, payload, [signer]).to_dict()

    return sign
