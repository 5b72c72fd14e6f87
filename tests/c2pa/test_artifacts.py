"""Artifact description for the ML assertion: kind, format, framework, metrics."""

from __future__ import annotations

import json
import struct

import pytest

from atlas_intoto.c2pa.artifacts import (
    describe,
    infer_kind,
    metrics_from_json,
    mime_type,
    safetensors_framework,
)


@pytest.mark.parametrize(
    ("path", "kind", "fmt", "framework"),
    [
        ("model/model.safetensors", "model", "safetensors", None),
        ("out/weights.pt", "model", "pytorch", "pytorch"),
        ("model.onnx", "model", "onnx", "onnx"),
        ("llm.gguf", "model", "gguf", "llama.cpp"),
        ("model/pytorch_model.bin", "model", "binary", None),
        ("data/shard-0.bin", "dataset", "binary", None),
        ("model/config.json", "model", "json", None),
        ("eval/metrics.json", "evaluation", "json", None),
        ("results.json", "evaluation", "json", None),
        ("data/train.parquet", "dataset", "parquet", None),
        ("data/labels.csv", "dataset", "csv", None),
        ("eval/scores.csv", "evaluation", "csv", None),
        ("train.py", "code", "python", None),
        ("configs/train.yaml", "code", "yaml", None),
        ("blob", "dataset", None, None),
        ("checkpoints/step-100", "model", None, None),
    ],
)
def test_infer_kind(path: str, kind: str, fmt: str | None, framework: str | None) -> None:
    assert infer_kind(path) == (kind, fmt, framework)


def test_mime_type_only_for_whole_file_data_hash_formats() -> None:
    assert mime_type("eval/roc.png") == "image/png"
    assert mime_type("x.JPG") == "image/jpeg"
    assert mime_type("model.safetensors") == "application/octet-stream"
    assert mime_type("report.pdf") == "application/octet-stream"  # c2pa-rs hashes PDFs differently
    assert mime_type("scan.tiff") == "application/octet-stream"  # TIFF adds an exclusion


def test_metrics_flatten_numbers_only() -> None:
    doc = {
        "metrics": {
            "acc": 0.9,
            "f1": {"macro": 0.8, "micro": 1},
            "name": "x",
            "ok": True,
            "n": None,
        }
    }
    assert metrics_from_json(json.dumps(doc).encode()) == {
        "acc": 0.9,
        "f1.macro": 0.8,
        "f1.micro": 1.0,
    }
    assert metrics_from_json(b'{"loss": 0.1, "deep": {"a": {"b": {"c": 1}}}}') == {"loss": 0.1}
    assert metrics_from_json(b"[1, 2]") == {}
    assert metrics_from_json(b"not json") == {}
    assert metrics_from_json(b'{"x": NaN}') == {}
    assert len(metrics_from_json(json.dumps({f"m{i}": i for i in range(500)}).encode())) == 64


def test_safetensors_framework_from_header() -> None:
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    assert safetensors_framework(struct.pack("<Q", len(header)) + header) == "pytorch"
    assert safetensors_framework(b"") is None
    assert safetensors_framework(struct.pack("<Q", 1 << 40)) is None
    assert safetensors_framework(struct.pack("<Q", 4) + b"garb") is None
    assert safetensors_framework(struct.pack("<Q", 2) + b"[]") is None


def test_describe_assertion() -> None:
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    model = describe("model/m.safetensors", head=struct.pack("<Q", len(header)) + header)
    assert model.assertion(path="model/m.safetensors") == {
        "kind": "model",
        "name": "m.safetensors",
        "format": "safetensors",
        "framework": "pytorch",
    }
    evaluation = describe("eval/metrics.json", content=b'{"acc": 1}')
    assert evaluation.assertion(path="eval/metrics.json")["metrics"] == {"acc": 1.0}
    # metrics only for evaluations
    assert describe("data/x.json", content=b'{"acc": 1}').metrics == {}


def test_pathological_json_yields_nothing() -> None:
    # Deep nesting (RecursionError) in a product must not abort signing.
    assert metrics_from_json(b"[" * 100000 + b"]" * 100000) == {}
    header = b"[" * 50000
    assert safetensors_framework(struct.pack("<Q", len(header)) + header) is None
