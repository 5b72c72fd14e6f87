"""The SPDX 3.0.1 JSON-LD export (AI and Dataset profiles) of the verified demo bundle, validated
by the SPDX project's validator (spdx3-validate: the official JSON schema and SHACL model) and
read back by its bindings (spdx-python-model, generated from the SPDX 3 SHACL model).

spdx3-validate downloads the schema, the SHACL model and the JSON-LD context from spdx.org;
tests have no network, so :func:`official_spdx_files` serves those three URLs from the official
files kept in ``spdx-3.0.1/`` (see its README) and refuses every other URL."""

from __future__ import annotations

import contextlib
import email.message
import hashlib
import io
import json
import urllib.error
import urllib.request
import urllib.response
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto import __version__
from atlas_intoto.bom import bom_export
from atlas_intoto.bom.spdx import dataset_type
from atlas_intoto.bundle import parse_bundle

SPDX3_DIR = Path(__file__).with_name("spdx-3.0.1")
#: The URLs spdx3-validate reads for SPDX 3.0.1 → the official file, its media type and SHA-256
#: (pinned: a changed copy would silently validate against something else).
OFFICIAL_SPDX_FILES = {
    "https://spdx.org/rdf/3.0.1/spdx-context.jsonld": (
        "spdx-context.jsonld",
        "application/ld+json",
        "c72b0928f094c83e5c127784edb1ebca2af74a104fcacc007c332b23cbc788bd",
    ),
    "https://spdx.org/rdf/3.0.1/spdx-model.ttl": (
        "spdx-model.ttl",
        "text/turtle",
        "1e6df676d5a4108de90362170b0933da53f929ae8147453cea0dffadb804fae5",
    ),
    "https://spdx.org/schema/3.0.1/spdx-json-schema.json": (
        "spdx-json-schema.json",
        "application/json",
        "59f59713c7d73ff0d833f4f468df974a689fc9dd36dc5510f1875ff85d276c54",
    ),
}


