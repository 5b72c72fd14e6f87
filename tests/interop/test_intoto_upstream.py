"""Interoperability with the upstream in-toto tools (their console scripts, as subprocesses).

* A link made by ``atlas-intoto run`` passes upstream ``in-toto-verify`` against a plain in-toto
  layout (DSSE) signed here, and a tampered copy fails it.
* A link made by upstream ``in-toto-run --use-dsse`` loads and verifies through our API, and
  records exactly the digests our measurement computes.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_intoto.keys import generate_keypair, load_public_key, load_signer
from atlas_intoto.link import link_file_name, load_link
from atlas_intoto.measure import measure

BIN = Path(sys.executable).parent
ATLAS = BIN / "atlas-intoto"
IN_TOTO_VERIFY = BIN / "in-toto-verify"
IN_TOTO_RUN = BIN / "in-toto-run"

STEP_COMMAND = ["sh", "-c", "mkdir -p data && cp raw/a.txt data/b.txt && echo prepared"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for tool in (ATLAS, IN_TOTO_VERIFY, IN_TOTO_RUN):
        if not tool.exists():
            pytest.fail(f"{tool} missing: install the project with its dependencies")
    generate_keypair("owner", directory=tmp_path / "keys")
    generate_keypair("alice", directory=tmp_path / "keys")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_bytes(b"hello world\n")
    (tmp_path / "raw" / "sub").mkdir()
    (tmp_path / "raw" / "sub" / "c.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    return tmp_path


def _sign_layout(workdir: Path, *, expected_command: list[str]) -> Path:
    from in_toto.models.layout import Layout, Step
    from in_toto.models.metadata import Envelope

    alice = load_public_key(workdir / "keys" / "alice.pub")
    step = Step(
        name="prepare",
        pubkeys=[alice.keyid],
        expected_command=expected_command,
        expected_materials=[["ALLOW", "raw/*"], ["DISALLOW", "*"]],
        expected_products=[["CREATE", "data/b.txt"], ["DISALLOW", "*"]],
        threshold=1,
    )
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    layout = Layout(
        steps=[step],
        keys={alice.keyid: {**alice.to_dict(), "keyid": alice.keyid}},
        expires=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    envelope = Envelope.from_signable(layout)
    envelope.create_signature(load_signer(workdir / "keys" / "owner.key"))
    path = workdir / "root.layout"
    envelope.dump(str(path))
    return path


def _in_toto_verify(workdir: Path, link_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(IN_TOTO_VERIFY),
            "--layout",
            "root.layout",
            "--verification-keys",
            "keys/owner.pub",
            "--link-dir",
            str(link_dir),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )


def test_atlas_run_link_passes_upstream_in_toto_verify(workdir: Path) -> None:
    run = subprocess.run(
        [
            str(ATLAS),
            "run",
            "--json",
            "--step",
            "prepare",
            "--key",
            "keys/alice.key",
            "--materials",
            "raw",
            "--products",
            "data",
            "--",
            *STEP_COMMAND,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)  # exactly one JSON document: the command's echo went to stderr
    assert "prepared" in run.stderr
    keyid = load_public_key(workdir / "keys" / "alice.pub").keyid
    link_path = workdir / ".atlas" / link_file_name("prepare", keyid)
    assert doc["link"] == str(Path(".atlas") / link_path.name)
    assert link_path.is_file()

    _sign_layout(workdir, expected_command=STEP_COMMAND)
    verified = _in_toto_verify(workdir, workdir / ".atlas")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The upstream verifier is really checking: a link with a flipped payload byte fails it.
    tampered_dir = workdir / "tampered"
    tampered_dir.mkdir()
    envelope = json.loads(link_path.read_bytes())
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["products"]["data/b.txt"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    (tampered_dir / link_path.name).write_text(json.dumps(envelope))
    rejected = _in_toto_verify(workdir, tampered_dir)
    assert rejected.returncode == 1
    assert "ThresholdVerificationError" in rejected.stderr


def test_upstream_in_toto_run_link_verifies_through_our_api(workdir: Path) -> None:
    (workdir / "links").mkdir()
    run = subprocess.run(
        [
            str(IN_TOTO_RUN),
            "--step-name",
            "prepare",
            "--use-dsse",
            "--signing-key",
            "keys/alice.key",
            "--materials",
            "raw",
            "--products",
            "data",
            "--record-streams",
            "--metadata-directory",
            "links",
            "--",
            *STEP_COMMAND,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr

    alice = load_public_key(workdir / "keys" / "alice.pub")
    link_path = workdir / "links" / link_file_name("prepare", alice.keyid)
    loaded = load_link(link_path.read_bytes(), [alice], source=str(link_path))

    assert loaded.name == "prepare"
    assert loaded.signed_by == (alice.keyid,)
    assert loaded.command == STEP_COMMAND
    assert loaded.byproducts["return-value"] == 0
    assert "prepared" in loaded.byproducts["stdout"]
    assert loaded.materials == measure(["raw"], base_path=workdir)
    assert loaded.products == measure(["data"], base_path=workdir)
    assert set(loaded.materials) == {"raw/a.txt", "raw/sub/c.bin"}
    assert loaded.evidence is None


def test_our_measurement_equals_in_toto_record_artifacts(workdir: Path) -> None:
    from in_toto.runlib import record_artifacts_as_dict

    (workdir / "raw" / "link-to-a").symlink_to("a.txt")
    (workdir / "raw" / "deep" / "er").mkdir(parents=True)
    (workdir / "raw" / "deep" / "er" / "empty").write_bytes(b"")
    (workdir / "raw" / "skip.tmp").write_bytes(b"x")
    theirs = record_artifacts_as_dict(
        ["raw", "keys/alice.pub"],
        exclude_patterns=["*.tmp"],
        base_path=str(workdir),
        follow_symlink_dirs=True,
    )
    ours = measure(["raw", "keys/alice.pub"], base_path=workdir, exclude=["*.tmp"])
    assert ours == theirs
    assert list(ours) == sorted(ours)
