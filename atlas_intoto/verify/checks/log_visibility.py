"""Check 6, log visibility: a link's entry has a visibility its log accepts, and a digest entry
(``--log-visibility digest``) is the functionary's own.

A digest entry records only the SHA-256 of the exact envelope bytes and a signature over them
(:mod:`atlas_intoto.tlog.visibility`); the backend has already checked the digest and the
signature. What only the layout can say is checked here: that this log may hold such an entry
for a link (``trust.logs[].visibility``), and that the key is one that signed the link as the
step's functionary — anyone may log any digest under their own key.
"""

from __future__ import annotations

from atlas_intoto.errors import LogSignerNotFunctionaryError, LogVisibilityNotAllowedError
from atlas_intoto.layout import LogTrust
from atlas_intoto.tlog.backend import VerifiedEntry
from atlas_intoto.verify.state import VerificationState, VerifiedLink

__all__ = ["check_visibility"]


def _accepts(log: LogTrust, visibility: str) -> bool:
    return log.visibility == "any" or log.visibility == visibility


def _functionary_ders(state: VerificationState, link: VerifiedLink) -> set[bytes]:
    """DER SPKI of the keys that signed this link as the step's functionaries (check 2)."""
    from atlas_intoto.keys import load_public_key_pem
    from atlas_intoto.tlog.visibility import spki_der

    pems = {f.keyid: f.pem for f in state.layout.functionaries.values()}
    return {
        spki_der(load_public_key_pem(pems[k].encode(), source=k))
        for k in link.signed_by
        if k in pems
    }


def check_visibility(
    state: VerificationState, name: str, link: VerifiedLink, entry: VerifiedEntry, log: LogTrust
) -> tuple[bytes, ...]:
    """Check 6 for the visibility of one verified entry.

    Steps:
      1. the log accepts the entry's visibility (``trust.logs[].visibility``: ``full`` by
         default, so a layout that says nothing keeps rejecting digest entries):
         LogVisibilityNotAllowedError;
      2. a digest entry's key is one of the functionary keys that signed the link (check 2
         counted only keys the layout authorises for the step): LogSignerNotFunctionaryError.
    Returns the digest entry's signature (made by the functionary, so a timestamp over it
    dates the link), or () for a full entry.
    """
    if not _accepts(log, entry.visibility):
        raise LogVisibilityNotAllowedError(
            f"step {name}: the link is logged with {entry.visibility} visibility; the layout "
            f"accepts {log.visibility} visibility for this log (trust.logs[].visibility)"
        )
    if entry.visibility != "digest":
        return ()
    if entry.signer not in _functionary_ders(state, link):
        raise LogSignerNotFunctionaryError(
            f"step {name}: the digest entry is signed by a key that is not a functionary key "
            "that signed this link"
        )
    return (entry.signer_signature,)
