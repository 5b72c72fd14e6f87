"""A link with private artifacts (salted commitments) is still an in-toto link: upstream
``in-toto-verify`` (a subprocess) accepts it against a layout whose rules name the committed
names, and rejects it when the rule expects the clear path."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_intoto.confidential.secret import generate_secret
from atlas_intoto.keys import generate_keypair, load_public_key, load_signer

BIN = Path(sys.executable).parent
ATLAS = BIN / "atlas-intoto"
IN_TOTO_VERIFY = BIN / "in-toto-verify"
COMMAND = ["sh", "-c", "mkdir -p data && cp raw/a.txt data/b.txt"]


def _layout(workdir: Path, products: list[list[str]]) -> None:
    from in_toto.models.layout import Layout, Step
    from in_toto.models.metadata import Envelope

    alice = load_public_key(workdir / "keys" / "alice.pub")
    step = Step(
        name="prepare",
        pubkeys=[alice.keyid],
        expected_command=COMMAND,
        expected_materials=[["ALLOW", "raw/*"], ["DISALLOW", "*"]],
        expected_products=products,
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
    envelope.dump(str(workdir / "root.layout"))


def _verify(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(IN_TOTO_VERIFY),
            "--layout",
            "root.layout",
            "--verification-keys",
            "keys/owner.pub",
            "--link-dir",
            ".atlas",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )


def test_committed_link_passes_upstream_in_toto_verify(tmp_path: Path) -> None:
    for tool in (ATLAS, IN_TOTO_VERIFY):
        if not tool.exists():
            pytest.fail(f"{tool} missing: install the project with its dependencies")
    for name in ("owner", "alice"):
        generate_keypair(name, directory=tmp_path / "keys")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_bytes(b"confidential rows\n")
    generate_secret(tmp_path / "pipeline.secret")
    run = subprocess.run(
        [
            str(ATLAS),
            "run",
            "--step",
            "prepare",
            "--key",
            "keys/alice.key",
            "--private",
            "data/*",
            "--private-secret",
            "pipeline.secret",
            "--materials",
            "raw",
            "--products",
            "data",
            "--",
            *COMMAND,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    _layout(tmp_path, [["CREATE", "private/*"], ["DISALLOW", "*"]])
    verified = _verify(tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    _layout(tmp_path, [["CREATE", "data/b.txt"], ["DISALLOW", "*"]])
    rejected = _verify(tmp_path)
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert "RuleVerificationError" in rejected.stderr
