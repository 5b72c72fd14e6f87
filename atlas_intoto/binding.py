"""The step binding digest B that ties a TEE quote and C2PA manifests to one signed link.

``B = SHA-256(JCS({step, materials, products, command, signer keyid}))`` (docs/ARCHITECTURE.md), with
RFC 8785 canonical JSON. It covers everything the link signs except the environment, which is
where the quote and the sidecar digests live: so there is no cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785

#: Domain separator of the TEE REPORTDATA derivation.
TEE_DOMAIN = b"atlas-intoto/tee/v1"

ArtifactMap = Mapping[str, Mapping[str, str]]


def step_binding_digest(
    *,
    step: str,
    materials: ArtifactMap,
    products: ArtifactMap,
    command: Sequence[str],
    keyid: str,
) -> bytes:
    """The 32-byte binding digest B (docs/ARCHITECTURE.md)."""
    document: dict[str, Any] = {
        "step": step,
        "materials": {path: dict(digests) for path, digests in materials.items()},
        "products": {path: dict(digests) for path, digests in products.items()},
        "command": list(command),
        "keyid": keyid,
    }
    return hashlib.sha256(rfc8785.dumps(document)).digest()


def tee_report_data(binding: bytes, nonce: bytes) -> bytes:
    """REPORTDATA = SHA-512("atlas-intoto/tee/v1" ‖ 0x00 ‖ B ‖ nonce): 64 bytes."""
    if len(binding) != 32:
        raise ValueError("binding digest must be 32 bytes")
    return hashlib.sha512(TEE_DOMAIN + b"\x00" + binding + nonce).digest()
