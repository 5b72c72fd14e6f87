"""Re-runs: the previous link moves aside, bundle create picks the consistent set and names what
it leaves out; undeclared steps are refused with a hint."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from atlas_intoto.cli import main
from atlas_intoto.errors import InputError
from atlas_intoto.keys import generate_keypair, load_public_key
from atlas_intoto.layout import load_signed_layout
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.rerun import SUPERSEDED_DIR, collect_consistent
from atlas_intoto.step import run_step
from atlas_intoto.verify import verify_bundle

LAYOUT = """\
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2035-01-01T00:00:00Z"
functionaries: {alice: keys/alice.pub}
{trust}
steps:
  - name: make
    functionaries: [alice]
    materials: ["ALLOW src/*", "DISALLOW *"]
    products: ["CREATE out/*", "DISALLOW *"]
  - name: use
    functionaries: [alice]
    materials: ["MATCH out/* WITH PRODUCTS FROM make", "DISALLOW *"]
    products: ["CREATE final/*", "DISALLOW *"]
"""


#: ``bundle create`` of the workspace's layout and evidence (output options follow)
BUNDLE_CREATE = ["bundle", "create", "--layout", "layout.json", "--evidence", ".atlas"]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    generate_keypair("alice", directory=tmp_path / "keys")
    generate_keypair("owner", directory=tmp_path / "keys")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "value.txt").write_text("1\n")
    return tmp_path


def sign_layout(ws: Path, trust: str = "") -> Path:
    (ws / "layout.yaml").write_text(LAYOUT.replace("{trust}", trust))
    code = main(
        ["layout", "sign", "layout.yaml", "--key", "keys/owner.key", "--out", "layout.json"]
    )
    assert code == 0
    return ws / "layout.json"


def options(ws: Path, **changes: Any) -> RecordingOptions:
    return RecordingOptions(key_path=ws / "keys" / "alice.key", **changes)


def make(ws: Path, **changes: Any) -> Any:
    code = "import os, shutil; os.makedirs('out', exist_ok=True); shutil.copy('src/value.txt', 'out/v.txt')"
    return run_step(
        step="make",
        options=options(ws, **changes),
        command=[sys.executable, "-c", code],
        materials=["src"],
        products=["out"],
        echo_stdout=io.StringIO(),
    )


def use(ws: Path, **changes: Any) -> Any:
    code = "import os, shutil; os.makedirs('final', exist_ok=True); shutil.copy('out/v.txt', 'final/v.txt')"
    return run_step(
        step="use",
        options=options(ws, **changes),
        command=[sys.executable, "-c", code],
        materials=["out"],
        products=["final"],
        echo_stdout=io.StringIO(),
    )


def bundle_and_verify(ws: Path, layout: Path) -> tuple[Any, Any]:
    envelope, _ = load_signed_layout(layout)
    collection = collect_consistent(layout_envelope=envelope, evidence_dirs=[ws / ".atlas"])
    from atlas_intoto.bundle import serialize_bundle

    report = verify_bundle(
        serialize_bundle(collection.bundle),
        layout_keys=[(ws / "keys" / "owner.pub").read_bytes()],
    )
    return collection, report


def test_rerun_moves_the_previous_link_and_its_evidence_aside(ws: Path) -> None:
    first = make(ws)
    second = make(ws)
    kid8 = load_public_key(ws / "keys" / "alice.pub").keyid[:8]
    moved = ws / ".atlas" / SUPERSEDED_DIR / f"make.{kid8}" / "1" / f"make.{kid8}.link"
    assert second.superseded == Path(".atlas") / SUPERSEDED_DIR / f"make.{kid8}" / "1"
    assert moved.read_bytes() == first.envelope
    assert second.link_path.read_bytes() == second.envelope
    # the run's Statement (Sigstore bundle) moves with its link
    assert moved.with_name(f"make.{kid8}.sigstore.json").is_file()


def test_identical_rerun_followed_by_downstream_verifies_and_names_the_old_links(
    ws: Path,
) -> None:
    layout = sign_layout(ws)
    make(ws)
    use(ws)
    make(ws)
    use(ws)
    collection, report = bundle_and_verify(ws, layout)
    assert report.ok, report.text()
    assert len(collection.bundle.links) == 2
    assert len(collection.ignored) == 2
    assert all(SUPERSEDED_DIR in str(path) for path, _ in collection.ignored)


def test_rerun_with_new_outputs_without_downstream_keeps_what_downstream_consumed(
    ws: Path,
) -> None:
    layout = sign_layout(ws)
    old = make(ws)
    use(ws)
    (ws / "src" / "value.txt").write_text("2\n")
    make(ws)
    collection, report = bundle_and_verify(ws, layout)
    assert report.ok, report.text()
    chosen = {link.step: link.envelope for link in collection.bundle.links}
    assert chosen["make"] == old.envelope
    ((path, reason),) = collection.ignored
    assert path.parent == ws / ".atlas" and "not what step use consumed" in reason


def test_logged_identical_rerun_after_downstream_picks_the_run_logged_before_it(
    ws: Path,
) -> None:
    from helpers import log_on

    with log_on(ws / "log") as (url, log_pem):
        (ws / "log.pub").write_bytes(log_pem)
        layout = sign_layout(ws, "trust: {logs: [{key: log.pub}]}")
        old = make(ws, log_url=url)
        use(ws, log_url=url)
        make(ws, log_url=url)  # identical outputs, logged after `use`
    collection, report = bundle_and_verify(ws, layout)
    assert report.ok, report.text()
    chosen = {link.step: link.envelope for link in collection.bundle.links}
    assert chosen["make"] == old.envelope
    ((_, reason),) = collection.ignored
    assert "recorded after the chosen run of step use" in reason


def test_failed_rerun_restores_the_previous_link(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make(ws)

    def broken(**kwargs: Any) -> bytes:
        raise OSError("disk on fire")

    monkeypatch.setattr("atlas_intoto.step.sign_link", broken)
    with pytest.raises(OSError):
        make(ws)
    assert first.link_path.read_bytes() == first.envelope
    assert not (ws / ".atlas" / SUPERSEDED_DIR).exists() or not any(
        p.is_file() for p in (ws / ".atlas" / SUPERSEDED_DIR).rglob("*")
    )


def test_bundle_create_refuses_an_undeclared_step_with_a_hint(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = sign_layout(ws)
    run_step(
        step="mkae",
        options=options(ws),
        command=[sys.executable, "-c", "pass"],
        echo_stdout=io.StringIO(),
    )
    envelope, _ = load_signed_layout(layout)
    with pytest.raises(
        InputError, match=r"step 'mkae' is not declared in the layout \(did you mean 'make'\?\)"
    ):
        collect_consistent(layout_envelope=envelope, evidence_dirs=[ws / ".atlas"])
    code = main([*BUNDLE_CREATE, "--out", "b.json", "--json"])
    assert code == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert "did you mean 'make'" in error["message"]


def test_cli_bundle_create_names_links_left_out(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_layout(ws)
    make(ws)
    use(ws)
    make(ws)
    use(ws)
    capsys.readouterr()
    code = main([*BUNDLE_CREATE, "--out", "b.json", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["links"] == 2 and len(doc["ignored"]) == 2
    assert "left out" in captured.err


def test_cli_bundle_create_warns_about_links_not_yet_in_a_log(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import free_port

    from atlas_intoto.errors import PublishPendingError

    sign_layout(ws)
    with pytest.raises(PublishPendingError):
        make(ws, log_url=f"http://127.0.0.1:{free_port()}", log_retries=0)
    capsys.readouterr()
    code = main([*BUNDLE_CREATE, "--out", "b.json", "--json"])
    assert code == 0
    captured = capsys.readouterr()
    (unpublished,) = json.loads(captured.out)["unpublished"]
    assert unpublished.endswith(".link") and "is not in a log yet" in captured.err


@pytest.mark.parametrize("bundle_format", ["v1", "v2"])
def test_cli_bundle_of_a_rerun_with_new_outputs_verifies_in_both_formats(
    ws: Path, bundle_format: str
) -> None:
    sign_layout(ws)
    make(ws)
    use(ws)
    (ws / "src" / "value.txt").write_text("2\n")
    make(ws)  # its new output was never consumed: the bundle keeps the run `use` consumed
    assert main([*BUNDLE_CREATE, "--format", bundle_format, "--out", "b.json"]) == 0
    report = verify_bundle(
        (ws / "b.json").read_bytes(), layout_keys=[(ws / "keys" / "owner.pub").read_bytes()]
    )
    assert report.ok, report.text()
