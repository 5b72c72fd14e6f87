"""An RFC 3161 time-stamping authority: :mod:`.authority` (answering requests), :mod:`.keys`
(its key and certificate chain), :mod:`.http` (``/api/v1/timestamp`` routes and ``tsa serve``),
:mod:`.client` (requesting a timestamp) and :mod:`.verify` (verifying one, pure)."""
