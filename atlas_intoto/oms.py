"""OpenSSF Model Signing (OMS) signatures, model-signing 1.1.x's format: an in-toto Statement v1
with predicate ``https://model_signing/signature/v1.0`` in a DSSE envelope inside a Sigstore
bundle (``model.sig``)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<model name>", "digest": {"sha256": "<SHA-256 over the resource
                                                                digests, in order>"}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {"serialization": {"method": "files", "hash_type": "sha256",
                                     "allow_symlinks": false, "ignore_paths": [...]},
                   "resources": [{"name": "<path in the model dir>", "algorithm": "sha256",
                                  "digest": "<hex>"}, ...]}}

Reading (pure): :func:`parse_manifest` checks the statement as model-signing does (one subject
whose digest covers the resources); :func:`oms_step_fields` makes it a step whose products are
the model's files, so a layout checks it like any link; :func:`compare_model_dir` is
model-signing's directory comparison (extra, missing and changed files). Signing and hashing
a directory (:func:`sign_model`, :func:`hash_model_dir`) are at the edge; signing uses the
model-signing library itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from atlas_intoto.errors import FeatureUnavailableError, FormatError, InputError

#: predicateType of OMS signatures (model-signing >= 1.0).
OMS_PREDICATE = "https://model_signing/signature/v1.0"
#: Paths model-signing never hashes (its default ``ignore_git_paths``).
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
#: model-signing's default signature file name.
SIGNATURE_NAME = "model.sig"

__all__ = [
    "OMS_PREDICATE",
    "ModelManifest",
    "compare_model_dir",
    "hash_model_dir",
    "oms_step_fields",
    "parse_manifest",
    "sign_model",
]


@dataclass(frozen=True, kw_only=True)
class ModelManifest:
    """What an OMS signature signs: the model's files and how they were serialised."""

    model_name: str
    #: path in the model directory -> SHA-256 hex
    resources: Mapping[str, str]
    ignore_paths: tuple[str, ...] = ()
    allow_symlinks: bool = False


def _fail(source: str, what: str) -> FormatError:
    return FormatError(f"{source}: {what}")


def _resources(value: Any, source: str) -> dict[str, str]:
    if not isinstance(value, list):
        raise _fail(source, "predicate.resources: must be a list")
    out: dict[str, str] = {}
    for index, item in enumerate(value):
        where = f"predicate.resources[{index}]"
        if not isinstance(item, Mapping):
            raise _fail(source, f"{where}: must be an object")
        name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        if not isinstance(name, str) or not name or name in out:
            raise _fail(source, f"{where}.name: must be a new non-empty path")
        if algorithm != "sha256":
            raise _fail(source, f"{where}.algorithm: {algorithm!r} (only sha256 is supported)")
        if not isinstance(digest, str) or len(digest) != 64:
            raise _fail(source, f"{where}.digest: must be 64 hex digits")
        try:
            bytes.fromhex(digest)
        except ValueError as exc:
            raise _fail(source, f"{where}.digest: must be 64 hex digits") from exc
        out[name] = digest.lower()
    return out


def _root_digest(resources: Mapping[str, str]) -> str:
    # model-signing: SHA-256 over the raw digests, in the order of the resources list
    hasher = hashlib.sha256()
    for digest in resources.values():
        hasher.update(bytes.fromhex(digest))
    return hasher.hexdigest()


def parse_manifest(data: Any, *, source: str) -> ModelManifest:
    """The manifest of a decoded OMS Statement (after its signature verified).

    1. ``predicateType`` is OMS v1.0; 2. exactly one subject; 3. file serialisation with
    SHA-256; 4. every resource is a path with a SHA-256 digest; 5. the subject's digest is the
    SHA-256 over the resource digests (model-signing's consistency check).
    """
    if not isinstance(data, Mapping) or data.get("predicateType") != OMS_PREDICATE:
        raise _fail(source, f"predicateType must be {OMS_PREDICATE!r}")
    subjects = data.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], Mapping):
        raise _fail(source, "subject: an OMS signature has exactly one subject")
    predicate = data.get("predicate")
    if not isinstance(predicate, Mapping):
        raise _fail(source, "predicate: must be an object")
    serialization = predicate.get("serialization")
    if not isinstance(serialization, Mapping) or serialization.get("method") != "files":
        raise _fail(source, "predicate.serialization.method: only 'files' is supported")
    if serialization.get("hash_type") != "sha256":
        raise _fail(source, "predicate.serialization.hash_type: only sha256 is supported")
    ignore = serialization.get("ignore_paths", [])
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise _fail(source, "predicate.serialization.ignore_paths: must be a list of paths")
    resources = _resources(predicate.get("resources"), source)
    digest = subjects[0].get("digest")
    expected = digest.get("sha256") if isinstance(digest, Mapping) else None
    if expected != _root_digest(resources):
        raise _fail(source, "subject[0].digest.sha256 does not cover the resources")
    return ModelManifest(
        model_name=str(subjects[0].get("name", "")),
        resources=resources,
        ignore_paths=tuple(ignore),
        allow_symlinks=serialization.get("allow_symlinks") in (True, "true"),
    )


