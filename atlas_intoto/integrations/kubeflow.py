"""Record Kubeflow Pipelines (KFP v2) components as attested steps.

```python
from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output
from atlas_intoto.integrations.kubeflow import attested_component
from atlas_intoto.recording import RecordingOptions

OPTIONS = RecordingOptions(key_path=Path("/var/run/atlas/trainer.key"), base_path=Path("/"),
                           tee="tdx", c2pa=True, log_url="http://rekor.example:3000")

@attested_component(step="train", options=OPTIONS, packages_to_install=["atlas-intoto"])
def train(dataset: Input[Dataset], model: Output[Model], epochs: int = 3):
    ...
```

The decorator returns a normal KFP lightweight component (``dsl.component`` is applied with the
remaining keyword arguments). Its function has the original signature plus one output artifact,
``atlas_evidence``, a directory holding the step's evidence (link, log entry, TEE collateral,
C2PA sidecars) for bundle creation downstream. Its body is the original function, nested, run
between ``record_start`` (input artifacts and ``InputPath`` files measured before the body runs)
and ``record_stop`` (output artifacts and ``OutputPath`` files as products; command
``["kfp-component", NAME]``; the parameter values as byproducts).

Components run in separate containers, each with its own evidence artifact, so a consumer does
not see the C2PA manifests of its inputs. An input artifact whose name starts with
:data:`UPSTREAM_PREFIX` (``atlas_upstream_train: Input[Artifact]``, fed the producer's
``atlas_evidence``) is not a material: the C2PA sidecars in it are copied into this step's
evidence before recording, so the products' manifests carry the materials' manifests as
ingredients (which the verifier's C2PA check requires when the producer signed them).

The recording options travel into the container as JSON (:meth:`RecordingOptions.to_dict`);
their ``out_dir`` is replaced there by the ``atlas_evidence`` artifact's path. Without
``options`` the key is read from :data:`DEFAULT_KEY_PATH` and paths are recorded relative to
``/`` (artifact paths are absolute in the container).

KFP ships a lightweight component as the *source* of its function, so the wrapper is generated
as source: the original definition (decorators stripped) is parsed, nested into a function with
the same signature, compiled, and its text registered with :mod:`linecache` so that
``inspect.getsource`` — which KFP calls — returns it. The container image must have
``atlas-intoto`` installed (``packages_to_install`` or ``base_image``) and the functionary key
mounted at ``options.key_path``.
"""

from __future__ import annotations

import ast
import copy
import inspect
import itertools
import json
import linecache
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from atlas_intoto.errors import PublishPendingError, UsageError
from atlas_intoto.recording import RecordingOptions

#: Where the functionary key is mounted when no ``options`` are given.
DEFAULT_KEY_PATH = Path("/var/run/atlas-intoto/functionary.key")

#: Name of the output artifact that carries the step's evidence directory.
EVIDENCE_OUTPUT = "atlas_evidence"
#: Input artifacts named with this prefix are upstream evidence directories, not materials.
UPSTREAM_PREFIX = "atlas_upstream_"
_COMMAND_PREFIX = "kfp-component"
_counter = itertools.count()


def _kfp() -> Any:
    try:
        from kfp import dsl
    except ImportError as exc:
        from atlas_intoto.errors import FeatureUnavailableError

        raise FeatureUnavailableError(
            "kfp is not installed (pip install 'atlas-intoto[kubeflow]')"
        ) from exc
    return dsl


def _classify(func: Callable[..., Any]) -> tuple[list[str], list[str], list[str]]:
    """Split the parameters into (artifact inputs, artifact outputs, plain parameters);
    upstream evidence inputs (:data:`UPSTREAM_PREFIX`) are among the inputs."""
    _kfp()
    from kfp.dsl.types import type_annotations as ta

    inputs: list[str] = []
    outputs: list[str] = []
    parameters: list[str] = []
    signature = inspect.signature(func, eval_str=True)
    for name, param in signature.parameters.items():
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise UsageError(f"component {func.__name__}: *args/**kwargs are not supported")
        annotation = param.annotation
        if isinstance(annotation, ta.InputPath) or ta.is_artifact_wrapped_in_Input(annotation):
            inputs.append(name)
        elif isinstance(annotation, ta.OutputPath) or ta.is_artifact_wrapped_in_Output(annotation):
            outputs.append(name)
        else:
            parameters.append(name)
    return inputs, outputs, parameters


