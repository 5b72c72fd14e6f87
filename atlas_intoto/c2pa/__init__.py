"""C2PA sidecar manifests: one per product of a step, with ingredient lineage across steps.

``sign_products`` (recording, does I/O) and ``verify_sidecar`` (pure: bytes in) are the API
of docs/INTERFACES.md; ``inspect_sidecar`` summarises a sidecar and its lineage for people.
Submodules import c2pa-python lazily, so importing this package stays cheap.
"""

from __future__ import annotations

from atlas_intoto.c2pa.builder import sidecar_relpath, sign_products
from atlas_intoto.c2pa.validator import (
    C2paIngredient,
    C2paVerification,
    inspect_sidecar,
    verify_sidecar,
)

__all__ = [
    "C2paIngredient",
    "C2paVerification",
    "inspect_sidecar",
    "sidecar_relpath",
    "sign_products",
    "verify_sidecar",
]