def oms_step_fields(data: Any, *, source: str) -> dict[str, Any]:
    """An OMS Statement as a step: its products are the model's files (paths in the model
    directory). It names no step: the step is the one the signature is filed under."""
    manifest = parse_manifest(data, source=source)
    return {
        "name": "",
        "materials": {},
        "products": {path: {"sha256": d} for path, d in manifest.resources.items()},
        "command": [],
        "byproducts": {},
        "environment": {},
        "predicate_type": OMS_PREDICATE,
    }


def compare_model_dir(manifest: ModelManifest, held: Mapping[str, str]) -> list[str]:
    """model-signing's comparison of a directory's files (``held``: path -> SHA-256, as
    :func:`hash_model_dir` lists them) with the signed manifest: every difference, in
    model-signing's words (extra files, missing files, hash mismatches); [] when equal."""
    diffs = []
    extra = sorted(set(held) - set(manifest.resources))
    if extra:
        diffs.append(f"Extra files found in model '{manifest.model_name}': {', '.join(extra)}")
    missing = sorted(set(manifest.resources) - set(held))
    if missing:
        diffs.append(f"Missing files in model '{manifest.model_name}': {', '.join(missing)}")
    for path in sorted(set(held) & set(manifest.resources)):
        if held[path] != manifest.resources[path]:
            diffs.append(f"Hash mismatch for '{path}'")
    return diffs


def _ignored(rel: PurePosixPath, ignore: Sequence[PurePosixPath]) -> bool:
    return any(rel == p or p in rel.parents for p in ignore)


def hash_model_dir(directory: Path, manifest: ModelManifest) -> dict[str, str]:
    """SHA-256 of every file in ``directory`` that model-signing would hash for ``manifest``
    (its ignore paths and git's files skipped); a symlink is an InputError unless allowed."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{directory}: model directory not found")
    ignore = [PurePosixPath(p) for p in (*manifest.ignore_paths, *GIT_PATHS)]
    held: dict[str, str] = {}
    for base, dirs, files in os.walk(root, followlinks=manifest.allow_symlinks):
        for name in sorted([*dirs, *files]):
            path = Path(base) / name
            rel = PurePosixPath(path.relative_to(root).as_posix())
            if _ignored(rel, ignore):
                continue
            if path.is_symlink() and not manifest.allow_symlinks:
                raise InputError(f"{path}: symbolic link in the model directory")
            if name in files and path.is_file():
                with path.open("rb") as handle:
                    held[str(rel)] = hashlib.file_digest(handle, "sha256").hexdigest()
        dirs[:] = [
            d for d in dirs if not _ignored(PurePosixPath(base, d).relative_to(root), ignore)
        ]
    return held


def sign_model(model_dir: Path, *, key_path: Path, signature_path: Path | None = None) -> Path:
    """Sign ``model_dir`` in the OMS format with an EC private key, as ``model_signing sign
    key`` does (the model-signing library itself); return the signature's path (default
    ``model_dir/model.sig``, which the signature then ignores)."""
    try:
        from model_signing import hashing, signing
    except ImportError as exc:
        raise FeatureUnavailableError(
            f"OMS signing needs model-signing 1.1 (pip install 'atlas-intoto[oms]'): {exc}"
        ) from exc
    target = signature_path or Path(model_dir) / SIGNATURE_NAME
    root = Path(model_dir).resolve()
    # As model_signing's CLI does: a signature inside the model is not part of the model.
    inside = target.resolve().is_relative_to(root)
    ignored = [target.resolve().relative_to(root)] if inside else []
    try:
        config = hashing.Config().set_ignored_paths(  # type: ignore[no-untyped-call]
            paths=ignored, ignore_git_paths=True
        )
        signer = signing.Config().use_elliptic_key_signer(  # type: ignore[no-untyped-call]
            private_key=key_path
        )
        signer.set_hashing_config(config).sign(model_dir, target)
    except (ValueError, OSError) as exc:
        raise InputError(f"{model_dir}: cannot sign the model ({exc})") from exc
    return target
