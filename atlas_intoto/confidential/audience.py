"""Bundles for two audiences (``bundle create --audience``): a public bundle carries no private
path, digest, salt or sidecar; an auditor bundle adds the openings of the private artifacts its
links commit to. Collecting openings reads evidence directories (I/O); the rest is pure.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from atlas_intoto.bundle import Bundle
from atlas_intoto.confidential.commitment import commitment_of, is_committed
from atlas_intoto.confidential.openings import (
    OPENINGS_SUFFIX,
    Opening,
    Openings,
    index,
    parse_openings,
)
from atlas_intoto.errors import AtlasError, InputError

#: ``--audience`` choices; public is the default
AUDIENCES = ("public", "auditor")


def committed_in(bundle: Bundle) -> set[str]:
    """Every commitment the bundle's links record (links read unverified: what they name)."""
    from atlas_intoto.link import read_unverified_link

    found: set[str] = set()
    for evidence in bundle.links:
        try:
            link = read_unverified_link(evidence.envelope, source=f"step {evidence.step}")
        except AtlasError:
            continue  # not ours to judge here: verification will
        for name in (*link.materials, *link.products):
            if is_committed(name):
                found.add(commitment_of(name))
    return found


def collect_openings(evidence_dirs: Sequence[Path], bundle: Bundle) -> Openings:
    """The openings (``*.openings.json`` beside the links) of the commitments ``bundle``
    records; superseded runs' openings are not read. Conflicting openings: ReusedCommitmentError."""
    wanted = committed_in(bundle)
    found: list[Opening] = []
    for directory in evidence_dirs:
        for path in sorted(Path(directory).glob(f"*{OPENINGS_SUFFIX}")):
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"{path}: cannot read openings ({exc.strerror})") from exc
            found.extend(
                o for o in parse_openings(data, source=str(path)).items if o.commitment in wanted
            )
    opened = index(found)
    return Openings(items=tuple(opened[c] for c in sorted(opened)))


def for_audience(bundle: Bundle, audience: str, openings: Openings) -> Bundle:
    """The bundle for ``audience``: public without openings, auditor with them."""
    if audience == "auditor":
        return replace(bundle, openings=openings.to_dict())
    return replace(bundle, openings=None)


def _secrets(openings: Openings) -> Iterator[tuple[str, bytes]]:
    """What a public document must not contain, as (what, needle): every private path, every
    digest in hex (either case), base64, base64url and raw bytes, every salt."""
    for opening in openings.items:
        yield f"private path {opening.path}", opening.path.encode()
        yield f"salt of {opening.path}", opening.salt.encode()
        for algorithm, value in opening.digests.items():
            what = f"{algorithm} digest of {opening.path}"
            yield what, value.encode()
            yield what, value.upper().encode()
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                continue
            yield what, base64.b64encode(raw).rstrip(b"=")
            yield what, base64.urlsafe_b64encode(raw).rstrip(b"=")
            if len(raw) >= 16:  # binary layers (CBOR in C2PA, protobuf) hold digests raw
                yield what, raw


def _layers(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """``data`` and every base64 or JSON string layer inside it (envelopes in bundles are
    base64 of JSON holding base64 payloads), so a search sees through the encodings."""
    yield data
    if depth >= 6:
        return
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    texts = list(_strings(doc))
    # the strings as decoded: JSON may escape a non-ASCII path (``\u00e9``) or a ``/``
    yield "\n".join(texts).encode("utf-8", "surrogatepass")
    for text in texts:
        if len(text) < 16:
            continue
        for decoded in _decodings(text):
            yield from _layers(decoded, depth + 1)


def _decodings(text: str) -> Iterator[bytes]:
    """``text`` decoded as standard or URL-safe base64, padded or not (DSSE and Rekor use
    both), when it is either."""
    padded = text + "=" * (-len(text) % 4)
    seen: set[bytes] = set()
    for alphabet in (b"+/", b"-_"):
        try:
            decoded = base64.b64decode(padded, altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
        if decoded not in seen:
            seen.add(decoded)
            yield decoded


def _strings(doc: object) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from _strings(item)


def disclosures(data: bytes, openings: Openings) -> list[str]:
    """What of the openings ``data`` (a bundle, a log entry) discloses, at any encoding layer."""
    needles = list(_secrets(openings))
    found: list[str] = []
    if not needles:
        return found  # nothing private: nothing to look for (and no decoding cost)
    for layer in _layers(data):
        for what, needle in needles:
            if needle in layer and what not in found:
                found.append(what)
    return found
