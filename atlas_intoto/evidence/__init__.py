"""Attestation evidence bound to a step (the evidence-kind seam, docs/ARCHITECTURE.md).

* :mod:`.model` — the typed entries a link carries (``environment["atlas-intoto"].evidence``);
* :mod:`.kind` — the interface a kind implements (record / verify);
* :mod:`.registry` — kinds by name (TDX built in: :mod:`atlas_intoto.tee.kind`).
"""
