"""``atlas-intoto demo``: a whole attested pipeline on the embedded defaults, verified end to end.

1. keys for the owner and four functionaries (with C2PA certificates from a dev CA);
2. the embedded transparency log on a free loopback port (in this process, stopped at the end);
3. the simulated TDX platform; its root and MRTD are pinned in the layout (layouts/demo.yaml);
4. four attested steps — prepare a small dataset, train a small numpy model, evaluate, package —
   each run as a real command with the simulated TEE, C2PA sidecars and log publication;
5. the bundle, verified (pass); a tampered copy (the model swapped) fails with the reason;
6. the HTML report.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_intoto.errors import InputError, OperationalError

#: package data, so the demo runs from an installed wheel; layouts/demo.yaml is the documented
#: copy, kept identical by the tests
DEMO_LAYOUT = Path(__file__).resolve().parent / "data" / "demo.yaml"
FUNCTIONARIES = {
    "prepare": "data-eng",
    "train": "trainer",
    "evaluate": "evaluator",
    "package": "release",
}

# The pipeline's own programs: tiny, deterministic, numpy only.
PREPARE = """\
import numpy as np, pathlib
rng = np.random.default_rng(7)
x = rng.normal(size=(400, 4))
w = np.array([1.5, -2.0, 0.5, 1.0])
y = (x @ w + 0.1 * rng.normal(size=400) > 0).astype(int)
out = pathlib.Path("data"); out.mkdir(exist_ok=True)
for name, rows in (("train", slice(0, 300)), ("test", slice(300, 400))):
    np.savetxt(out / f"{name}.csv", np.column_stack([x[rows], y[rows]]), delimiter=",", fmt="%.6f")
"""
TRAIN = """\
import numpy as np, pathlib
d = np.loadtxt("data/train.csv", delimiter=",")
x, y = d[:, :-1], d[:, -1]
w = np.zeros(x.shape[1]); b = 0.0
for _ in range(500):  # logistic regression, plain gradient descent
    p = 1 / (1 + np.exp(-(x @ w + b)))
    w -= 0.5 * x.T @ (p - y) / len(y); b -= 0.5 * float(np.mean(p - y))
