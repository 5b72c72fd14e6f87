"""Collateral of the simulated platform: dcap-qvl's ``QuoteCollateralV3`` JSON (pure).

TCB info and QE identity are signed by the TCB signing key, the CRLs by the root and PCK
Platform CAs (:mod:`.pki`). Field values that dcap-qvl appraises (QE identity, TDX module
identity, TCB component SVNs) mirror Intel's production collateral, so the simulated platform
evaluates exactly like a real, up-to-date one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from atlas_intoto.tee.simulated.pki import PCE_ID, PCE_SVN, issue_crl, sign_raw, utc_text

if TYPE_CHECKING:
    from atlas_intoto.tee.simulated.platform import SimulatedPlatform

#: How long generated collateral (TCB info, QE identity, CRLs) stays valid, like Intel's PCS.
COLLATERAL_VALIDITY = 30 * 86400
#: Cached collateral older than this is regenerated, so a recorded snapshot has >= 29 days left.
COLLATERAL_REFRESH = 86400
#: Issue dates are backdated a little so that a verifier with a slightly slow clock accepts them.
CLOCK_SKEW = 300
#: Advisory reported when collateral is generated with a non-UpToDate TCB status (tests).
SIM_ADVISORY = "ATLAS-SIM-SA-0001"

# Values dcap-qvl appraises, as in Intel's production TDX collateral and a current platform.
#: The quoting enclave's signer and product, as its QE identity names them (and its report).
QE_MR_SIGNER = bytes.fromhex("dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5")
QE_PROD_ID = 2
SGX_COMPONENTS = [2, 2, 2, 2, 3, 1, 0, 5] + [0] * 8
TDX_COMPONENTS = [5, 0, 2] + [0] * 13


def make_collateral(
    platform: SimulatedPlatform,
    *,
    issued_at: int,
    validity: int = COLLATERAL_VALIDITY,
    tcb_status: str = "UpToDate",
) -> bytes:
    """QuoteCollateralV3 JSON valid from ``issued_at`` for ``validity`` seconds."""
    issue = utc_text(issued_at)
    next_update = utc_text(issued_at + validity)
    tcb_info = _canonical(_tcb_info(platform.fmspc, issue, next_update, tcb_status))
    qe_identity = _canonical(_qe_identity(issue, next_update))
    root_crl = issue_crl(platform.root_key, platform.root_cert, issue, next_update)
    pck_crl = issue_crl(platform.pck_ca_key, platform.pck_ca_cert, issue, next_update)
    pem = serialization.Encoding.PEM
    root_pem = platform.root_cert.public_bytes(pem).decode()
    tcb_chain = platform.tcb_cert.public_bytes(pem).decode() + root_pem
    document = {
        "pck_crl_issuer_chain": platform.pck_ca_cert.public_bytes(pem).decode() + root_pem,
        "root_ca_crl": root_crl.hex(),
        "pck_crl": pck_crl.hex(),
        "tcb_info_issuer_chain": tcb_chain,
        "tcb_info": tcb_info,
        "tcb_info_signature": sign_raw(platform.tcb_key, tcb_info.encode()).hex(),
        "qe_identity_issuer_chain": tcb_chain,
        "qe_identity": qe_identity,
        "qe_identity_signature": sign_raw(platform.tcb_key, qe_identity.encode()).hex(),
    }
    return json.dumps(document, indent=2).encode() + b"\n"


def _tcb_info(fmspc: bytes, issue: str, next_update: str, status: str) -> dict[str, Any]:
    def components(svns: list[int]) -> list[dict[str, int]]:
        return [{"svn": svn} for svn in svns]

    top: dict[str, Any] = {
        "tcb": {
            "sgxtcbcomponents": components(SGX_COMPONENTS),
            "pcesvn": PCE_SVN,
            "tdxtcbcomponents": components(TDX_COMPONENTS),
        },
        "tcbDate": "2024-03-13T00:00:00Z",
        "tcbStatus": status,
    }
    if status != "UpToDate":
        top["advisoryIDs"] = [SIM_ADVISORY]
    module_identity = {
        "mrsigner": "00" * 48,
        "attributes": "0000000000000000",
        "attributesMask": "FFFFFFFFFFFFFFFF",
    }
    return {
        "id": "TDX",
        "version": 3,
        "issueDate": issue,
        "nextUpdate": next_update,
        "fmspc": fmspc.hex().upper(),
        "pceId": PCE_ID.hex(),
        "tcbType": 0,
        "tcbEvaluationDataNumber": 17,
        "tdxModule": module_identity,
        "tdxModuleIdentities": [
            {
                "id": "TDX_01",
                **module_identity,
                "tcbLevels": [
                    {
                        "tcb": {"isvsvn": 4},
                        "tcbDate": "2024-03-13T00:00:00Z",
                        "tcbStatus": "UpToDate",
                    }
                ],
            }
        ],
        "tcbLevels": [
            top,
            {
                "tcb": {
                    "sgxtcbcomponents": components(SGX_COMPONENTS),
                    "pcesvn": 5,
                    "tdxtcbcomponents": components(TDX_COMPONENTS),
                },
                "tcbDate": "2018-01-04T00:00:00Z",
                "tcbStatus": "OutOfDate",
                "advisoryIDs": [SIM_ADVISORY],
            },
        ],
    }


def _qe_identity(issue: str, next_update: str) -> dict[str, Any]:
    return {
        "id": "TD_QE",
        "version": 2,
        "issueDate": issue,
        "nextUpdate": next_update,
        "tcbEvaluationDataNumber": 17,
        "miscselect": "00000000",
        "miscselectMask": "FFFFFFFF",
        "attributes": "11000000000000000000000000000000",
        "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
        "mrsigner": QE_MR_SIGNER.hex().upper(),
        "isvprodid": QE_PROD_ID,
        "tcbLevels": [
            {"tcb": {"isvsvn": 4}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"}
        ],
    }


def _canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))
