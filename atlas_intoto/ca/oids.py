"""Fulcio's certificate extensions (sigstore/fulcio ``docs/oid-info.md``), under
``1.3.6.1.4.1.57264.1``.

Version 1 extensions (``.1``–``.6``) hold raw strings; every later one holds a DER UTF8String.
"""

from __future__ import annotations

from cryptography import x509

__all__ = ["DEPRECATED_RAW", "OIDC_ISSUER_V1", "OIDC_ISSUER_V2", "SCT_LIST", "by_name"]

_ARC = "1.3.6.1.4.1.57264.1"

OIDC_ISSUER_V1 = x509.ObjectIdentifier(f"{_ARC}.1")
OIDC_ISSUER_V2 = x509.ObjectIdentifier(f"{_ARC}.8")
#: RFC 6962 §3.3: the embedded SignedCertificateTimestampList.
SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

_NAMES = {
    # deprecated GitHub workflow extensions: raw (not DER) values
    "github_workflow_trigger": 2,
    "github_workflow_sha": 3,
    "github_workflow_name": 4,
    "github_workflow_repository": 5,
    "github_workflow_ref": 6,
    # v2
    "build_signer_uri": 9,
    "build_signer_digest": 10,
    "runner_environment": 11,
    "source_repository_uri": 12,
    "source_repository_digest": 13,
    "source_repository_ref": 14,
    "source_repository_identifier": 15,
    "source_repository_owner_uri": 16,
    "source_repository_owner_identifier": 17,
    "build_config_uri": 18,
    "build_config_digest": 19,
    "build_trigger": 20,
    "run_invocation_uri": 21,
    "source_repository_visibility_at_signing": 22,
    "token_subject": 24,
}

#: Extension names whose value is the raw string, not a DER UTF8String.
DEPRECATED_RAW = frozenset(name for name, arc in _NAMES.items() if arc <= 6)


def by_name(name: str) -> x509.ObjectIdentifier:
    """The OID of the Fulcio extension ``name`` (KeyError when Fulcio defines none)."""
    return x509.ObjectIdentifier(f"{_ARC}.{_NAMES[name]}")
