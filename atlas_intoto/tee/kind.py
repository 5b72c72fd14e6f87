"""Intel TDX as an evidence kind (``tdx``): real TDs through configfs-tsm, or the simulated
platform with a complete DCAP chain. Registered in :mod:`atlas_intoto.evidence.registry`.

Entry fields: ``type`` (``tdx`` | ``simulated-tdx``), ``quote`` (base64), ``nonce`` (hex); blob
``collateral`` (dcap-qvl QuoteCollateralV3 JSON, under ``tee/``). Layout policy: ``steps[].tee``
and ``trust.tee`` (:class:`~atlas_intoto.tee.policy.TeePolicy`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from atlas_intoto.errors import MissingTeeEvidenceError, TeeRootError
from atlas_intoto.evidence.kind import (
    Blob,
    EvidenceKind,
    EvidenceResult,
    RecordedEvidence,
    RecordRequest,
    VerifyContext,
)
from atlas_intoto.evidence.model import EvidenceEntry

#: ``RecordRequest.options["platform"]`` values: the CLI's ``--tee`` choices other than none.
PLATFORMS = ("simulated", "tdx")


class TdxEvidenceKind(EvidenceKind):
    """TDX quotes whose REPORTDATA commits to the step binding B and a fresh nonce."""

    name: ClassVar[str] = "tdx"
    blob_dir: ClassVar[str] = "tee"

    def check_available(self, request: RecordRequest) -> None:
        """The TEE integration imports, and the platform is one of :data:`PLATFORMS`."""
        from atlas_intoto.errors import UsageError
        from atlas_intoto.tee import attest  # noqa: F401  (ImportError: integration missing)

        platform = request.options.get("platform", "simulated")
        if platform not in PLATFORMS:
            raise UsageError(f"--tee {platform!r}: expected none, {' or '.join(PLATFORMS)}")

    def record(self, request: RecordRequest) -> RecordedEvidence:
        """Quote on the requested platform (``options["platform"]``: simulated or tdx; tdx
        takes ``options["collateral_url"]``, a PCCS/PCS URL or collateral file)."""
        from atlas_intoto.errors import FeatureUnavailableError
        from atlas_intoto.tee import attest

        platform = request.options.get("platform", "simulated")
        evidence = attest(
            platform,
            binding=request.binding,
            home=request.home,
            collateral_url=request.options.get("collateral_url"),
        )
        if evidence is None:
            raise FeatureUnavailableError(
                f"--tee {platform}: the TEE provider returned no evidence"
            )
        return RecordedEvidence(
            fields={
                "type": evidence.type,
                "quote": base64.b64encode(evidence.quote).decode("ascii"),
                "nonce": evidence.nonce.hex(),
            },
            blobs={"collateral": Blob(data=evidence.collateral, suffix=".json")},
            manifest_digest=evidence.quote_sha256,
        )

    def verify(self, context: VerifyContext) -> EvidenceResult:
        """Steps:
        1. without pinned roots (``trust.tee``) a required quote fails (TeeRootError) and an
           optional one is reported as not checked;
        2. the collateral must be in the bundle (MissingTeeEvidenceError);
        3. :func:`atlas_intoto.tee.verify_tee_evidence` at the trusted time: collateral digest
           committed by the link, quote format, DCAP chain, TCB status, debug, measurements,
           REPORTDATA = binding of this link.
        """
        from atlas_intoto.tee import verify_tee_evidence
        from atlas_intoto.tee.policy import TeePolicy, roots_from_layout

        policy = TeePolicy.from_layout(context.step_policy, context.trust)
        if context.trust is None:
            if policy.required:
                raise TeeRootError(
                    f"step {context.step}: TEE required but the layout pins no TEE root"
                )
            return EvidenceResult(
                kind=self.name,
                description="TEE evidence present but not required (no roots pinned)",
                facts={"type": str(context.entry.fields.get("type")), "verified": False},
            )
        collateral = context.blobs.get("collateral")
        if collateral is None:
            raise MissingTeeEvidenceError(
                f"step {context.step}: quote collateral missing from the bundle"
            )
        verified = verify_tee_evidence(
            _tee_environment(context.entry),
            collateral=collateral,
            binding=context.binding,
            policy=policy,
            roots=roots_from_layout(context.trust),
            at=context.at,
        )
        return EvidenceResult(
            kind=self.name,
            description=(
                f"{verified.type} quote verified (TCB {verified.tcb_status}, "
                f"MRTD {verified.mrtd[:16]}…), bound to the link"
            ),
            facts={
                "type": verified.type,
                "tcb_status": verified.tcb_status,
                "mrtd": verified.mrtd,
                "verified": True,
            },
        )

    def manifest_digest(self, entry: EvidenceEntry) -> str | None:
        """SHA-256 of the raw quote: the ``quote_digest`` of the step's C2PA assertions."""
        quote = entry.fields.get("quote")
        if not isinstance(quote, str):
            return None
        try:
            return hashlib.sha256(base64.b64decode(quote, validate=True)).hexdigest()
        except (binascii.Error, ValueError):
            return None


def _tee_environment(entry: EvidenceEntry) -> Mapping[str, Any]:
    """The entry in the shape :func:`verify_tee_evidence` checks (``collateral`` reference)."""
    env: dict[str, Any] = dict(entry.fields)
    ref = entry.blobs.get("collateral")
    if ref is not None:
        env["collateral"] = ref.to_dict()
    return env