class _OfficialSpdxFiles(urllib.request.BaseHandler):
    """Answers the SPDX 3.0.1 URLs from the kept official files; any other URL is an error
    (so a validator reaching for something else fails loudly instead of going online)."""

    handler_order = 100  # before urllib's own HTTP(S) handlers

    def _serve(self, request: urllib.request.Request) -> urllib.response.addinfourl:
        url = request.full_url
        if url not in OFFICIAL_SPDX_FILES:
            raise urllib.error.URLError(f"offline test: no local copy of {url}")
        name, media_type, sha256 = OFFICIAL_SPDX_FILES[url]
        data = (SPDX3_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256, f"{name}: not the official file"
        headers = email.message.Message()
        headers["Content-Type"] = media_type
        headers["Content-Length"] = str(len(data))
        response = urllib.response.addinfourl(io.BytesIO(data), headers, url, 200)
        response.msg = "OK"  # read by urllib's HTTPErrorProcessor
        return response

    https_open = _serve
    http_open = _serve


@contextlib.contextmanager
def official_spdx_files() -> Iterator[None]:
    """Within the block, urllib (which spdx3-validate and rdflib use) serves the SPDX 3.0.1
    schema, SHACL model and context from ``spdx-3.0.1/``."""
    urllib.request.install_opener(urllib.request.build_opener(_OfficialSpdxFiles()))
    try:
        yield
    finally:
        urllib.request.install_opener(None)  # type: ignore[arg-type]


def assert_valid_spdx3(path: Path) -> None:
    """Run the SPDX 3 validator (spdx3-validate: JSON schema, then SHACL) on ``path``."""
    import spdx3_validate

    with official_spdx_files():
        result = spdx3_validate.validate(str(path), version="3.0.1")
    assert result.valid, f"{path.name} is not valid SPDX 3.0.1:\n{result}"


def load_spdx(document: dict[str, Any], tmp_path: Path) -> Any:
    """Validate ``document`` with the SPDX 3 validator (:func:`assert_valid_spdx3`), read it
    with spdx-python-model (unknown types, properties or vocabulary fail) and serialize it
    again (missing required properties fail); return the object set."""
    import spdx_python_model

    path = tmp_path / "export.spdx3.json"
    path.write_text(json.dumps(document))
    assert_valid_spdx3(path)
    model, objects = spdx_python_model.load(path)
    assert model is spdx_python_model.v3_0_1
    model.JSONLDSerializer().write(objects, io.BytesIO())
    return objects


def export(demo: Any, *, files: dict[str, bytes] | None = None) -> dict[str, Any]:
    data = demo.bundle.read_bytes()
    return bom_export(
        "spdx",
        demo.report,
        parse_bundle(data),
        source=demo.bundle.name,
        version=__version__,
        files=files,
    )


def _names(objects: Any, kind: str) -> dict[str, Any]:
    return {o.name: o for o in objects.foreach_type(kind)}


def test_demo_export_is_spdx_3_0_1_with_ai_and_dataset_profiles(demo: Any, tmp_path: Path) -> None:
    metrics = (demo.directory / "work" / "eval" / "metrics.json").read_bytes()
    document = export(demo, files={"eval/metrics.json": metrics})
    assert document["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    objects = load_spdx(document, tmp_path)
    (doc,) = objects.foreach_type("SpdxDocument")
    assert doc.creationInfo.specVersion == "3.0.1"
    assert [e.name for e in doc.rootElement] == ["dist/model.npz"]
    models = _names(objects, "ai_AIPackage")
    assert set(models) == {"model/model.npz", "dist/model.npz"}
    datasets = _names(objects, "dataset_DatasetPackage")
    assert set(datasets) == {"data/train.csv", "data/test.csv"}
    metric = {e.key: e.value for e in models["dist/model.npz"].ai_metric}
    assert float(metric["accuracy"]) == json.loads(metrics)["accuracy"]
    assert models["dist/model.npz"].verifiedUsing[0].hashValue == document_hash(demo)


def document_hash(demo: Any) -> str:
    import hashlib

    return hashlib.sha256((demo.directory / "work" / "dist" / "model.npz").read_bytes()).hexdigest()


def test_trained_on_tested_on_and_the_steps_as_builds(demo: Any, tmp_path: Path) -> None:
    objects = load_spdx(export(demo), tmp_path)
    relations: dict[tuple[str, str], set[str]] = {}
    for rel in objects.foreach_type("Relationship"):
        kind = rel.relationshipType.rsplit("/", 1)[-1]
        relations.setdefault((rel.from_.name, kind), set()).update(t.name for t in rel.to)
    assert relations[("dist/model.npz", "trainedOn")] == {"data/train.csv"}
    assert relations[("dist/model.npz", "testedOn")] == {"data/test.csv"}
    assert relations[("train", "hasInput")] == {"data/train.csv", "src/train.py"}
    assert relations[("train", "hasOutput")] == {"model/model.npz"}
    builds = _names(objects, "build_Build")
    assert list(builds) == ["prepare", "train", "evaluate", "package"] or set(builds) == {
        "prepare",
        "train",
        "evaluate",
        "package",
    }
    env = {e.key: e.value for e in builds["train"].build_environment}
    assert env["atlas-intoto:signers"] == "trainer"
    assert len(env["atlas-intoto:tee.mrtd"]) == 96
    (ref,) = builds["train"].externalRef
    assert ref.locator == [f"{demo.bundle.name}#step=train"]


def test_dataset_types_follow_the_file() -> None:
    assert dataset_type("data/train.csv") == "structured"
    assert dataset_type("data/train-00000.jsonl") == "text"
    assert dataset_type("images/0001.png") == "image"
    assert dataset_type("data/blob.xyz") == "other"


def test_the_spdx_validator_rejects_a_broken_export(demo: Any, tmp_path: Path) -> None:
    """The validator really checks: an AI package with an unknown autonomy type fails the
    schema, and one without its creation info fails the SHACL model."""
    import spdx3_validate

    document = export(demo)
    model = next(e for e in document["@graph"] if e["type"] == "ai_AIPackage")
    model["ai_autonomyType"] = "sometimes"
    del model["creationInfo"]
    path = tmp_path / "broken.spdx3.json"
    path.write_text(json.dumps(document))
    with official_spdx_files():
        result = spdx3_validate.validate(str(path), version="3.0.1")
    assert not result.valid
    assert {error.kind for error in result.errors} == {"schema", "shacl"}
    with pytest.raises(AssertionError, match=r"not valid SPDX 3\.0\.1"):
        assert_valid_spdx3(path)


def test_the_offline_spdx_files_serve_nothing_else() -> None:
    with official_spdx_files(), pytest.raises(urllib.error.URLError, match="no local copy"):
        urllib.request.urlopen("https://spdx.org/rdf/3.0.1/terms/Core/Element")