pathlib.Path("model").mkdir(exist_ok=True)
np.savez("model/model.npz", w=w, b=np.array([b]))
"""
EVALUATE = """\
import json, numpy as np, pathlib
m = np.load("model/model.npz"); d = np.loadtxt("data/test.csv", delimiter=",")
pred = (d[:, :-1] @ m["w"] + m["b"][0] > 0).astype(int)
pathlib.Path("eval").mkdir(exist_ok=True)
pathlib.Path("eval/metrics.json").write_text(json.dumps({"accuracy": float(np.mean(pred == d[:, -1]))}))
"""
PACKAGE = """\
import shutil, pathlib
pathlib.Path("dist").mkdir(exist_ok=True)
shutil.copyfile("model/model.npz", "dist/model.npz")
shutil.copyfile("eval/metrics.json", "dist/metrics.json")
"""
# Each program works relative to the pipeline's base directory, wherever it is started from.
_PROLOGUE = "import os, pathlib; os.chdir(pathlib.Path(__file__).resolve().parent.parent)\n"
PROGRAMS = {
    name: _PROLOGUE + body
    for name, body in (
        ("prepare", PREPARE),
        ("train", TRAIN),
        ("evaluate", EVALUATE),
        ("package", PACKAGE),
    )
}
STEP_IO: dict[str, tuple[list[str], list[str]]] = {
    "prepare": (["src/prepare.py"], ["data"]),
    "train": (["data/train.csv", "src/train.py"], ["model"]),
    "evaluate": (["data/test.csv", "model", "src/evaluate.py"], ["eval"]),
    "package": (["model", "eval", "src/package.py"], ["dist"]),
}


# ---------------------------------------------------------------------------------------------
# The embedded log, in this process
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EmbeddedLog:
    """A running in-process log: its URL, public key and key file."""

    url: str
    public_key_pem: bytes
    key_path: Path


@contextlib.contextmanager
def embedded_log(
    directory: Path, *, key_path: Path | None = None, origin: str = "atlas-intoto-demo"
) -> Iterator[EmbeddedLog]:
    """Serve the embedded log (SQLite in ``directory``) on a free 127.0.0.1 port until exit.

    The server runs in a thread of this process and is always stopped on leaving the block.
    The log key (``key_path``, default ``directory/log.key``) is created on first use.
    """
    from atlas_intoto.tlog.logkey import load_or_create_log_key, public_key_pem
    from atlas_intoto.tlog.server import create_app
    from atlas_intoto.tlog.serving import serve_in_thread
    from atlas_intoto.tlog.store import LogStore

    directory.mkdir(parents=True, exist_ok=True)
    key_path = key_path or directory / "log.key"
    signer = load_or_create_log_key(key_path)
    store = LogStore(directory / "log.db")
    try:
        with serve_in_thread(create_app(store, signer, origin), name="embedded log") as url:
            yield EmbeddedLog(url=url, public_key_pem=public_key_pem(signer), key_path=key_path)
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    """What the demo produced and whether its bundle verified."""

    directory: Path
    bundle: Path
    report_html: Path
    tampered_report_html: Path
    verified: bool
    tampered_detected: bool
    tampered_reason: str
    tampered_error: str | None
    report: Any
    tampered_report: Any
    #: ``demo --confidential``: the public and auditor bundles (confidential.demo.summary)
    confidential: Any = None


def _write_layout_source(
    directory: Path,
    *,
    mrtd: str,
    log: Any = None,
    keyless: Any = None,
    confidential: bool = False,
) -> Path:
    import yaml

    doc = yaml.safe_load(DEMO_LAYOUT.read_text())
    if confidential:
        from atlas_intoto.confidential.demo import private_layout

        private_layout(doc)
    for step in doc["steps"]:
        step.setdefault("tee", {})["mrtd"] = [mrtd]
    if log is not None and hasattr(log, "witness_pem"):
        _pin_v2_trust(directory, doc, log)
    if keyless is not None:
        from atlas_intoto.demo_keyless import keyless_layout

        keyless_layout(doc, keyless)
    source = directory / "layout.yaml"
    source.write_text(
        "# generated by atlas-intoto demo from layouts/demo.yaml, MRTD of the simulated TD\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    return source


def _pin_v2_trust(directory: Path, doc: dict[str, Any], log: Any) -> None:
    """A Rekor v2 log's trust: its witness (1 of 1) and the TSA root."""
    (directory / "keys" / "witness.pub").write_bytes(log.witness_pem)
    (directory / "keys" / "tsa-root.pem").write_bytes(log.tsa_root_pem)
    doc["trust"]["logs"][0]["witnesses"] = {
        "threshold": 1,
        "keys": [{"name": log.witness_name, "key": "keys/witness.pub"}],
    }
    doc["trust"]["tsa"] = {"roots": ["keys/tsa-root.pem"]}


def _log(directory: Path, log_version: int) -> Any:
    if log_version == 2:
        from atlas_intoto.tlog.v2.embedded import embedded_v2_log

        return embedded_v2_log(directory)
    return embedded_log(directory)


def _keyless(directory: Path, keyless: bool) -> Any:
    """The local OIDC issuer and CA of ``demo --keyless`` (a null context otherwise)."""
    if not keyless:
        return contextlib.nullcontext(None)
    from atlas_intoto.demo_keyless import keyless_services

    return keyless_services(directory)