def build_attested_function(
    func: Callable[..., Any],
    *,
    step: str | None = None,
    options: RecordingOptions,
) -> Callable[..., Any]:
    """The function ``attested_component`` hands to ``dsl.component`` (see module docstring)."""
    dsl = _kfp()
    name = func.__name__
    inputs, outputs, parameters = _classify(func)
    if EVIDENCE_OUTPUT in inputs + outputs + parameters:
        raise UsageError(f"component {name}: parameter name {EVIDENCE_OUTPUT!r} is reserved")
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as exc:
        raise UsageError(f"component {name}: its source is not available") from exc
    tree = ast.parse(source)
    inner = tree.body[0] if tree.body else None
    if not isinstance(inner, ast.FunctionDef) or inner.name != name:
        raise UsageError(f"component {name}: expected a plain 'def {name}(...)' definition")
    inner.decorator_list = []

    upstream = [n for n in inputs if n.startswith(UPSTREAM_PREFIX)]
    settings = {
        "component": name,
        "step": step or name.replace("_", "-"),
        "options": options.to_dict(),
        "inputs": [n for n in inputs if n not in upstream],
        "upstream": upstream,
        "outputs": outputs,
        "parameters": parameters,
    }
    names = [*inputs, *outputs, *parameters]
    call = (
        "from atlas_intoto.integrations.kubeflow import run_component_step\n"
        f"return run_component_step({name}, "
        f"{{{', '.join(f'{n!r}: {n}' for n in names)}}}, {EVIDENCE_OUTPUT}, "
        f"{json.dumps(settings, sort_keys=True)!r})\n"
    )
    outer = copy.deepcopy(inner)
    # Same signature plus the evidence output; it goes before the first defaulted parameter
    # because a parameter without a default may not follow one with a default.
    evidence_arg = ast.arg(
        arg=EVIDENCE_OUTPUT, annotation=ast.parse("dsl.Output[dsl.Artifact]", mode="eval").body
    )
    positional = outer.args.args
    positional.insert(len(positional) - len(outer.args.defaults), evidence_arg)
    outer.body = [inner, *ast.parse(call).body]
    outer.decorator_list = []
    text = ast.unparse(ast.fix_missing_locations(ast.Module(body=[outer], type_ignores=[])))
    text += "\n"

    filename = f"<atlas-intoto component {name} #{next(_counter)}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = dict(func.__globals__)
    namespace["dsl"] = dsl
    exec(compile(text, filename, "exec", dont_inherit=True), namespace)
    wrapper: Callable[..., Any] = namespace[name]
    wrapper.__doc__ = func.__doc__
    return wrapper


def attested_component(
    func: Callable[..., Any] | None = None,
    *,
    step: str | None = None,
    options: RecordingOptions | None = None,
    **component_kwargs: Any,
) -> Any:
    """Decorator: a KFP v2 component recorded as step ``step`` (default: the function name
    with ``_`` → ``-``) as ``options`` say (default: key at :data:`DEFAULT_KEY_PATH`, base path
    ``/``, no evidence). Remaining keyword arguments go to ``kfp.dsl.component``."""
    if options is None:
        options = RecordingOptions(key_path=DEFAULT_KEY_PATH, base_path=Path("/"))
    chosen = options

    def decorate(f: Callable[..., Any]) -> Any:
        wrapper = build_attested_function(f, step=step, options=chosen)
        return _kfp().component(wrapper, **component_kwargs)

    return decorate(func) if func is not None else decorate


# ---------------------------------------------------------------------------------------------
# Runtime (inside the component's container)
# ---------------------------------------------------------------------------------------------


def _artifact_paths(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [os.fspath(value)]
    if isinstance(value, Sequence):
        return [path for item in value for path in _artifact_paths(item)]
    path = getattr(value, "path", None)
    if not isinstance(path, str):
        raise UsageError(f"artifact {value!r}: has no local path")
    return [path]


def _jsonable(value: Any) -> Any:
    # Links are canonical JSON (securesystemslib), which has no floats: a float parameter
    # is recorded as its repr, as is anything JSON cannot hold.
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def ship_upstream_manifests(upstream: Sequence[Any], out_dir: Path) -> int:
    """Copy the C2PA sidecars of upstream evidence directories (artifacts or paths) into
    ``out_dir/c2pa``; return how many were copied. Links are not copied: each component's
    evidence artifact holds its own links, and the bundle gathers them all."""
    import shutil

    copied = 0
    for directory in (Path(p) for p in _artifact_paths(upstream)):
        root = directory / "c2pa"
        if not root.is_dir():
            continue
        for sidecar in root.rglob("*.c2pa"):
            if sidecar.is_symlink() or not sidecar.is_file():
                continue
            target = out_dir / "c2pa" / sidecar.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sidecar, target)
            copied += 1
    return copied


def run_component_step(
    func: Callable[..., Any],
    arguments: Mapping[str, Any],
    evidence: Any,
    settings: str,
) -> Any:
    """Run the component body between ``record_start`` and ``record_stop``.

    Output artifacts the body did not write are left out of the products and named in the
    byproducts (KFP fails such a task itself; metrics artifacts are written after return).
    If the body raises, its pending record is removed and no link is written.
    """
    from atlas_intoto.step import record_start, record_stop

    cfg = json.loads(settings)
    options = RecordingOptions.from_dict(cfg["options"]).with_changes(
        out_dir=Path(_artifact_paths(evidence)[0])
    )
    materials = [p for name in cfg["inputs"] for p in _artifact_paths(arguments[name])]
    upstream = cfg.get("upstream", [])
    ship_upstream_manifests([arguments[name] for name in upstream], options.out_dir)
    pending = record_start(step=cfg["step"], options=options, materials=materials)
    try:
        result = func(**arguments)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    declared = [p for name in cfg["outputs"] for p in _artifact_paths(arguments[name])]
    products = [p for p in declared if os.path.exists(p)]
    byproducts: dict[str, Any] = {
        "parameters": {name: _jsonable(arguments[name]) for name in cfg["parameters"]}
    }
    missing = [p for p in declared if p not in products]
    if missing:
        byproducts["unwritten-outputs"] = missing
    try:
        record_stop(
            step=cfg["step"],
            options=options,
            products=products,
            command=[_COMMAND_PREFIX, cfg["component"]],
            byproducts=byproducts,
        )
    except PublishPendingError as exc:
        # The link and a pending marker are in the evidence artifact: the task succeeds and
        # `atlas-intoto log publish --evidence <artifact>` finishes the publishing.
        print(f"atlas-intoto: warning: {exc}", file=sys.stderr, flush=True)
    return result
