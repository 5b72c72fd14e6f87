"""Generate the TEE verification vectors in this directory (run from the repository root).

    .venv/bin/python tests/tee/vectors/generate.py

Every vector is one call of ``atlas_intoto.tee.verify_tee_evidence`` with its expected outcome:
``{"description", "expected_error" (class name in atlas_intoto.errors, or null), "tee_env",
"collateral" (QuoteCollateralV3 JSON text), "binding" (hex), "step_tee", "trust_tee", "at"}``.
The simulated platform is derived from a fixed seed and a fixed time, so keys and measurements
are the same on every run (ECDSA signatures are randomised, so the bytes differ run to run).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from atlas_intoto.binding import tee_report_data  # noqa: E402
from atlas_intoto.tee.quote import build_quote, parse_quote  # noqa: E402
from atlas_intoto.tee.simulated import generate_platform  # noqa: E402

SEED = b"atlas-intoto tee test vectors v1"
CREATED = 1735689600  # 2025-01-01T00:00:00Z
ISSUED = CREATED + 3600
AT = ISSUED + 7200
BINDING = hashlib.sha256(b"vector link").digest()
OTHER_BINDING = hashlib.sha256(b"another link").digest()
NONCE = hashlib.sha256(b"vector nonce").digest()


def main() -> None:
    platform = generate_platform(now=CREATED, seed=SEED)
    other = generate_platform(now=CREATED, seed=SEED + b" other platform")
    root_pem = platform.root_pem.decode()
    trust = {"roots": [{"pem": root_pem}], "allow_tcb_status": ["UpToDate"]}
    report_data = tee_report_data(BINDING, NONCE)
    quote = platform.make_quote(report_data)
    collateral = platform.make_collateral(issued_at=ISSUED)
    step = {
        "required": True,
        "mrtd": [platform.mr_td.hex()],
        "rtmr": {"3": [platform.rtmr[3].hex()]},
    }

    def vector(
        name: str,
        description: str,
        expected: str | None,
        *,
        quote_bytes: bytes = quote,
        collateral_bytes: bytes = collateral,
        nonce: bytes = NONCE,
        evidence_type: str = "simulated-tdx",
        step_tee: dict[str, Any] | None = None,
        trust_tee: dict[str, Any] | None = None,
        at: int = AT,
        env_patch: dict[str, Any] | None = None,
    ) -> None:
        env: dict[str, Any] = {
            "type": evidence_type,
            "quote": base64.b64encode(quote_bytes).decode(),
            "nonce": nonce.hex(),
            "collateral": {
                "path": "tee/vector.0badc0de.collateral.json",
                "sha256": hashlib.sha256(collateral_bytes).hexdigest(),
            },
        }
        env.update(env_patch or {})
        doc = {
            "description": description,
            "expected_error": expected,
            "tee_env": env,
            "collateral": collateral_bytes.decode(),
            "binding": BINDING.hex(),
            "step_tee": step if step_tee is None else step_tee,
            "trust_tee": trust if trust_tee is None else trust_tee,
            "at": at,
        }
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")

    parsed = parse_quote(quote)
    flipped = bytearray(quote)
    flipped[48 + 520] ^= 0x01  # first byte of REPORTDATA in a v4 quote
    sgx_header = dataclasses.replace(parsed.header, tee_type=0)
    vector("valid", "simulated quote, collateral and policy that verify", None)
    vector(
        "reportdata_bitflip",
        "one REPORTDATA bit flipped in the signed quote",
        "QuoteVerificationError",
        quote_bytes=bytes(flipped),
    )
    vector(
        "other_link",
        "a valid quote made for another link's binding",
        "ReportDataMismatchError",
        quote_bytes=platform.make_quote(tee_report_data(OTHER_BINDING, NONCE)),
    )
    vector(
        "nonce_altered",
        "the link records another nonce than the quote was made with",
        "ReportDataMismatchError",
        nonce=hashlib.sha256(b"other nonce").digest(),
    )
    vector(
        "root_intel",
        "simulated quote checked against the Intel root only",
        "TeeRootError",
        trust_tee={"roots": ["intel"], "allow_tcb_status": ["UpToDate"]},
    )
    vector(
        "root_other_platform",
        "simulated quote checked against another simulated platform's root",
        "TeeRootError",
        trust_tee={"roots": [{"pem": other.root_pem.decode()}]},
    )
    vector(
        "collateral_other_platform",
        "collateral of another platform (its chain leads to another root)",
        "TeeRootError",
        collateral_bytes=other.make_collateral(issued_at=ISSUED),
    )
    vector(
        "mrtd_policy",
        "MRTD outside the step's allowed list",
        "MeasurementPolicyError",
        step_tee={"mrtd": ["ab" * 48]},
    )
    vector(
        "rtmr_policy",
        "RTMR2 outside the step's allowed list",
        "MeasurementPolicyError",
        step_tee={"rtmr": {"2": ["cd" * 48]}},
    )
    vector(
        "mrconfigid_policy",
        "MRCONFIGID outside the step's allowed list",
        "MeasurementPolicyError",
        step_tee={"mrconfigid": ["ef" * 48]},
    )
    vector(
        "debug_td",
        "validly signed quote of a debug TD (TDATTRIBUTES bit 0)",
        "DebugTdError",
        quote_bytes=platform.make_quote(
            report_data, td_attributes=bytes.fromhex("0100001000000000")
        ),
    )
    vector(
        "collateral_expired",
        "verification time 31 days after the collateral was issued",
        "CollateralExpiredError",
        at=ISSUED + 31 * 86400,
    )
    vector(
        "collateral_not_yet_valid",
        "verification time before the collateral was issued",
        "CollateralExpiredError",
        at=ISSUED - 3600,
    )
    vector(
        "tcb_out_of_date",
        "platform TCB OutOfDate while the layout allows UpToDate only",
        "TcbStatusError",
        collateral_bytes=platform.make_collateral(issued_at=ISSUED, tcb_status="OutOfDate"),
    )
    vector(
        "tcb_revoked",
        "platform TCB Revoked (dcap-qvl refuses it)",
        "TcbStatusError",
        collateral_bytes=platform.make_collateral(issued_at=ISSUED, tcb_status="Revoked"),
        trust_tee={"roots": [{"pem": root_pem}], "allow_tcb_status": ["UpToDate", "Revoked"]},
    )
    vector(
        "not_tdx",
        "quote header claims an SGX TEE type",
        "NotTdxQuoteError",
        quote_bytes=build_quote(dataclasses.replace(parsed, header=sgx_header)),
    )
    vector(
        "quote_truncated",
        "quote cut inside its signature data",
        "QuoteFormatError",
        quote_bytes=quote[:2000],
    )
    vector(
        "quote_garbage",
        "quote bytes are not a quote",
        "QuoteFormatError",
        quote_bytes=b"this is not a TDX quote" * 10,
    )
    tampered = json.loads(collateral)
    tcb_info = json.loads(tampered["tcb_info"])
    tcb_info["tcbLevels"][0]["tcbStatus"] = "UpToDate"
    tcb_info["tcbEvaluationDataNumber"] = 99
    tampered["tcb_info"] = json.dumps(tcb_info, separators=(",", ":"))
    vector(
        "collateral_tcb_info_tampered",
        "TCB info changed after the TCB signing key signed it",
        "QuoteVerificationError",
        collateral_bytes=json.dumps(tampered, indent=2).encode(),
    )
    vector(
        "collateral_digest_mismatch",
        "collateral file differs from the digest the link records",
        "CollateralMismatchError",
        env_patch={"collateral": {"path": "tee/x.collateral.json", "sha256": "00" * 32}},
    )
    vector(
        "nonce_short",
        "nonce of 16 bytes",
        "TeeEvidenceFormatError",
        env_patch={"nonce": "00" * 16},
    )
    vector(
        "type_unknown",
        "unknown evidence type",
        "TeeEvidenceFormatError",
        evidence_type="sev-snp",
    )
    vector(
        "quote_not_base64",
        "quote field is not base64",
        "TeeEvidenceFormatError",
        env_patch={"quote": "not base64!"},
    )


if __name__ == "__main__":
    main()