def run_demo(
    directory: Path,
    *,
    say: Callable[[str], None] = lambda _: None,
    log_version: int = 1,
    keyless: bool = False,
    confidential: bool = False,
) -> DemoResult:
    """Run the whole demo in ``directory`` (created; must be empty or absent). ``log_version``
    2: the log is Rekor v2 with a TSA and a witness, and the layout pins both. ``keyless``:
    the steps are signed by identities of a local OIDC issuer through our CA, and the layout
    names those identities (:mod:`atlas_intoto.demo_keyless`). ``confidential``: the datasets
    are private (salted commitments, docs/confidentiality.md); the public bundle is verified
    with the released files only, the auditor bundle with every file."""
    from atlas_intoto.bundle_v2 import collect_evidence_v2, serialize_bundle_v2
    from atlas_intoto.demo_keyless import recording_fields
    from atlas_intoto.fileio import atomic_write
    from atlas_intoto.home import atlas_home
    from atlas_intoto.keys import generate_keypair, load_signer
    from atlas_intoto.layout import load_and_pin, sign_layout
    from atlas_intoto.lineage import render_html
    from atlas_intoto.recording import RecordingOptions
    from atlas_intoto.step import run_step
    from atlas_intoto.tee.simulated import default_directory, ensure_platform
    from atlas_intoto.verify import VerifyCache, verify_bundle

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    if directory.exists() and any(directory.iterdir()):
        raise OperationalError(f"{directory}: demo directory is not empty")
    keys, work, evidence = directory / "keys", directory / "work", directory / "evidence"
    for name in ("owner", *(() if keyless else FUNCTIONARIES.values())):
        generate_keypair(name, directory=keys)
    say(f"1. keys: owner{'' if keyless else ' and ' + ', '.join(FUNCTIONARIES.values())} in {keys}")

    platform = ensure_platform(default_directory(atlas_home()), now=int(time.time()))
    (directory / "tee").mkdir(parents=True, exist_ok=True)
    (directory / "tee" / "sim-root.pem").write_bytes(platform.root_pem)
    say(f"2. simulated TDX platform {platform.platform_id}, MRTD {platform.mr_td.hex()[:16]}…")

    with _log(directory / "log", log_version) as log, _keyless(directory, keyless) as services:
        (keys / "log.pub").write_bytes(log.public_key_pem)
        kind = "Rekor v2 log (TSA, 1 witness)" if log_version == 2 else "transparency log"
        say(f"3. embedded {kind} at {log.url}")
        if services is not None:
            say(f"3. CA at {services.ca_url} for identities of the local OIDC issuer")
        source = _write_layout_source(
            directory,
            mrtd=platform.mr_td.hex(),
            log=log,
            keyless=services,
            confidential=confidential,
        )
        layout_file = directory / "demo.layout"
        atomic_write(
            layout_file, sign_layout(load_and_pin(source), [load_signer(keys / "owner.key")])
        )
        say(f"4. layout signed by the owner: {layout_file}")

        (work / "src").mkdir(parents=True, exist_ok=True)
        for step, program in PROGRAMS.items():
            (work / "src" / f"{step}.py").write_text(program)
        for step, functionary in FUNCTIONARIES.items():
            materials, products = STEP_IO[step]
            options = RecordingOptions(
                **recording_fields(functionary, services, keys),
                base_path=work,
                out_dir=evidence,
                tee="simulated",
                log_url=log.url,
                log_backend="rekor-v2" if log_version == 2 else "rekor-v1",
            )
            if confidential:
                options = _confidential_options(options, keys)
            recorded = run_step(
                step=step,
                options=options,
                command=[sys.executable, str(work / "src" / f"{step}.py")],
                materials=materials,
                products=products,
                echo_stdout=None,
                echo_stderr=None,
            )
            signed = f"{functionary} (keyless)" if services else functionary
            say(
                f"5. step {step}: signed by {signed}, quote + "
                f"{'' if services else 'C2PA + '}log entry ({len(recorded.products)} product(s))"
            )
    # The log is stopped here: verification is offline.
    bundle_path = directory / "model.atlas.json"
    envelope = json.loads(layout_file.read_bytes())
    bundles = None
    if confidential:
        from atlas_intoto.confidential.demo import write_bundles

        bundles = write_bundles(
            directory,
            layout_envelope=envelope,
            evidence=evidence,
            log_dir=directory / "log",
            say=say,
        )
    else:
        bundle_bytes = serialize_bundle_v2(
            collect_evidence_v2(layout_envelope=envelope, evidence_dirs=[evidence])
        )
        described = "format v2, per-step Sigstore bundles"
        atomic_write(bundle_path, bundle_bytes)
        say(f"6. bundle ({described}): {bundle_path}")

    owner = (keys / "owner.pub").read_bytes()
    cache = VerifyCache.default()
    data = bundle_path.read_bytes()
    # a public consumer of a confidential run holds the released files only
    held = work / "dist" if confidential else work
    report = verify_bundle(
        data, layout_keys=[owner], artifacts_dir=held, cache=cache, source=str(bundle_path)
    )
    audited = bundles is None or _audit(bundles, owner=owner, work=work, say=say)
    html_path = directory / "report.html"
    atomic_write(html_path, render_html(data, report=report, source=bundle_path.name).encode())
    if report.ok:
        say(f"7. verify: VERIFIED ({len(report.results)} checks passed)")
    else:
        say(f"7. verify: FAILED ({len(report.failures)} of {len(report.results)} checks)")
        # Only the failing rows: the passing ones are in the HTML report (step 9).
        for line in report.text().splitlines():
            if line.startswith("FAIL"):
                say(f"   {line}")

    tampered = directory / "tampered"
    shutil.copytree(work / "dist", tampered / "dist")
    evil = tampered / "dist" / "model.npz"
    evil.write_bytes(evil.read_bytes()[:-16] + bytes(16))
    bad = verify_bundle(
        data, layout_keys=[owner], artifacts_dir=tampered, cache=cache, source=str(bundle_path)
    )
    first = bad.first_failure
    bad_html = directory / "tampered-report.html"
    atomic_write(bad_html, render_html(data, report=bad, source="tampered copy").encode())
    say(
        "8. tampered copy (model swapped): "
        + ("FAILED as it must: " + first.reason if first is not None else "NOT DETECTED")
    )
    say(f"9. HTML reports: {html_path} and {bad_html}")
    return DemoResult(
        directory=directory,
        bundle=bundle_path,
        report_html=html_path,
        tampered_report_html=bad_html,
        verified=report.ok and audited,
        tampered_detected=not bad.ok,
        tampered_reason=first.reason if first is not None else "",
        tampered_error=first.error if first is not None else None,
        report=report,
        tampered_report=bad,
        confidential=None if bundles is None else _confidential_summary(bundles),
    )


