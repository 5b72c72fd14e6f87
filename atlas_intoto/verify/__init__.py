"""The end-to-end verifier: numbered checks (docs/ARCHITECTURE.md), report model, cache, batch.

``verify_bundle(bundle_bytes, *, layout_keys, artifacts_dir=None, now=None, cache=None)``
returns a :class:`VerificationReport`; ``verify_batch`` verifies many bundles on all cores.
"""

from __future__ import annotations

from atlas_intoto.verify.cache import VerifyCache
from atlas_intoto.verify.engine import verify_bundle
from atlas_intoto.verify.report import CHECKS, CheckResult, StepLineage, VerificationReport

__all__ = [
    "CHECKS",
    "CheckResult",
    "StepLineage",
    "VerificationReport",
    "VerifyCache",
    "verify_bundle",
]
