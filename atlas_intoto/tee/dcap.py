"""Quote verification with dcap-qvl, and collateral loading/fetching.

:func:`verify_quote_collateral` is pure: quote bytes, collateral bytes, DER roots and a time in,
a :class:`DcapResult` or a specific :class:`~atlas_intoto.errors.TeeError` out. dcap-qvl does the
cryptography (PCK chain, CRLs, TCB info and QE identity signatures, QE report binding, quote
signature, TCB level matching); this module only maps its outcome onto our error classes.

:func:`fetch_collateral` and :func:`read_collateral` are the I/O edge used at record time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.errors import (
    CollateralExpiredError,
    CollateralFetchError,
    DebugTdError,
    QuoteVerificationError,
    TcbStatusError,
    TeeError,
    TeeRootError,
)

# dcap-qvl reports failures as text; these patterns sort them into our checks.
_ROOT_PATTERNS = re.compile(
    r"UnknownIssuer|InvalidCrlSignatureForPublicKey|Failed to load root ca|"
    r"Failed to parse root CA certificate"
)
_TIME_PATTERNS = re.compile(
    r"expired|Expired|NotValidYet|not yet valid|in the future|CrlExpired|CertExpired"
)
_DEBUG_PATTERNS = re.compile(r"Debug mode is enabled")
_TCB_PATTERNS = re.compile(r"TCB status is invalid|No matching TCB level")


@dataclass(frozen=True, kw_only=True)
class DcapResult:
    """dcap-qvl's verdict on a quote and its collateral."""

    status: str
    advisory_ids: tuple[str, ...]
    #: SHA-256 (hex) of the pinned root the quote verified under.
    root_sha256: str


def verify_quote_collateral(
    quote: bytes, collateral: bytes, *, roots: Sequence[bytes], at: int
) -> DcapResult:
    """Verify ``quote`` and ``collateral`` with dcap-qvl at unix time ``at``.

    1. the collateral parses as QuoteCollateralV3 JSON;
    2. for each pinned root (DER) in turn, dcap-qvl verifies CRLs, the TCB info and QE identity
       chains and signatures, the PCK chain, the QE report signature and its binding of the
       attestation key, the quote signature, and matches the platform's TCB level — all at
       ``at``; a chain that leads to another root tries the next root;
    3. the first root under which verification succeeds gives the TCB status and advisories.

    Raises TeeRootError (no pinned root issued the chain), CollateralExpiredError (collateral,
    CRLs or certificates not valid at ``at``), DebugTdError, TcbStatusError (dcap-qvl refuses the
    status, e.g. Revoked) or QuoteVerificationError (anything else).
    """
    import dcap_qvl

    if not roots:
        raise TeeRootError("tee: no TEE root is pinned (trust.tee.roots is empty)")
    parsed = parse_collateral(collateral)
    root_failures: list[str] = []
    for root in roots:
        try:
            report = dcap_qvl.verify_with_root_ca(quote, parsed, bytes(root), int(at))
        except (ValueError, RuntimeError) as exc:
            message = _one_line(str(exc))
            if _ROOT_PATTERNS.search(message):
                root_failures.append(message)
                continue
            raise _classify(message, at) from exc
        return DcapResult(
            status=str(report.status),
            advisory_ids=tuple(str(a) for a in report.advisory_ids),
            root_sha256=hashlib.sha256(root).hexdigest(),
        )
    raise TeeRootError(
        f"quote: the PCK chain or collateral does not lead to any of the {len(roots)} pinned "
        f"TEE root(s) ({root_failures[0]})"
    )


def parse_collateral(collateral: bytes) -> Any:
    """``dcap_qvl.QuoteCollateralV3`` from its JSON; malformed JSON is QuoteVerificationError."""
    import dcap_qvl

    try:
        return dcap_qvl.QuoteCollateralV3.from_json(collateral.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise QuoteVerificationError(
            f"collateral: not QuoteCollateralV3 JSON ({_one_line(str(exc))})"
        ) from exc


def _classify(message: str, at: int) -> TeeError:
    if _DEBUG_PATTERNS.search(message):
        return DebugTdError(f"quote: TD is in debug mode (TDATTRIBUTES.DEBUG set): {message}")
    if _TCB_PATTERNS.search(message):
        return TcbStatusError(f"quote: {message}")
    if _TIME_PATTERNS.search(message):
        return CollateralExpiredError(f"collateral: not valid at unix time {at}: {message}")
    return QuoteVerificationError(f"quote: dcap-qvl rejected the quote: {message}")


def _one_line(message: str) -> str:
    message = message.removeprefix("Verification failed: ")
    parts = [part.strip() for part in message.replace("Caused by:", "\n").splitlines()]
    return ": ".join(part for part in parts if part)


# -- the edge: collateral at record time ----------------------------------------------------------


def fetch_collateral(url: str, quote: bytes) -> bytes:
    """Collateral for ``quote`` from a PCCS/PCS ``url`` (dcap-qvl's client), as JSON bytes."""
    import asyncio

    import dcap_qvl

    try:
        collateral = asyncio.run(dcap_qvl.get_collateral(url, quote))
        return str(collateral.to_json()).encode()
    except (ValueError, RuntimeError, OSError) as exc:
        raise CollateralFetchError(
            f"{url}: cannot fetch TEE collateral ({_one_line(str(exc))})"
        ) from exc


def read_collateral(path: Path) -> bytes:
    """Collateral supplied as a file; checked to be QuoteCollateralV3 JSON."""
    from atlas_intoto.fileio import read_bytes

    data = read_bytes(path, what="TEE collateral file")
    try:
        parse_collateral(data)
    except QuoteVerificationError as exc:
        raise CollateralFetchError(f"{path}: {exc}") from exc
    return data


def load_collateral(source: str, quote: bytes) -> bytes:
    """``source`` is an http(s) PCCS/PCS URL, a ``file://`` URL or a path."""
    if source.startswith(("http://", "https://")):
        return fetch_collateral(source, quote)
    return read_collateral(Path(source.removeprefix("file://")))
