"""torch, transformers and kfp are optional extras: the core package imports without them."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs in a fresh interpreter: a None entry in sys.modules makes every import of that module
# (and so of its submodules) fail, as if the extra were not installed.
_PROBE = """
import importlib, json, pkgutil, sys
for name in ("torch", "transformers", "kfp", "safetensors", "tokenizers", "accelerate"):
    sys.modules[name] = None
import atlas_intoto
imported, failed = [], {}
for info in pkgutil.walk_packages(atlas_intoto.__path__, "atlas_intoto."):
    if info.name == "atlas_intoto.__main__":  # runs the CLI when imported
        continue
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except ImportError as exc:
        failed[info.name] = type(exc).__name__
from atlas_intoto.cli import build_parser
from atlas_intoto.integrations import kubeflow, torch as attested_torch
from atlas_intoto.errors import FeatureUnavailableError
unavailable = []
for call in (lambda: attested_torch._require("torch"), kubeflow._kfp):
    try:
        call()
    except FeatureUnavailableError as exc:
        unavailable.append(str(exc))
commands = sorted(build_parser()._subparsers._group_actions[0].choices)
print(json.dumps({"imported": imported, "failed": failed, "unavailable": unavailable,
                  "commands": commands}))
"""


def test_core_imports_without_ml_extras() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    )
    doc = json.loads(proc.stdout.splitlines()[-1])
    # Only the transformers callback needs its framework at import time (it subclasses
    # TrainerCallback); everything else, the torch and kubeflow wrappers included, imports.
    assert doc["failed"] == {"atlas_intoto.integrations.hf": "ModuleNotFoundError"}
    for module in (
        "atlas_intoto.verify.engine",
        "atlas_intoto.c2pa.builder",
        "atlas_intoto.demo",
        "atlas_intoto.integrations.training",
        "atlas_intoto.integrations.torch",
        "atlas_intoto.integrations.kubeflow",
    ):
        assert module in doc["imported"]
    assert {"verify", "demo", "record", "c2pa"} <= set(doc["commands"])
    # Using a wrapper without its extra is a clear operational error naming what to install.
    assert len(doc["unavailable"]) == 2
    assert "torch" in doc["unavailable"][0] and "kfp" in doc["unavailable"][1]
