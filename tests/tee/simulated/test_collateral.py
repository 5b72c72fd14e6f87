"""atlas_intoto.tee.simulated.collateral: QuoteCollateralV3 that dcap-qvl appraises."""

from __future__ import annotations

import json

from atlas_intoto.tee.dcap import verify_quote_collateral
from atlas_intoto.tee.simulated import COLLATERAL_VALIDITY, SIM_ADVISORY, generate_platform

NOW = 1760000000


def test_collateral_window_and_status() -> None:
    platform = generate_platform(now=NOW, seed=b"window")
    quote = platform.make_quote(bytes(64))
    collateral = platform.make_collateral(issued_at=NOW)
    tcb_info = json.loads(json.loads(collateral)["tcb_info"])
    assert tcb_info["issueDate"] == "2025-10-09T08:53:20Z"
    roots = [platform.root_der]
    assert verify_quote_collateral(quote, collateral, roots=roots, at=NOW).status == "UpToDate"
    late = NOW + COLLATERAL_VALIDITY - 1
    assert verify_quote_collateral(quote, collateral, roots=roots, at=late).status == "UpToDate"
    outdated = platform.make_collateral(issued_at=NOW, tcb_status="OutOfDate")
    result = verify_quote_collateral(quote, outdated, roots=roots, at=NOW)
    assert (result.status, result.advisory_ids) == ("OutOfDate", (SIM_ADVISORY,))
