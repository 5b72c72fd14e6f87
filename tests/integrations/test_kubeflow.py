"""Kubeflow integration: the attested component decorator, compiled and run by the KFP SDK."""

# No ``from __future__ import annotations``: KFP reads pipeline annotations as types.
import ast
import base64
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

kfp = pytest.importorskip("kfp")

from kfp import compiler, dsl, local  # noqa: E402
from kfp.dsl import Artifact, Dataset, Input, Model, Output  # noqa: E402

from atlas_intoto.errors import UsageError  # noqa: E402
from atlas_intoto.integrations.kubeflow import (  # noqa: E402
    DEFAULT_KEY_PATH,
    EVIDENCE_OUTPUT,
    attested_component,
    build_attested_function,
    ship_upstream_manifests,
)
from atlas_intoto.keys import generate_keypair  # noqa: E402
from atlas_intoto.recording import RecordingOptions  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kubeflow" / "pipeline.py"


def _payload(link: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(link.read_bytes())["payload"]))  # type: ignore[no-any-return]


def test_example_pipeline_compiles_with_every_component_wrapped(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("atlas_kfp_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(module.attested_training, str(out))

    ir = yaml.safe_load(out.read_text())
    assert ir["pipelineInfo"]["name"] == "atlas-intoto-attested-training"
    steps = {"prepare": "data-eng", "train": "trainer", "evaluate": "evaluator"}
    for name, functionary in steps.items():
        component = ir["components"][f"comp-{name}"]
        outputs = component["outputDefinitions"]["artifacts"]
        assert outputs[EVIDENCE_OUTPUT]["artifactType"]["schemaTitle"] == "system.Artifact"
        container = ir["deploymentSpec"]["executors"][f"exec-{name}"]["container"]
        source = container["command"][-1]
        assert "from atlas_intoto.integrations.kubeflow import run_component_step" in source
        # The original body is nested in a wrapper with the same name and signature.
        assert source.count(f"def {name}(") == 2
        assert f'"step": "{name}"' in source
        assert f'"key_path": "/var/run/atlas-intoto/{functionary}.key"' in source
        assert container["args"][-1] == name
    train_inputs = ir["components"]["comp-train"]["inputDefinitions"]
    assert set(train_inputs["artifacts"]) == {"train_data"}
    assert set(train_inputs["parameters"]) == {"epochs"}
    # The pipeline's data flow is untouched by the wrapping.
    tasks = ir["root"]["dag"]["tasks"]
    assert tasks["evaluate"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "model",
        "producerTask": "train",
    }


@pytest.fixture()
def key(tmp_path: Path) -> str:
    generate_keypair("functionary", directory=tmp_path / "keys")
    return str(tmp_path / "keys" / "functionary.key")


def test_components_run_locally_and_record_links(
    tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    @attested_component(
        step="make-data",
        options=RecordingOptions(key_path=Path(key), base_path=Path("/")),
        install_kfp_package=False,
        base_image="python:3.11",
    )
    def make(data: Output[Dataset], n: int = 3, share: float = 0.25):  # type: ignore[no-untyped-def]
        with open(data.path, "w") as handle:
            handle.write("x" * n)

    @attested_component(
        step="fit",
        options=RecordingOptions(key_path=Path(key), base_path=Path("/")),
        install_kfp_package=False,
        base_image="python:3.11",
    )
    def fit(data: Input[Dataset], model: Output[Model]) -> int:
        text = open(data.path).read()  # noqa: SIM115
        with open(model.path, "w") as handle:
            handle.write(text.upper())
        return len(text)

    @dsl.pipeline
    def pipe(n: int = 5):  # type: ignore[no-untyped-def]
        made = make(n=n)
        fit(data=made.outputs["data"])

    # The subprocess runner starts `python3`: make it this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    pipe(n=5)

    make_link = next(root.glob("pipe-*/make/atlas_evidence/make-data.*.link"))
    fit_link = next(root.glob("pipe-*/fit/atlas_evidence/fit.*.link"))
    made, fitted = _payload(make_link), _payload(fit_link)
    assert made["command"] == ["kfp-component", "make"]
    # Canonical JSON has no floats: a float parameter is recorded as its repr.
    assert made["byproducts"] == {"parameters": {"n": 5, "share": "0.25"}}
    assert made["materials"] == {}
    (data_path,) = made["products"]
    assert data_path.endswith("/make/data") and not data_path.startswith("/")
    # The consumer's material is the producer's product: in-toto MATCH rules can chain them.
    assert fitted["materials"] == made["products"]
    (model_path,) = fitted["products"]
    assert Path("/", model_path).read_text() == "XXXXX"


def test_a_failing_component_writes_no_link(tmp_path: Path, key: str) -> None:
    def broken(data: Output[Dataset]):  # type: ignore[no-untyped-def]
        raise ValueError("component failed")

    wrapper = build_attested_function(
        broken, options=RecordingOptions(key_path=Path(key), base_path=tmp_path)
    )
    evidence = dsl.Artifact(uri=str(tmp_path / "evidence"))
    data = Dataset(uri=str(tmp_path / "data"))
    with pytest.raises(ValueError, match="component failed"):
        wrapper(data=data, atlas_evidence=evidence)
    assert not list((tmp_path / "evidence").rglob("*.link"))
    assert not list((tmp_path / "evidence").rglob("*.json"))


def test_upstream_evidence_inputs_are_not_materials_and_ship_their_manifests(
    tmp_path: Path, key: str
) -> None:
    def consume(data: Input[Dataset], atlas_upstream_make: Input[Artifact], out: Output[Model]):  # type: ignore[no-untyped-def]
        with open(out.path, "w") as handle:
            handle.write(open(data.path).read())  # noqa: SIM115

    upstream = tmp_path / "make-evidence"
    (upstream / "c2pa" / "make").mkdir(parents=True)
    (upstream / "c2pa" / "make" / "data.c2pa").write_bytes(b"manifest")
    (upstream / "make.0123abcd.link").write_text("{}")
    (tmp_path / "make").mkdir()
    (tmp_path / "make" / "data").write_text("rows")
    wrapper = build_attested_function(
        consume, options=RecordingOptions(key_path=Path(key), base_path=tmp_path)
    )
    evidence = tmp_path / "evidence"
    wrapper(
        data=Dataset(uri=str(tmp_path / "make" / "data")),
        atlas_upstream_make=Artifact(uri=str(upstream)),
        out=Model(uri=str(tmp_path / "out")),
        atlas_evidence=dsl.Artifact(uri=str(evidence)),
    )
    (link,) = evidence.glob("consume.*.link")
    assert set(_payload(link)["materials"]) == {"make/data"}
    assert (evidence / "c2pa" / "make" / "data.c2pa").read_bytes() == b"manifest"
    # Only manifests travel: the producer's links stay in its own evidence artifact.
    assert not (evidence / "make.0123abcd.link").exists()
    assert ship_upstream_manifests([], evidence) == 0
    assert ship_upstream_manifests([str(tmp_path / "missing")], evidence) == 0


def test_reserved_parameter_name_is_refused(key: str) -> None:
    def step(atlas_evidence: Output[Dataset]):  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(UsageError, match="reserved"):
        build_attested_function(step, options=RecordingOptions(key_path=Path(key)))


def test_variadic_parameters_are_refused(key: str) -> None:
    def step(*args: int):  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(UsageError, match=r"\*args"):
        build_attested_function(step, options=RecordingOptions(key_path=Path(key)))


def test_without_options_the_key_is_read_from_the_default_mount() -> None:
    @attested_component(install_kfp_package=False, base_image="python:3.11")
    def make_thing(data: Output[Dataset]):  # type: ignore[no-untyped-def]
        pass

    source = make_thing.component_spec.implementation.container.command[-1]
    call = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run_component_step"
    )
    settings = json.loads(ast.literal_eval(call.args[-1]))
    assert settings["step"] == "make-thing"
    options = RecordingOptions.from_dict(settings["options"])
    assert options == RecordingOptions(key_path=DEFAULT_KEY_PATH, base_path=Path("/"))
