"""A simulated TDX platform with a complete DCAP trust chain that dcap-qvl verifies.

Build machines have no TDX, so this package produces quotes that are real in format and chain
structure (docs/tee.md), rooted in a generated CA instead of Intel's:

- :mod:`.pki` — the certificate hierarchy (root CA, PCK Platform CA, PCK certificate with
  Intel's SGX extension, TCB signing certificate) and the CRLs;
- :mod:`.collateral` — dcap-qvl's ``QuoteCollateralV3`` JSON (TCB info, QE identity, CRLs);
- :mod:`.platform` — the platform: keys, MRTD/RTMRs, quoting, and its persistence in
  ``ATLAS_INTOTO_HOME/tee-sim/`` (:func:`ensure_platform`, :func:`default_directory`).
"""

from atlas_intoto.tee.simulated.collateral import (
    CLOCK_SKEW,
    COLLATERAL_REFRESH,
    COLLATERAL_VALIDITY,
    SIM_ADVISORY,
    make_collateral,
)
from atlas_intoto.tee.simulated.pki import SGX_EXTENSION_OID, PckChain, issue_chain, sgx_extension
from atlas_intoto.tee.simulated.platform import (
    SimulatedPlatform,
    default_directory,
    ensure_collateral,
    ensure_platform,
    generate_platform,
    load_platform,
    platform_files,
)

__all__ = [
    "CLOCK_SKEW",
    "COLLATERAL_REFRESH",
    "COLLATERAL_VALIDITY",
    "SGX_EXTENSION_OID",
    "SIM_ADVISORY",
    "PckChain",
    "SimulatedPlatform",
    "default_directory",
    "ensure_collateral",
    "ensure_platform",
    "generate_platform",
    "issue_chain",
    "load_platform",
    "make_collateral",
    "platform_files",
    "sgx_extension",
]
