"""Requirements a layout states but no verifier could check (pure).

A layout that requires TEE quotes without pinning a TEE root, or C2PA manifests without
pinning an anchor, can never verify; one that has already expired verifies nothing. Such a
layout is refused when the owner checks or signs it (``layout check``, ``layout sign``), so the
mistake surfaces once, at the owner's desk, with the field named — not in every consumer's
failed verification.
"""

from __future__ import annotations

from atlas_intoto.errors import LayoutExpiredError, LayoutUncheckableError
from atlas_intoto.layout.evidence import TDX
from atlas_intoto.layout.model import Layout

__all__ = ["check_checkable"]


def check_checkable(layout: Layout, *, now: int, source: str) -> None:
    """Refuse requirements that cannot be checked.

    Steps:
      1. the layout has not expired at ``now`` (LayoutExpiredError);
      2. a step that requires TDX quotes (``steps[].tee``, ``required`` not false) needs a
         ``trust.tee`` block (its roots default to Intel's) (LayoutUncheckableError);
      3. a step with ``c2pa.required`` needs ``trust.c2pa.anchors`` (LayoutUncheckableError);
      4. an identity functionary needs a source of trusted time — a pinned log or TSA roots —
         since its short-lived certificates are judged at that time and never at the
         verifier's clock (LayoutUncheckableError).
    A log is always checkable: ``trust.logs[].key`` is required by the schema.
    """
    if now >= layout.expires_at:
        raise LayoutExpiredError(f"{source}: expires: the layout expired at {layout.expires}")
    for index, step in enumerate(layout.steps):
        policy = step.evidence.get(TDX)
        if policy is not None and policy.get("required", True) and TDX not in layout.evidence_trust:
            field = "tee" if "tee" in layout.document["steps"][index] else "evidence.tdx"
            raise LayoutUncheckableError(
                f"{source}: steps[{index}].{field}: step {step.name} requires a TDX quote but "
                "the layout pins no TEE root (add trust.tee, e.g. roots: [intel])"
            )
        if step.c2pa_required and not layout.c2pa_anchors:
            raise LayoutUncheckableError(
                f"{source}: steps[{index}].c2pa.required: step {step.name} requires C2PA "
                "manifests but the layout pins no anchor (add trust.c2pa.anchors)"
            )
    if layout.identities and not layout.logs and not layout.tsa_roots:
        name = next(iter(layout.identities))
        raise LayoutUncheckableError(
            f"{source}: functionaries.{name}: an identity functionary's certificates are judged "
            "at a trusted time, but the layout pins no log (trust.logs) or TSA (trust.tsa)"
        )
