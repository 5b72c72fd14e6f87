"""What an artifact is, for the manifest's ML assertion: kind, format, framework, metrics.

Everything here is a guess from the path and (for a few formats) a small header, never from a
full read: the link's digest is the authority on the bytes, this only describes them for
people and model hubs. The inference is deliberately conservative: unknown stays unknown.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

#: Label of the custom ML assertion (reverse-domain, as C2PA requires for custom labels).
ML_ASSERTION = "org.atlas-intoto.ml"
KINDS = ("dataset", "model", "evaluation", "code")

#: IPTC digital source types (C2PA actions.v2 ``digitalSourceType``).
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SOURCE_TYPE_BY_KIND = {
    "model": IPTC + "trainedAlgorithmicMedia",
    "evaluation": IPTC + "algorithmicMedia",
    "dataset": IPTC + "digitalCreation",
    "code": IPTC + "digitalCreation",
}

#: Formats c2pa-rs handles whose no-embed hard binding is a plain SHA-256 over the whole file
#: (checked for each: TIFF adds an exclusion, PDF and BMFF hash differently, so they stay
#: application/octet-stream and the binding stays equal to the link digest).
C2PA_MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
DEFAULT_MIME = "application/octet-stream"

# suffix → (format, framework or None)
_MODEL_SUFFIXES: dict[str, tuple[str, str | None]] = {
    ".safetensors": ("safetensors", None),
    ".pt": ("pytorch", "pytorch"),
    ".pth": ("pytorch", "pytorch"),
    ".ckpt": ("checkpoint", None),
    ".onnx": ("onnx", "onnx"),
    ".gguf": ("gguf", "llama.cpp"),
    ".ggml": ("ggml", "llama.cpp"),
    ".keras": ("keras", "keras"),
    ".tflite": ("tflite", "tensorflow-lite"),
    ".mlmodel": ("coreml", "coreml"),
    ".joblib": ("joblib", "scikit-learn"),
    ".msgpack": ("msgpack", "flax"),
}
# Suffixes used both for weights and for data: decided by the path.
_AMBIGUOUS_SUFFIXES: dict[str, tuple[str, str | None]] = {
    ".bin": ("binary", None),
    ".pkl": ("pickle", None),
    ".pickle": ("pickle", None),
    ".h5": ("hdf5", None),
    ".hdf5": ("hdf5", None),
    ".pb": ("protobuf", "tensorflow"),
    ".npz": ("npz", "numpy"),
}
_DATA_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".arrow": "arrow",
    ".feather": "feather",
    ".npy": "npy",
    ".tfrecord": "tfrecord",
    ".txt": "text",
    ".json": "json",
    ".xml": "xml",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".gif": "gif",
    ".webp": "webp",
    ".wav": "wav",
    ".flac": "flac",
    ".mp3": "mp3",
    ".mp4": "mp4",
    ".tar": "tar",
    ".gz": "gzip",
    ".zip": "zip",
}
_CODE_SUFFIXES = {
    ".py": "python",
    ".ipynb": "jupyter",
    ".sh": "shell",
    ".r": "r",
    ".jl": "julia",
    ".sql": "sql",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".cfg": "ini",
    ".ini": "ini",
}
_MODEL_WORDS = ("model", "models", "checkpoint", "checkpoints", "ckpt", "weights", "adapter")
_EVAL_WORDS = ("eval", "evals", "evaluation", "metrics", "results", "scores", "benchmark")
_MAX_METRICS = 64
_MAX_SAFETENSORS_HEADER = 16 << 20
_SAFETENSORS_FRAMEWORKS = {"pt": "pytorch", "tf": "tensorflow", "flax": "flax", "np": "numpy"}


@dataclass(frozen=True, kw_only=True)
class ArtifactDescription:
    """How a product is described in its manifest (kind, name, format, framework)."""

    kind: str
    format: str | None = None
    framework: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    def assertion(self, *, path: str) -> dict[str, Any]:
        """The ``org.atlas-intoto.ml`` assertion data."""
        data: dict[str, Any] = {"kind": self.kind, "name": PurePosixPath(path).name}
        if self.format is not None:
            data["format"] = self.format
        if self.framework is not None:
            data["framework"] = self.framework
        if self.metrics:
            data["metrics"] = dict(self.metrics)
        return data


def mime_type(path: str) -> str:
    """The manifest ``format``: a C2PA type only where its hard binding is the file's SHA-256."""
    return C2PA_MIME_BY_SUFFIX.get(PurePosixPath(path).suffix.lower(), DEFAULT_MIME)


