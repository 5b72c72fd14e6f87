"""Export to upstream in-toto: in-toto-verify accepts the export with our links."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from layout_helpers import REPO, signed_envelope

from atlas_intoto.keys import load_signer
from atlas_intoto.layout import export_intoto, layout_payload


def test_export_accepted_by_upstream_in_toto_verify(project: Path, tmp_path: Path) -> None:
    from in_toto.models.link import Link
    from in_toto.models.metadata import Envelope

    envelope = signed_envelope(project)
    layout = layout_payload(envelope)
    exported = project / "root.layout"
    exported.write_bytes(export_intoto(layout, [load_signer(project / "keys" / "owner.key")]))
    links = project / "links"
    links.mkdir()
    data = {"data/train.csv": {"sha256": "aa" * 32}}
    for step, key, materials, products, command in (
        ("prepare", "data-eng", {"raw/x": {"sha256": "bb" * 32}}, data, ["python", "prepare.py"]),
        (
            "train",
            "trainer",
            {**data, "train.py": {"sha256": "cc" * 32}},
            {"model/m.npz": {"sha256": "dd" * 32}},
            ["python", "train.py"],
        ),
    ):
        signer = load_signer(project / "keys" / f"{key}.key")
        link = Link(
            name=step,
            materials=materials,
            products=products,
            command=command,
            byproducts={},
            environment={"atlas-intoto": {"version": 1}},
        )
        env = Envelope.from_signable(link)
        env.create_signature(signer)
        (links / f"{step}.{signer.public_key.keyid[:8]}.link").write_text(json.dumps(env.to_dict()))
    verify = Path(sys.executable).parent / "in-toto-verify"
    run = subprocess.run(
        [
            str(verify),
            "--layout",
            str(exported),
            "--verification-keys",
            str(project / "keys" / "owner.pub"),
            "--link-dir",
            str(links),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    # A product that violates the rules makes upstream fail too: the export carries the rules.
    bad = links / next(p.name for p in links.iterdir() if p.name.startswith("train"))
    signer = load_signer(project / "keys" / "trainer.key")
    link = Link(
        name="train",
        materials=data,
        products={"evil.sh": {"sha256": "ee" * 32}},
        command=["python", "train.py"],
        byproducts={},
        environment={},
    )
    env = Envelope.from_signable(link)
    env.create_signature(signer)
    bad.write_text(json.dumps(env.to_dict()))
    run = subprocess.run(
        [
            str(verify),
            "--layout",
            str(exported),
            "--verification-keys",
            str(project / "keys" / "owner.pub"),
            "--link-dir",
            str(links),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0


def test_export_unsigned_is_metablock(project: Path) -> None:
    data = json.loads(export_intoto(layout_payload(signed_envelope(project))))
    assert data["signatures"] == [] and data["signed"]["_type"] == "layout"
    assert [s["name"] for s in data["signed"]["steps"]] == ["prepare", "train"]


def test_export_accepts_links_recorded_by_step_py(tmp_path: Path) -> None:
    """The export plus the links `atlas-intoto run/record` writes pass upstream in-toto-verify."""
    sys.path.insert(0, str(REPO / "tests" / "verify"))
    from bundle_builder import build_pipeline

    pipeline = build_pipeline(tmp_path / "p")
    layout = layout_payload(json.loads(pipeline.layout_file.read_bytes()))
    exported = tmp_path / "root.layout"
    exported.write_bytes(export_intoto(layout, [load_signer(pipeline.keys / "owner.key")]))
    verify = Path(sys.executable).parent / "in-toto-verify"
    argv = [
        str(verify),
        "--layout",
        str(exported),
        "--verification-keys",
        str(pipeline.keys / "owner.pub"),
        "--link-dir",
        str(pipeline.evidence),
    ]
    run = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    # and it fails when a link is missing
    next(pipeline.evidence.glob("train.*.link")).unlink()
    assert subprocess.run(argv, capture_output=True, check=False).returncode != 0
