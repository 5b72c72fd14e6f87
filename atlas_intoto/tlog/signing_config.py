"""Sigstore SigningConfig v0.2 (pure): which Rekor log (v1 or v2) and which TSA a step
publishes to, as sigstore clients choose them — among the services valid at ``now``, the log
of the highest supported ``majorApiVersion``, then the first TSA."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_intoto.errors import InputError

__all__ = ["MEDIA_TYPE", "LogChoice", "choose"]

MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
_SUPPORTED_LOGS = {1: "rekor-v1", 2: "rekor-v2"}


def _version(service: Any) -> int | None:
    """A service's ``majorApiVersion`` when it is an integer (a list or object is no version,
    and must not reach a dict lookup)."""
    value = service.get("majorApiVersion")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, kw_only=True)
class LogChoice:
    """The log (URL and backend) and the TSA URL (or None) a SigningConfig selects."""

    log_url: str
    log_backend: str
    tsa_url: str | None


def _time(value: Any, field: str, source: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{source}: {field}: not an RFC 3339 time") from exc


def _valid(service: Any, index: int, field: str, source: str, now: float) -> bool:
    if not isinstance(service, Mapping) or not isinstance(service.get("url"), str):
        raise InputError(f"{source}: {field}[{index}]: expected an object with a url")
    valid = service.get("validFor") or {}
    if not isinstance(valid, Mapping) or "start" not in valid:
        raise InputError(f"{source}: {field}[{index}].validFor.start is missing")
    start = _time(valid["start"], f"{field}[{index}].validFor.start", source).timestamp()
    end = valid.get("end")
    stop = None if end is None else _time(end, f"{field}[{index}].validFor.end", source)
    return start <= now and (stop is None or now < stop.timestamp())


def choose(doc: Any, *, now: float, source: str = "signing config") -> LogChoice:
    """The log and TSA ``doc`` selects at ``now`` (InputError: malformed, or no usable log)."""
    if not isinstance(doc, Mapping) or doc.get("mediaType") != MEDIA_TYPE:
        raise InputError(f"{source}: mediaType is not {MEDIA_TYPE}")
    logs = doc.get("rekorTlogUrls") or []
    tsas = doc.get("tsaUrls") or []
    if not isinstance(logs, list) or not isinstance(tsas, list):
        raise InputError(f"{source}: rekorTlogUrls and tsaUrls must be arrays")
    usable = [
        log
        for i, log in enumerate(logs)
        if _valid(log, i, "rekorTlogUrls", source, now) and _version(log) in _SUPPORTED_LOGS
    ]
    if not usable:
        raise InputError(f"{source}: no Rekor v1/v2 log in rekorTlogUrls is valid now")
    best = max(usable, key=lambda log: int(log["majorApiVersion"]))
    tsa = next((t["url"] for i, t in enumerate(tsas) if _valid(t, i, "tsaUrls", source, now)), None)
    return LogChoice(
        log_url=str(best["url"]),
        log_backend=_SUPPORTED_LOGS[int(best["majorApiVersion"])],
        tsa_url=None if tsa is None else str(tsa),
    )
