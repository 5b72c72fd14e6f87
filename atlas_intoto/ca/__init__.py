"""Our Fulcio-compatible certificate authority: short-lived code-signing
certificates for OIDC identities, each with an embedded SCT, for keyless signing in private
deployments.

The API, smallest first:

* :mod:`~atlas_intoto.ca.oidc` — ``IssuerConfig`` (an issuer the CA trusts: ``url``, ``type``
  ``email|github-workflow|gitlab-pipeline|uri``, JWKS by ``jwks_url`` or ``jwks_file``),
  ``verify_token(token, issuers=, jwks=, now=) -> Principal`` (pure), and ``Principal``
  (``issuer``, ``email``/``uri`` = the SAN, ``identity``, Fulcio ``extensions``).
* :mod:`~atlas_intoto.ca.authority` — ``CertificateAuthority(root=, intermediate=,
  intermediate_key=, ct_key=)``; ``.issue(public_key, principal, now=) -> [leaf,
  intermediate, root]`` (pure; 10-minute leaf, Fulcio OIDs, embedded SCT).
* :mod:`~atlas_intoto.ca.oids` — the Fulcio extension OIDs (``OIDC_ISSUER_V2`` …,
  ``by_name``).
* :mod:`~atlas_intoto.ca.sct` — RFC 6962 SCTs from the CA's CT log key.
* :mod:`~atlas_intoto.ca.keys` — ``load_or_create_ca(dir)``, ``create_authority()`` (edge).
* :mod:`~atlas_intoto.ca.request` — Fulcio's ``signingCert`` request: parsing, proof of
  possession, the response document (pure).
* :mod:`~atlas_intoto.ca.server` — ``create_ca_app(ca, issuers=, jwks=JwksSource(...))``: the
  Fulcio v2 HTTP API (``atlas-intoto ca serve``).
* :mod:`~atlas_intoto.ca.client` — ``request_certificate(url, token, key)`` (edge).
* :mod:`~atlas_intoto.ca.oidc_dev` — ``DevIssuer``: a local OIDC issuer with a fixed,
  public test key (``jwks()``, ``mint_token(subject=, issuer=, claims=)``) for tests and the
  demo only; ``create_issuer_app`` serves its JWKS on loopback.
* :mod:`~atlas_intoto.ca.trust_config` — a Sigstore ClientTrustConfig (trusted root +
  SigningConfig v0.2) naming our CA, CT log key, Rekor log and TSA.

Verification of certificate-signed links (chain, SCT, validity at the log/TSA time, identity)
is the verifier's (``atlas_intoto.verify``), not this package's.
"""