def _words(path: str) -> set[str]:
    pure = PurePosixPath(path.lower())
    words = {part for part in pure.parts[:-1]}
    stem = pure.stem
    for sep in "-_.":
        stem = stem.replace(sep, " ")
    words.update(stem.split())
    return words


def infer_kind(path: str) -> tuple[str, str | None, str | None]:
    """``(kind, format, framework)`` from the path alone."""
    suffix = PurePosixPath(path).suffix.lower()
    words = _words(path)
    modelish = any(word in words for word in _MODEL_WORDS) or "model" in path.lower()
    evalish = any(word in words for word in _EVAL_WORDS)
    if suffix in _CODE_SUFFIXES:
        return "code", _CODE_SUFFIXES[suffix], None
    if suffix in _MODEL_SUFFIXES:
        fmt, framework = _MODEL_SUFFIXES[suffix]
        return "model", fmt, framework
    if suffix in _AMBIGUOUS_SUFFIXES:
        fmt, framework = _AMBIGUOUS_SUFFIXES[suffix]
        return ("model" if modelish else "dataset"), fmt, framework
    if suffix == ".json":
        if evalish:
            return "evaluation", "json", None
        # config.json / tokenizer.json beside the weights belong to the model
        return ("model" if modelish else "dataset"), "json", None
    if suffix in _DATA_SUFFIXES:
        return ("evaluation" if evalish else "dataset"), _DATA_SUFFIXES[suffix], None
    if evalish:
        return "evaluation", None, None
    return ("model" if modelish else "dataset"), None, None


def metrics_from_json(data: bytes) -> dict[str, float]:
    """Numeric leaves of an evaluation JSON (``{"metrics": {...}}`` or flat), dotted keys."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    if isinstance(document, dict) and isinstance(document.get("metrics"), dict):
        document = document["metrics"]
    found: dict[str, float] = {}

    def walk(node: Any, prefix: str, depth: int) -> None:
        if len(found) >= _MAX_METRICS:
            return
        if isinstance(node, dict):
            if depth >= 3:
                return
            for key in sorted(node, key=str):
                walk(node[key], f"{prefix}{key}.", depth + 1)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            value = float(node)
            if math.isfinite(value) and prefix:
                found[prefix[:-1]] = value

    if isinstance(document, dict):
        walk(document, "", 0)
    return found


def safetensors_framework(header: bytes) -> str | None:
    """The framework recorded in a safetensors header's ``__metadata__.format``, if any."""
    if len(header) < 8:
        return None
    (length,) = struct.unpack("<Q", header[:8])
    if length > _MAX_SAFETENSORS_HEADER or len(header) < 8 + length:
        return None
    try:
        document = json.loads(header[8 : 8 + length])
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    metadata = document.get("__metadata__")
    if isinstance(metadata, dict):
        return _SAFETENSORS_FRAMEWORKS.get(str(metadata.get("format")))
    return None


def describe(path: str, *, head: bytes = b"", content: bytes | None = None) -> ArtifactDescription:
    """Describe an artifact from its path, the first bytes (``head``, for headers) and, for
    small evaluation files, the whole ``content`` (metrics)."""
    kind, fmt, framework = infer_kind(path)
    if fmt == "safetensors" and framework is None:
        framework = safetensors_framework(head)
    metrics = metrics_from_json(content) if kind == "evaluation" and content is not None else {}
    return ArtifactDescription(kind=kind, format=fmt, framework=framework, metrics=metrics)
