"""The whole atlas-intoto flow through the Python library API (no CLI), in one directory.

Run: ``python examples/library_quickstart.py [DIR]`` (DIR must be empty or absent; default: a
temp dir). Exit 0 when the bundle verifies and the tampered copy fails with FinalArtifactError.
See docs/LIBRARY.md for the walk-through.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from atlas_intoto.bundle import collect_evidence, serialize_bundle
from atlas_intoto.demo import embedded_log
from atlas_intoto.errors import (
    EvidenceError,
    FinalArtifactError,
    InputError,
    OperationalError,
    StepCommandFailed,
)
from atlas_intoto.fileio import atomic_write
from atlas_intoto.home import atlas_home
from atlas_intoto.keys import generate_keypair, load_signer
from atlas_intoto.layout import parse_layout, resolve_source, sign_layout, validate_document
from atlas_intoto.lineage import render, render_html
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import record_step, run_step
from atlas_intoto.tee.simulated import default_directory, ensure_platform
from atlas_intoto.verify import VerificationReport, verify_bundle

# run_step runs the command in this process's cwd, so the program finds its base itself.
TRAIN = """\
import hashlib, os, pathlib
os.chdir(pathlib.Path(__file__).resolve().parent.parent)
data = pathlib.Path("data/train.csv").read_bytes()
pathlib.Path("model").mkdir(exist_ok=True)
pathlib.Path("model/weights.bin").write_bytes(hashlib.sha256(data).digest() * 64)
"""


@dataclass(frozen=True, kw_only=True)
class QuickstartResult:
    bundle: Path
    report: VerificationReport
    tampered_report: VerificationReport


def layout_source(*, mrtd: str) -> dict[str, object]:
    """The layout as a Python dict; paths are relative to the directory given to resolve_source."""
    return {
        "apiVersion": "atlas-intoto/v1",
        "kind": "Layout",
        "expires": "2030-01-01T00:00:00Z",
        "readme": "library quickstart: prepare -> train",
        "functionaries": {"data-eng": "keys/data-eng.pub", "trainer": "keys/trainer.pub"},
        "trust": {
            "logs": [{"key": "keys/log.pub"}],
            "tee": {"roots": ["tee/sim-root.pem"], "allow_tcb_status": ["UpToDate"]},
            "c2pa": {"anchors": ["keys/ca.crt"]},
        },
        "steps": [
            {
                "name": "prepare",
                "functionaries": ["data-eng"],
                "materials": ["DISALLOW *"],
                "products": ["CREATE data/*", "DISALLOW *"],
                "tee": {"required": True, "mrtd": [mrtd]},
                "c2pa": {"required": True},
            },
            {
                "name": "train",
                "functionaries": ["trainer"],
                "materials": [
                    "MATCH data/train.csv WITH PRODUCTS FROM prepare",
                    "ALLOW src/*",
                    "DISALLOW *",
                ],
                "products": ["CREATE model/*", "DISALLOW *"],
                "tee": {"required": True, "mrtd": [mrtd]},
                "c2pa": {"required": True},
            },
        ],
    }


def run(directory: Path) -> QuickstartResult:
    keys, work, evidence = directory / "keys", directory / "work", directory / "evidence"

    # 1. Keys: NAME.key (0600), NAME.pub, NAME.crt (C2PA chain from a dev CA at keys/ca.crt).
    for name in ("owner", "data-eng", "trainer"):
        generate_keypair(name, directory=keys)

    # 2. The simulated TDX platform (persisted under atlas_home()); the layout pins its root + MRTD.
    platform = ensure_platform(default_directory(atlas_home()), now=int(time.time()))
    (directory / "tee").mkdir(parents=True, exist_ok=True)
    (directory / "tee" / "sim-root.pem").write_bytes(platform.root_pem)

    # 3. The embedded transparency log, in this process; stopped when the block exits.
    with embedded_log(directory / "log") as log:
        (keys / "log.pub").write_bytes(log.public_key_pem)

        # 4. The layout: validate, pin every key/certificate path, parse, sign by the owner.
        source = layout_source(mrtd=platform.mr_td.hex())
        validate_document(source, source="quickstart layout")
        pinned = resolve_source(source, base_dir=directory)
        parse_layout(pinned, source="quickstart layout")
        layout_file = directory / "quickstart.layout"
        atomic_write(layout_file, sign_layout(pinned, [load_signer(keys / "owner.key")]))

        # 5a. A step whose work happened in Python: record what is there now.
        (work / "data").mkdir(parents=True, exist_ok=True)
        (work / "data" / "train.csv").write_text("x,y\n1,0\n2,1\n3,1\n")
        #     One RecordingOptions says how steps are recorded: who signs, what is measured
        #     where, which evidence is added and where the link is published.
        options = RecordingOptions(
            key_path=keys / "data-eng.key",
            base_path=work,
            out_dir=evidence,
            tee="simulated",
            c2pa=True,
            log_url=log.url,
        )
        record_step(step="prepare", options=options, materials=[], products=["data"])

        # 5b. A step that is a command: run_step measures, runs, measures, attests, signs, logs.
        (work / "src").mkdir(parents=True, exist_ok=True)
        (work / "src" / "train.py").write_text(TRAIN)
        recorded = run_step(
            step="train",
            options=options.with_changes(key_path=keys / "trainer.key"),
            command=[sys.executable, str(work / "src" / "train.py")],
            materials=["data/train.csv", "src/train.py"],
            products=["model"],
        )
        print(f"train: {recorded.link_path.name}, log entry {recorded.log_entry_path}")

        # A failing command raises StepCommandFailed (an OperationalError); no link is written.
        try:
            run_step(
                step="train",
                options=RecordingOptions(
                    key_path=keys / "trainer.key", base_path=work, out_dir=directory / "discarded"
                ),
                command=[sys.executable, "-c", "raise SystemExit(3)"],
            )
        except StepCommandFailed as exc:
            print(f"failing command: {exc} (exit code {exc.exit_code})")

    # 6. The bundle: the signed layout plus every link, log entry, collateral and sidecar.
    bundle_path = directory / "model.atlas.json"
    envelope = json.loads(layout_file.read_bytes())
    atomic_write(
        bundle_path,
        serialize_bundle(collect_evidence(layout_envelope=envelope, evidence_dirs=[evidence])),
    )

    # 7. Verify offline with only the owner's public key; the report has one row per check.
    data = bundle_path.read_bytes()
    owner_pub = (keys / "owner.pub").read_bytes()
    report = verify_bundle(data, layout_keys=[owner_pub], artifacts_dir=work, source="quickstart")
    print(report.text())
    for lineage in report.steps:
        print(f"{lineage.step}: by {', '.join(lineage.functionaries)}, log #{lineage.log_index}")

    # 8. Render the lineage: text/json/dot/html.
    print(render(data, fmt="text", report=report, source=bundle_path.name))
    atomic_write(directory / "report.html", render_html(data, report=report).encode())

    # 9. A tampered copy of the final artifact fails; the row names the errors.py class.
    tampered = directory / "tampered"
    shutil.copytree(work / "model", tampered / "model")
    (tampered / "model" / "weights.bin").write_bytes(b"swapped")
    bad = verify_bundle(data, layout_keys=[owner_pub], artifacts_dir=tampered, source="quickstart")
    first = bad.first_failure
    if first is not None and first.error_class is not None:
        kind = "evidence" if issubclass(first.error_class, EvidenceError) else "operational"
        print(f"tampered: {first.check} failed ({first.error}, {kind}): {first.reason}")

    # 10. Malformed input is not a verdict about evidence: verify_bundle raises InputError.
    try:
        verify_bundle(b"not a bundle", layout_keys=[owner_pub])
    except InputError as exc:
        print(f"garbage bundle: {type(exc).__name__}: {exc}")

    return QuickstartResult(bundle=bundle_path, report=report, tampered_report=bad)


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="atlas-quickstart-"))
    try:
        result = run(directory)
    except OperationalError as exc:  # usage, I/O, network: nothing learned about evidence
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    first = result.tampered_report.first_failure
    detected = first is not None and first.error_class is FinalArtifactError
    return 0 if result.report.ok and detected else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
