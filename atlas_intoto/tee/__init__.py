"""TEE evidence: TDX quotes bound to a step (docs/tee.md), recorded and verified.

Recording: :func:`attest` takes the step binding digest B, draws a 32-byte nonce, asks a provider
for a quote whose REPORTDATA = SHA-512("atlas-intoto/tee/v1" ‖ 0x00 ‖ B ‖ nonce) and returns the
quote, the nonce and the collateral. :meth:`TeeEvidence.environment` gives the link's
``tdx`` evidence entry (:mod:`atlas_intoto.tee.kind`, docs/INTERFACES.md).

Verification: :func:`verify_tee_evidence` (pure) checks that entry against the collateral, the
pinned roots, the policy and the binding recomputed from the signed link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.binding import tee_report_data
from atlas_intoto.errors import (
    CollateralMismatchError,
    DebugTdError,
    MeasurementPolicyError,
    NotTdxQuoteError,
    ReportDataMismatchError,
    TcbStatusError,
    TeeEvidenceFormatError,
    TeeRootError,
    TeeUnavailableError,
    UsageError,
)
from atlas_intoto.tee.policy import TeePolicy, intel_root_der, roots_from_layout

__all__ = [
    "EVIDENCE_TYPES",
    "TeeEvidence",
    "TeePolicy",
    "TeeVerification",
    "attest",
    "intel_root_der",
    "roots_from_layout",
    "verify_tee_evidence",
]

#: Evidence types a link may carry, by provider.
EVIDENCE_TYPES = ("tdx", "simulated-tdx")
NONCE_LEN = 32


@dataclass(frozen=True, kw_only=True)
class TeeEvidence:
    """A quote bound to a step, with its nonce and collateral (what ``attest`` returns)."""

    type: str
    quote: bytes
    nonce: bytes
    collateral: bytes

    def environment(self, collateral_path: str) -> dict[str, Any]:
        """The link's ``tee`` entry; ``collateral_path`` is relative to the evidence directory
        (``tee/NAME.KEYID8.collateral.json``)."""
        return {
            "type": self.type,
            "quote": base64.b64encode(self.quote).decode("ascii"),
            "nonce": self.nonce.hex(),
            "collateral": {
                "path": collateral_path,
                "sha256": hashlib.sha256(self.collateral).hexdigest(),
            },
        }

    @property
    def quote_sha256(self) -> str:
        """Hex SHA-256 of the raw quote: the ``quote_digest`` C2PA step assertions carry."""
        return hashlib.sha256(self.quote).hexdigest()


@dataclass(frozen=True, kw_only=True)
class TeeVerification:
    """What verifying a quote established (TCB status, measurements, root)."""

    type: str
    tcb_status: str
    advisory_ids: tuple[str, ...]
    mrtd: str
    rtmr: tuple[str, str, str, str]
    mrconfigid: str
    td_attributes: str
    quote_version: int
    td_report_version: str
    quote_sha256: str
    root_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "tcb_status": self.tcb_status,
            "advisory_ids": list(self.advisory_ids),
            "mrtd": self.mrtd,
            "rtmr": list(self.rtmr),
            "mrconfigid": self.mrconfigid,
            "td_attributes": self.td_attributes,
            "quote_version": self.quote_version,
            "td_report_version": self.td_report_version,
            "quote_sha256": self.quote_sha256,
            "root_sha256": self.root_sha256,
        }


def attest(
    kind: str, *, binding: bytes, home: Path, collateral_url: str | None = None
) -> TeeEvidence | None:
    """Produce TEE evidence bound to ``binding`` (B); ``kind`` is none, simulated or tdx.

    ``collateral_url`` (tdx only) is a PCCS/PCS URL, a ``file://`` URL or a collateral path.
    """
    from atlas_intoto.tee.providers import (
        ConfigfsTsmProvider,
        SimulatedTdxProvider,
        TeeProvider,
    )
    from atlas_intoto.tee.quote import parse_quote

    provider: TeeProvider
    if kind == "none":
        return None
    if kind == "simulated":
        provider = SimulatedTdxProvider(home)
    elif kind == "tdx":
        provider = ConfigfsTsmProvider(collateral_source=collateral_url)
    else:
        raise UsageError(f"--tee: unknown TEE {kind!r} (none, simulated or tdx)")
    nonce = secrets.token_bytes(NONCE_LEN)
    report_data = tee_report_data(binding, nonce)
    quote = provider.quote(report_data)
    try:
        produced = parse_quote(quote).report.report_data
    except Exception as exc:
        raise TeeUnavailableError(f"{kind}: the TEE returned an unparseable quote ({exc})") from exc
    if produced != report_data:
        raise TeeUnavailableError(f"{kind}: the TEE returned a quote for other REPORTDATA")
    return TeeEvidence(
        type=provider.evidence_type,
        quote=quote,
        nonce=nonce,
        collateral=provider.collateral(quote),
    )


def verify_tee_evidence(
    tee_env: Mapping[str, Any],
    *,
    collateral: bytes,
    binding: bytes,
    policy: TeePolicy,
    roots: Sequence[bytes],
    at: int,
) -> TeeVerification:
    """Verify a link's TEE evidence entry (pure; ``at`` = trusted unix time).

    1. the entry is well formed: known ``type``, base64 ``quote``, 32-byte hex ``nonce``, a
       recorded ``collateral.sha256`` (TeeEvidenceFormatError), and ``collateral`` equals that
       digest (CollateralMismatchError);
    2. the quote parses (QuoteFormatError) and is a TDX quote (NotTdxQuoteError);
    3. dcap-qvl verifies the quote's chain and the collateral at ``at`` against one of ``roots``
       (TeeRootError, CollateralExpiredError, QuoteVerificationError); the quote's kind is the
       root's — ``tdx`` only under Intel's root, else ``simulated-tdx`` — and must be the kind
       the link states (NotTdxQuoteError); a policy with ``allow_simulated: false`` refuses
       simulated quotes (TeeRootError);
    4. the TCB status is in ``policy.allow_tcb_status`` (TcbStatusError);
    5. the TD is not a debug TD, TDATTRIBUTES bit 0 (DebugTdError);
    6. MRTD, RTMR0-3 and MRCONFIGID are allowed by the policy (MeasurementPolicyError);
    7. REPORTDATA equals tee_report_data(binding, nonce), i.e. the quote was made for exactly
       this link (ReportDataMismatchError).
    """
    from atlas_intoto.tee.dcap import verify_quote_collateral
    from atlas_intoto.tee.quote import TEE_TYPE_TDX, parse_quote

    # 1
    evidence_type, quote_bytes, nonce = _evidence_fields(tee_env)
    recorded = tee_env.get("collateral")
    # Without the signed digest any validly signed collateral (e.g. an older one with a better
    # TCB status) could be bundled with the quote: a missing commitment fails, never skips.
    if not isinstance(recorded, Mapping) or not isinstance(recorded.get("sha256"), str):
        raise TeeEvidenceFormatError("tee.collateral.sha256: the link records no collateral digest")
    actual = hashlib.sha256(collateral).hexdigest()
    if not hmac.compare_digest(recorded["sha256"].lower(), actual):
        raise CollateralMismatchError(
            f"tee.collateral: file {recorded.get('path', '?')} has SHA-256 {actual}, "
            f"the link records {recorded['sha256']}"
        )
    # 2
    quote = parse_quote(quote_bytes)
    if quote.header.tee_type != TEE_TYPE_TDX:
        raise NotTdxQuoteError(
            f"tee.quote: TEE type 0x{quote.header.tee_type:08x} is not TDX (0x00000081)"
        )
    # 3
    dcap = verify_quote_collateral(quote_bytes, collateral, roots=roots, at=at)
    evidence_type = _verified_type(evidence_type, dcap.root_sha256, policy)
    # 4
    if dcap.status not in policy.allow_tcb_status:
        advisories = f" (advisories: {', '.join(dcap.advisory_ids)})" if dcap.advisory_ids else ""
        raise TcbStatusError(
            f"tee: TCB status {dcap.status} is not allowed "
            f"(allowed: {', '.join(policy.allow_tcb_status)}){advisories}"
        )
    report = quote.report
    # 5
    if report.debug and not policy.allow_debug:
        raise DebugTdError("tee.quote: TD is in debug mode (TDATTRIBUTES bit 0 set)")
    # 6
    _check_measurement("MRTD", report.mr_td, policy.mrtd)
    for index, value in enumerate(report.rtmrs):
        _check_measurement(f"RTMR{index}", value, policy.rtmr.get(index, ()))
    _check_measurement("MRCONFIGID", report.mr_config_id, policy.mrconfigid)
    # 7
    expected = tee_report_data(binding, nonce)
    if not hmac.compare_digest(report.report_data, expected):
        raise ReportDataMismatchError(
            "tee.quote: REPORTDATA does not equal the binding of this link and nonce "
            "(the quote was made for other materials, products, command or signer)"
        )
    return TeeVerification(
        type=evidence_type,
        tcb_status=dcap.status,
        advisory_ids=dcap.advisory_ids,
        mrtd=report.mr_td.hex(),
        rtmr=(report.rtmr0.hex(), report.rtmr1.hex(), report.rtmr2.hex(), report.rtmr3.hex()),
        mrconfigid=report.mr_config_id.hex(),
        td_attributes=report.td_attributes.hex(),
        quote_version=quote.header.version,
        td_report_version=report.version,
        quote_sha256=hashlib.sha256(quote_bytes).hexdigest(),
        root_sha256=dcap.root_sha256,
    )


def _verified_type(claimed: str, root_sha256: str, policy: TeePolicy) -> str:
    """The kind of quote the verifying root proves (never the link's own label)."""
    from atlas_intoto.tee.policy import INTEL_ROOT_SHA256

    proven = "tdx" if root_sha256 == INTEL_ROOT_SHA256 else "simulated-tdx"
    if claimed != proven:
        under = "Intel's root" if proven == "tdx" else "a non-Intel (simulated) root"
        raise NotTdxQuoteError(
            f"tee.type: the link says {claimed!r}, but the quote verified under {under}: "
            f"it is {proven!r} evidence"
        )
    if proven == "simulated-tdx" and not policy.allow_simulated:
        raise TeeRootError(
            "tee: the quote verified under a simulated TDX root, and the layout refuses "
            "simulated evidence (allow_simulated: false)"
        )
    return proven


def _evidence_fields(tee_env: Mapping[str, Any]) -> tuple[str, bytes, bytes]:
    if not isinstance(tee_env, Mapping):
        raise TeeEvidenceFormatError("tee: evidence entry is not an object")
    evidence_type = tee_env.get("type")
    if evidence_type not in EVIDENCE_TYPES:
        raise TeeEvidenceFormatError(
            f"tee.type: {evidence_type!r} is not one of {', '.join(EVIDENCE_TYPES)}"
        )
    quote_b64 = tee_env.get("quote")
    if not isinstance(quote_b64, str):
        raise TeeEvidenceFormatError("tee.quote: missing or not a base64 string")
    try:
        quote = base64.b64decode(quote_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TeeEvidenceFormatError(f"tee.quote: not valid base64 ({exc})") from exc
    nonce_hex = tee_env.get("nonce")
    try:
        nonce = bytes.fromhex(nonce_hex) if isinstance(nonce_hex, str) else b""
    except ValueError as exc:
        raise TeeEvidenceFormatError("tee.nonce: not hex") from exc
    if len(nonce) != NONCE_LEN:
        raise TeeEvidenceFormatError(f"tee.nonce: must be {NONCE_LEN} bytes of hex")
    return str(evidence_type), quote, nonce


def _check_measurement(name: str, value: bytes, allowed: Sequence[str]) -> None:
    if allowed and value.hex() not in {a.lower() for a in allowed}:
        raise MeasurementPolicyError(
            f"tee.quote: {name} {value.hex()} is not among the {len(allowed)} value(s) the "
            "layout allows"
        )
