"""The bearer token a client sends, from an environment variable (never from the command line,
where it would show in process lists and shell history)."""

from __future__ import annotations

import os

__all__ = ["LOG_TOKEN_ENV", "TSA_TOKEN_ENV", "bearer_headers"]

#: The token sent to a transparency log (publishing from run/record, ``log publish``).
LOG_TOKEN_ENV = "ATLAS_INTOTO_LOG_TOKEN"
#: The token sent to a time-stamping authority (``--tsa``).
TSA_TOKEN_ENV = "ATLAS_INTOTO_TSA_TOKEN"


def bearer_headers(variable: str = LOG_TOKEN_ENV) -> dict[str, str]:
    """``{"Authorization": "Bearer TOKEN"}`` when ``variable`` is set and not empty, else {}."""
    token = os.environ.get(variable, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}
