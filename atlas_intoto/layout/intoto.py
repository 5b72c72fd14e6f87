"""Export as a plain in-toto layout, for upstream ``in-toto-verify``.

The export carries what in-toto understands — steps, functionary keys, thresholds, expected
commands, artifact rules and expiry — and drops what it does not (evidence policies, logs,
C2PA anchors). Pure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from atlas_intoto.layout.model import Layout

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

__all__ = ["export_intoto", "to_intoto_layout_dict"]


def to_intoto_layout_dict(layout: Layout) -> dict[str, Any]:
    """The plain in-toto v0.9 layout (``_type: layout``) for this layout's steps and keys."""
    from securesystemslib.signer import SSlibKey

    from atlas_intoto.keys import load_public_key_pem, sslib_key

    if layout.identities:
        from atlas_intoto.errors import UsageError

        # in-toto v0.9 layouts authorise keys only; an identity has no key to name
        raise UsageError(
            f"layout export: identity functionary {next(iter(layout.identities))} cannot be "
            "expressed in an in-toto v0.9 layout (keys only)"
        )
    keys: dict[str, Any] = {}
    by_name: dict[str, str] = {}
    for name, fk in layout.functionaries.items():
        key: SSlibKey = sslib_key(load_public_key_pem(fk.pem.encode(), source=name))
        keys[key.keyid] = {"keyid": key.keyid, **key.to_dict()}
        by_name[name] = key.keyid
    steps = [
        {
            "_type": "step",
            "name": step.name,
            "threshold": step.threshold,
            "pubkeys": [by_name[name] for name in step.functionaries],
            "expected_command": list(step.expected_command or []),
            "expected_materials": [list(rule) for rule in step.materials],
            "expected_products": [list(rule) for rule in step.products],
        }
        for step in layout.steps
    ]
    return {
        "_type": "layout",
        "expires": layout.expires,
        "readme": layout.readme,
        "keys": keys,
        "steps": steps,
        "inspect": [],
    }


def export_intoto(layout: Layout, signers: Sequence[Signer] = ()) -> bytes:
    """The in-toto layout as a file upstream ``in-toto-verify`` loads.

    With owner signers: a DSSE envelope (payload type application/vnd.in-toto+json), ready for
    ``in-toto-verify --layout F --verification-keys OWNER.pub``. Without: an unsigned Metablock
    (``{"signed": ..., "signatures": []}``) that ``in-toto-sign`` can sign later.
    """
    from in_toto.models.layout import Layout as InTotoLayout
    from in_toto.models.metadata import Envelope, Metablock

    intoto = InTotoLayout.read(to_intoto_layout_dict(layout))
    intoto.validate()
    if not signers:
        return (
            json.dumps(Metablock(signed=intoto).to_dict(), indent=1, sort_keys=True) + "\n"
        ).encode()
    # in-toto's own envelope type, not atlas_intoto.dsse: the export is in-toto's file format
    envelope = Envelope.from_signable(intoto)
    for signer in signers:
        envelope.create_signature(signer)
    return (json.dumps(envelope.to_dict(), indent=1) + "\n").encode()
