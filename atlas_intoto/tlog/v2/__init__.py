"""Rekor v2 (sigstore/rekor-tiles): ``hashedrekord`` 0.0.2 entries, C2SP tlog-tiles, the
``TransparencyLogEntry`` a write returns, and its offline verification.

Modules: :mod:`.hashedrekord` (requests and canonical entries), :mod:`.tiles` (tile paths and
contents), :mod:`.entry` (the TransparencyLogEntry and its verification), :mod:`.service`
(the write and read API over a :class:`~atlas_intoto.tlog.store.LogStore`), :mod:`.client`.
"""
