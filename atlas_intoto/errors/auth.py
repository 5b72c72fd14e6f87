"""Errors of hardware-backed keys (signer URIs) and of who may use our services (exit 2)."""

from __future__ import annotations

from atlas_intoto.errors.operational import KeyLoadError, ServiceAuthError, ServiceConfigError

__all__ = ["AuthConfigError", "AuthRejectedError", "SignerUriError"]


class SignerUriError(KeyLoadError):
    """A ``--key`` signer URI (``hsm:``, ``gcpkms:``, ...) names no usable key: no token or
    module, wrong PIN, no key with that id, or a scheme this command cannot use."""

    check = "key.uri"


class AuthConfigError(ServiceConfigError):
    """An auth config (``--auth FILE``) is malformed: the message names the file and field."""

    check = "auth.config"


class AuthRejectedError(ServiceAuthError):
    """A request without valid credentials (``status`` 401) or with credentials that may not do
    this (403: wrong scope, revoked token, identity not allowed). The message never holds the
    credential itself."""

    check = "auth"