def _confidential_options(options: Any, keys: Path) -> Any:
    """A confidential step's options: the datasets private under the pipeline secret."""
    from atlas_intoto.confidential.demo import private_options
    from atlas_intoto.confidential.secret import generate_secret

    secret = keys / "pipeline.secret"
    if not secret.exists():
        generate_secret(secret)
    return private_options(options, secret=secret)


def _audit(bundles: Any, *, owner: bytes, work: Path, say: Callable[[str], None]) -> bool:
    """The auditor's verification of a confidential run (every file, every opening) passed
    and the public side disclosed nothing."""
    from atlas_intoto.verify import verify_bundle

    audit = verify_bundle(
        bundles.auditor.read_bytes(),
        layout_keys=[owner],
        artifacts_dir=work,
        source=str(bundles.auditor),
    )
    opened = sum(
        1 for r in audit.results if r.step is not None and "artifact(s) opened" in r.reason
    )
    say(
        f"6b. auditor: {'VERIFIED' if audit.ok else 'FAILED'} with the openings "
        f"({opened} step(s) with private artifacts opened and compared with the files)"
    )
    return bool(audit.ok) and not bundles.disclosed


def _confidential_summary(bundles: Any) -> Any:
    from atlas_intoto.confidential.demo import summary

    return summary(bundles)
