"""Confidential provenance: private artifacts recorded as salted commitments
(docs/confidentiality.md).

``commitment`` (the keyed hash and committed names), ``openings`` (the private evidence file),
``rules`` (layout rules over committed names), ``secret`` (the pipeline secret: I/O),
``recording`` (committing a step's artifacts), ``audience`` (public and auditor bundles).
"""
