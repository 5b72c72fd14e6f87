"""Step recording: run / record start / record stop, evidence hooks, atomicity, bad input."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.binding import step_binding_digest
from atlas_intoto.cli import main
from atlas_intoto.errors import (
    CommandError,
    FeatureUnavailableError,
    InputError,
    KeyLoadError,
    NetworkError,
    OutputError,
    PublishPendingError,
    StepCommandFailed,
    UsageError,
)
from atlas_intoto.keys import generate_keypair, load_public_key
from atlas_intoto.link import link_file_name, load_link
from atlas_intoto.recording import RecordingOptions
from atlas_intoto.step import (
    pending_path,
    record_start,
    record_step,
    record_stop,
    run_step,
)

COPY = [sys.executable, "-c", "import shutil; shutil.copy('raw/a.txt', 'out/b.txt'); print('ok')"]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (also the cwd) with a key pair, raw/ materials and an out/ directory."""
    monkeypatch.chdir(tmp_path)
    generate_keypair("alice", directory=tmp_path / "keys")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.txt").write_bytes(b"alpha\n")
    (tmp_path / "out").mkdir()
    return tmp_path


def keyid(ws: Path) -> str:
    return str(load_public_key(ws / "keys" / "alice.pub").keyid)


def files_under(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


OPTION_FIELDS = {f.name for f in fields(RecordingOptions)}


def alice(ws: Path, **changes: Any) -> RecordingOptions:
    return RecordingOptions(**{"key_path": ws / "keys" / "alice.key", **changes})


def run(ws: Path, **kwargs: Any) -> Any:
    """run_step with test defaults; RecordingOptions fields among ``kwargs`` go to options."""
    changes = {name: kwargs.pop(name) for name in list(kwargs) if name in OPTION_FIELDS}
    arguments: dict[str, Any] = {
        "step": "prepare",
        "command": COPY,
        "materials": ["raw"],
        "products": ["out"],
        "echo_stdout": io.StringIO(),
        "echo_stderr": io.StringIO(),
    }
    arguments.update(kwargs)
    return run_step(options=alice(ws, **changes), **arguments)


# --- the link ------------------------------------------------------------------------------------


def test_run_writes_a_verifiable_link_with_evidence_block(ws: Path) -> None:
    recorded = run(ws)
    kid = keyid(ws)
    assert recorded.link_path == Path(".atlas") / link_file_name("prepare", kid)
    assert recorded.link_path.read_bytes() == recorded.envelope
    # the v0.9 link and the same step as a Statement v1 in a Sigstore bundle
    assert files_under(ws / ".atlas") == [
        f"prepare.{kid[:8]}.link",
        f"prepare.{kid[:8]}.sigstore.json",
    ]

    loaded = load_link(recorded.envelope, [load_public_key(ws / "keys" / "alice.pub")])
    digest = {"sha256": hashlib.sha256(b"alpha\n").hexdigest()}
    assert loaded.materials == {"raw/a.txt": digest}
    assert loaded.products == {"out/b.txt": digest}
    assert list(loaded.command) == COPY
    # Bounded byproducts: digests and sizes of the streams, not their text (--record-output).
    assert loaded.byproducts == {
        "stdout-sha256": hashlib.sha256(b"ok\n").hexdigest(),
        "stdout-size": 3,
        "stderr-sha256": hashlib.sha256(b"").hexdigest(),
        "stderr-size": 0,
        "return-value": 0,
    }
    binding = step_binding_digest(
        step="prepare",
        materials=loaded.materials,
        products=loaded.products,
        command=COPY,
        keyid=kid,
    )
    assert recorded.binding == binding
    assert loaded.environment == {"atlas-intoto": {"version": 2, "binding": binding.hex()}}

    envelope = json.loads(recorded.envelope)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"]))["_type"] == "link"


def test_command_output_is_echoed(ws: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    cmd = [sys.executable, "-c", "import sys; print('to-out'); print('to-err', file=sys.stderr)"]
    recorded = run(
        ws, command=cmd, echo_stdout=out, echo_stderr=err, products=[], record_output=True
    )
    assert out.getvalue() == "to-out\n" and err.getvalue() == "to-err\n"
    loaded = load_link(recorded.envelope, [load_public_key(ws / "keys" / "alice.pub")])
    assert loaded.byproducts["stderr"] == "to-err\n"
    assert loaded.byproducts["stderr-truncated"] is False


def test_evidence_directory_inside_base_is_never_measured(ws: Path) -> None:
    run(ws, step="first")
    recorded = run(ws, step="second", materials=["."], products=["."])
    assert not any(name.startswith(".atlas/") for name in recorded.materials)
    assert "keys/alice.pub" in recorded.materials
    custom = run(ws, step="third", materials=["."], out_dir=Path("evidence"))
    assert not any(name.startswith("evidence/") for name in custom.materials)


def test_record_step_records_work_done_elsewhere(ws: Path) -> None:
    (ws / "out" / "b.txt").write_bytes(b"trained")
    recorded = record_step(
        step="train",
        options=alice(ws, base_path=ws, out_dir=ws / "ev"),
        materials=["raw"],
        products=["out"],
        command=["python", "train.py"],
        byproducts={"epochs": 3},
    )
    loaded = load_link(recorded.envelope, [load_public_key(ws / "keys" / "alice.pub")])
    assert loaded.command == ["python", "train.py"] and loaded.byproducts == {"epochs": 3}
    assert set(loaded.products) == {"out/b.txt"}


# --- failed and missing commands -------------------------------------------------------------


def test_failed_command_writes_nothing_and_carries_its_exit_code(ws: Path) -> None:
    cmd = [sys.executable, "-c", "import sys; sys.exit(3)"]
    with pytest.raises(StepCommandFailed) as exc:
        run(ws, command=cmd)
    assert exc.value.returncode == 3 and exc.value.exit_code == 3
    assert files_under(ws / ".atlas") == []


def test_command_killed_by_signal_exits_128_plus_signal(ws: Path) -> None:
    cmd = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]
    with pytest.raises(StepCommandFailed) as exc:
        run(ws, command=cmd)
    assert exc.value.exit_code == 128 + signal.SIGTERM


def test_nonexistent_command_is_a_command_error_and_writes_nothing(ws: Path) -> None:
    with pytest.raises(CommandError, match="no-such-command-xyz: command not found"):
        run(ws, command=["no-such-command-xyz"])
    assert files_under(ws / ".atlas") == []
    (ws / "not-exec").write_text("#!/bin/sh\n")
    with pytest.raises(CommandError, match="not executable"):
        run(ws, command=[str(ws / "not-exec")])
    with pytest.raises(UsageError, match="no command"):
        run(ws, command=[])


@pytest.mark.parametrize("name", ["", "a/b", ".hidden"])
def test_bad_step_names_are_usage_errors(ws: Path, name: str) -> None:
    with pytest.raises(UsageError, match="--step"):
        run(ws, step=name)


def test_bad_key_fails_before_the_command_runs(ws: Path) -> None:
    (ws / "garbage.key").write_bytes(b"not a key")
    marker = ws / "ran"
    cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    with pytest.raises(KeyLoadError):
        run(ws, key_path=ws / "garbage.key", command=cmd)
    assert not marker.exists()


def test_unwritable_output_directory_fails_before_the_command_runs(ws: Path) -> None:
    (ws / "file").write_text("x")
    marker = ws / "ran"
    cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    with pytest.raises(OutputError, match="cannot create output directory"):
        run(ws, out_dir=ws / "file" / "sub", command=cmd)
    assert not marker.exists()


def test_missing_materials_fail_before_the_command_runs(ws: Path) -> None:
    marker = ws / "ran"
    cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    with pytest.raises(InputError, match="nope: not found"):
        run(ws, materials=["nope"], command=cmd)
    assert not marker.exists()


# --- record start / stop -------------------------------------------------------------------------


def test_record_start_and_stop(ws: Path) -> None:
    pending = record_start(step="edit", options=alice(ws, exclude=("*.tmp",)), materials=["raw"])
    assert pending == pending_path(Path(".atlas"), "edit", keyid(ws))
    state = json.loads(pending.read_bytes())
    assert state["materials"] == {"raw/a.txt": {"sha256": hashlib.sha256(b"alpha\n").hexdigest()}}
    (ws / "raw" / "a.txt").write_bytes(b"edited")
    (ws / "raw" / "x.tmp").write_bytes(b"excluded at start, so at stop too")
    recorded = record_stop(step="edit", options=alice(ws), products=["raw"])
    assert not pending.exists()
    loaded = load_link(recorded.envelope, [load_public_key(ws / "keys" / "alice.pub")])
    assert loaded.command == [] and loaded.byproducts == {}
    assert loaded.materials == state["materials"]
    assert loaded.products == {"raw/a.txt": {"sha256": hashlib.sha256(b"edited").hexdigest()}}
    assert files_under(ws / ".atlas") == [
        f"edit.{keyid(ws)[:8]}.link",
        f"edit.{keyid(ws)[:8]}.sigstore.json",
    ]


def test_record_stop_without_start_is_an_input_error(ws: Path) -> None:
    with pytest.raises(InputError, match="run 'record start' first"):
        record_stop(step="edit", options=alice(ws), products=["raw"])
    assert files_under(ws / ".atlas") == []


def test_record_stop_with_another_key_finds_no_pending_record(ws: Path) -> None:
    record_start(step="edit", options=alice(ws), materials=["raw"])
    generate_keypair("bob", directory=ws / "keys")
    bob = RecordingOptions(key_path=ws / "keys" / "bob.key")
    with pytest.raises(InputError, match="no pending record"):
        record_stop(step="edit", options=bob, products=["raw"])


def test_corrupt_pending_record_is_an_input_error(ws: Path) -> None:
    pending = record_start(step="edit", options=alice(ws), materials=["raw"])
    pending.write_text('{"version": 1, "step": "edit"')
    with pytest.raises(InputError, match="invalid JSON"):
        record_stop(step="edit", options=alice(ws), products=["raw"])
    pending.write_text(json.dumps({"version": 1, "step": "edit", "keyid": keyid(ws)}))
    with pytest.raises(InputError, match="materials is malformed"):
        record_stop(step="edit", options=alice(ws), products=["raw"])


# --- evidence hooks (fakes of the TEE, C2PA and Rekor client entry points) ---------------------


@dataclass(frozen=True, kw_only=True)
class FakeTeeEvidence:
    type: str
    quote: bytes
    nonce: bytes
    collateral: bytes

    @property
    def quote_sha256(self) -> str:
        return hashlib.sha256(self.quote).hexdigest()


#: What the fake log answers: a Rekor LogEntry in shape (nothing here verifies it).
FAKE_ENTRY = {
    "ab" * 32: {
        "body": "e30=",
        "logID": "00" * 32,
        "logIndex": 7,
        "integratedTime": 1700000000,
        "verification": {
            "signedEntryTimestamp": "AA==",
            "inclusionProof": {
                "logIndex": 7,
                "rootHash": "00" * 32,
                "treeSize": 8,
                "hashes": [],
                "checkpoint": "log - 1\n8\nAA==\n",
            },
        },
    }
}


class Hooks:
    """Replaces ``atlas_intoto.tee.attest``, ``atlas_intoto.c2pa.sign_products`` and
    ``atlas_intoto.tlog.client.RekorClient`` for one test, recording how they were called."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, Any] = {}
        self.publish_error: Exception | None = None
        hooks = self

        class RekorClient:
            def __init__(self, url: str) -> None:
                hooks.calls["rekor_url"] = url

            def publish_dsse(self, envelope: bytes, public_key_pem: bytes) -> dict[str, Any]:
                # the link is published first, then the step's Statement
                hooks.calls.setdefault("publish", (envelope, public_key_pem))
                hooks.calls.setdefault("published", []).append(envelope)
                if hooks.publish_error is not None:
                    raise hooks.publish_error
                return FAKE_ENTRY

            def close(self) -> None:
                hooks.calls["closed"] = True

        monkeypatch.setattr("atlas_intoto.tee.attest", self.attest)
        monkeypatch.setattr("atlas_intoto.c2pa.sign_products", self.sign_products)
        monkeypatch.setattr("atlas_intoto.tlog.client.RekorClient", RekorClient)

    def attest(self, kind: str, **kwargs: Any) -> FakeTeeEvidence:
        self.calls["attest"] = (kind, kwargs)
        return FakeTeeEvidence(
            type="simulated-tdx", quote=b"QUOTE", nonce=b"\x01" * 32, collateral=b'{"c": 1}'
        )

    def sign_products(self, **kwargs: Any) -> dict[str, dict[str, str]]:
        self.calls["c2pa"] = kwargs
        result = {}
        for product in kwargs["products"]:
            sidecar = kwargs["evidence_dir"] / "c2pa" / f"{product}.c2pa"
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            sidecar.write_bytes(b"manifest " + product.encode())
            result[product] = {
                "sidecar": f"c2pa/{product}.c2pa",
                "sha256": hashlib.sha256(sidecar.read_bytes()).hexdigest(),
            }
        return result


def test_hooks_are_called_per_interfaces_and_evidence_lands_in_the_link(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = Hooks(monkeypatch)
    recorded = run(
        ws,
        tee="simulated",
        tee_collateral_url="https://pccs.example/",
        c2pa=True,
        log_url="http://127.0.0.1:9/",
    )
    kid = keyid(ws)
    kind, tee_kwargs = hooks.calls["attest"]
    assert kind == "simulated"
    assert tee_kwargs == {
        "binding": recorded.binding,
        "home": Path(os.environ["ATLAS_INTOTO_HOME"]),
        "collateral_url": "https://pccs.example/",
    }
    c2pa_kwargs = hooks.calls["c2pa"]
    assert c2pa_kwargs["quote_digest"] == hashlib.sha256(b"QUOTE").hexdigest()
    assert c2pa_kwargs["binding"] == recorded.binding and c2pa_kwargs["step"] == "prepare"
    assert c2pa_kwargs["products"] == recorded.products
    assert c2pa_kwargs["materials"] == recorded.materials
    assert c2pa_kwargs["key_path"] == ws / "keys" / "alice.key"
    assert c2pa_kwargs["cert_chain_path"] == ws / "keys" / "alice.crt"
    assert c2pa_kwargs["evidence_dir"] == Path(".atlas")
    assert hooks.calls["rekor_url"] == "http://127.0.0.1:9/"
    envelope, pem = hooks.calls["publish"]
    assert envelope == recorded.envelope
    assert pem == (ws / "keys" / "alice.pub").read_bytes()
    assert hooks.calls["closed"] is True

    evidence = load_link(recorded.envelope, [load_public_key(ws / "keys" / "alice.pub")]).evidence
    assert evidence is not None
    assert evidence["version"] == 2 and evidence["binding"] == recorded.binding.hex()
    assert evidence["evidence"] == [
        {
            "kind": "tdx",
            "type": "simulated-tdx",
            "quote": base64.b64encode(b"QUOTE").decode(),
            "nonce": "01" * 32,
            "blobs": {
                "collateral": {
                    "path": f"tee/prepare.{kid[:8]}.collateral.json",
                    "sha256": hashlib.sha256(b'{"c": 1}').hexdigest(),
                }
            },
        }
    ]
    assert "tee" not in evidence
    assert evidence["c2pa"] == {
        "out/b.txt": {
            "sidecar": "c2pa/out/b.txt.c2pa",
            "sha256": hashlib.sha256(b"manifest out/b.txt").hexdigest(),
        }
    }
    assert files_under(ws / ".atlas") == sorted(
        [
            "c2pa/out/b.txt.c2pa",
            f"prepare.{kid[:8]}.link",
            f"prepare.{kid[:8]}.logentry.json",
            f"prepare.{kid[:8]}.sigstore.json",
            f"tee/prepare.{kid[:8]}.collateral.json",
        ]
    )
    assert recorded.collateral_path == Path(".atlas") / f"tee/prepare.{kid[:8]}.collateral.json"
    assert recorded.blob_paths == {"tdx": {"collateral": recorded.collateral_path}}
    log_entry = json.loads((ws / ".atlas" / f"prepare.{kid[:8]}.logentry.json").read_bytes())
    assert log_entry == FAKE_ENTRY
    assert len(hooks.calls["published"]) == 2  # the link and the Statement
    bundle = json.loads((ws / ".atlas" / f"prepare.{kid[:8]}.sigstore.json").read_bytes())
    assert bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"] == "7"
    assert recorded.log_entry_path == Path(".atlas") / f"prepare.{kid[:8]}.logentry.json"


def test_failure_after_hooks_leaves_no_link_and_removes_sidecars(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = Hooks(monkeypatch)

    def broken(**kwargs: Any) -> bytes:
        raise OSError("signing failed")

    monkeypatch.setattr("atlas_intoto.step.sign_link", broken)
    with pytest.raises(OSError):
        run(ws, tee="simulated", c2pa=True, log_url="http://127.0.0.1:9/")
    assert "publish" not in hooks.calls
    assert files_under(ws / ".atlas") == []


def test_log_failure_after_the_link_is_written_keeps_everything_pending(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = Hooks(monkeypatch)
    hooks.publish_error = NetworkError("http://127.0.0.1:9/: connection refused")
    with pytest.raises(PublishPendingError, match="finish with: atlas-intoto log publish"):
        run(ws, tee="simulated", c2pa=True, log_url="http://127.0.0.1:9/", log_retries=0)
    kid = keyid(ws)
    assert files_under(ws / ".atlas") == sorted(
        [
            f".publish-pending/prepare.{kid[:8]}.json",
            "c2pa/out/b.txt.c2pa",
            f"prepare.{kid[:8]}.link",
            f"prepare.{kid[:8]}.sigstore.json",
            f"tee/prepare.{kid[:8]}.collateral.json",
        ]
    )


def test_none_and_off_paths_do_not_import_integrations(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry makes any import of these modules fail: the off paths must not try.
    for module in ("atlas_intoto.tee", "atlas_intoto.c2pa", "atlas_intoto.tlog.client"):
        monkeypatch.setitem(sys.modules, module, None)
    recorded = run(ws, tee="none", c2pa=False, log_url=None)
    assert recorded.log_entry_path is None and recorded.collateral_path is None


@pytest.mark.parametrize(
    ("option", "module"),
    [
        ({"tee": "simulated"}, "atlas_intoto.tee"),
        ({"tee": "tdx"}, "atlas_intoto.tee"),
        ({"c2pa": True}, "atlas_intoto.c2pa"),
        ({"log_url": "http://127.0.0.1:9/"}, "atlas_intoto.tlog.client"),
    ],
)
def test_missing_integration_is_a_clear_operational_error_before_running(
    ws: Path, monkeypatch: pytest.MonkeyPatch, option: dict[str, Any], module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    marker = ws / "ran"
    cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    with pytest.raises(FeatureUnavailableError, match=module.replace(".", r"\.")):
        run(ws, command=cmd, **option)
    assert not marker.exists()
    assert files_under(ws / ".atlas") == []


def test_unknown_tee_kind_is_a_usage_error(ws: Path) -> None:
    with pytest.raises(UsageError, match="--tee"):
        run(ws, tee="sgx")


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_run_json_keeps_stdout_clean(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "run",
            "--json",
            "--step",
            "prepare",
            "--key",
            "keys/alice.key",
            "--materials",
            "raw",
            "--products",
            "out",
            "--",
            *COPY,
        ]
    )
    assert code == 0
    captured = capfd.readouterr()
    doc = json.loads(captured.out)
    assert doc["link"] == str(Path(".atlas") / link_file_name("prepare", keyid(ws)))
    assert doc["command"] == COPY and doc["keyid"] == keyid(ws)
    assert "ok\n" in captured.err


def test_cli_failed_command_exits_with_its_code(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "--step",
            "prepare",
            "--key",
            "keys/alice.key",
            "--",
            sys.executable,
            "-c",
            "import sys; sys.exit(5)",
        ]
    )
    assert code == 5
    err = capfd.readouterr().err
    assert err.strip().splitlines() == [
        f"atlas-intoto: error: step prepare: command {sys.executable!r} exited with code 5; "
        "no link written"
    ]
    assert files_under(ws / ".atlas") == []


def test_cli_record_start_and_stop(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["record", "start", "--step", "s", "--key", "keys/alice.key", "--materials", "raw"])
        == 0
    )
    assert (
        main(
            [
                "record",
                "stop",
                "--step",
                "s",
                "--key",
                "keys/alice.key",
                "--products",
                "raw",
                "--json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert Path(doc["link"]).is_file() and doc["materials"] == doc["products"]


# --- bad input through the CLI: one line, exit 2, nothing written ------------------------------


def _encrypted_key(ws: Path, password: bytes) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = ws / "enc.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    return path


def _bad_run(ws: Path, capfd: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["run", "--step", "prepare", *args])
    captured = capfd.readouterr()
    assert code == 2, captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("atlas-intoto: error: ")
    assert "Traceback" not in captured.err
    assert files_under(ws / ".atlas") == []
    assert not (ws / "ran").exists()
    return captured.err


MARK = [sys.executable, "-c", "open('ran', 'w')"]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda ws: ws / "missing.key", "private key not found"),
        (lambda ws: ws / "keys", "is a directory, expected a private key"),
        (lambda ws: (ws / "g.key").write_bytes(os.urandom(64)) and ws / "g.key", "not a PEM"),
        (lambda ws: ws / "keys" / "alice.pub", "expected a private key, found a public key"),
        (lambda ws: ws / "keys" / "alice.crt", "expected a private key, found a public key"),
    ],
)
def test_cli_bad_key_files(
    ws: Path, capfd: pytest.CaptureFixture[str], setup: Any, expected: str
) -> None:
    err = _bad_run(ws, capfd, "--key", str(setup(ws)), "--", *MARK)
    assert expected in err


def test_cli_encrypted_key_with_password_env(
    ws: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _encrypted_key(ws, b"s3cret")
    monkeypatch.delenv("ATLAS_INTOTO_KEY_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a TTY: no prompt possible
    err = _bad_run(ws, capfd, "--key", str(key), "--", *MARK)
    assert "key is encrypted; set ATLAS_INTOTO_KEY_PASSWORD" in err
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "wrong")
    err = _bad_run(ws, capfd, "--key", str(key), "--", *MARK)
    assert "wrong password" in err
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "s3cret")
    assert main(["run", "--step", "prepare", "--key", str(key), "--", *COPY[:2], "pass"]) == 0


def test_cli_nonexistent_command(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    err = _bad_run(ws, capfd, "--key", "keys/alice.key", "--", "no-such-command-xyz")
    assert "no-such-command-xyz: command not found" in err


def test_cli_unwritable_output_directory(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (ws / "file").write_text("x")
    err = _bad_run(ws, capfd, "--key", "keys/alice.key", "--out", "file/sub", "--", *MARK)
    assert "file/sub: cannot create output directory" in err


def test_cli_missing_material_and_directory_base(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    err = _bad_run(ws, capfd, "--key", "keys/alice.key", "--materials", "nope", "--", *MARK)
    assert "nope: not found" in err
    err = _bad_run(
        ws,
        capfd,
        "--key",
        "keys/alice.key",
        "--base-path",
        "raw/a.txt",
        "--materials",
        "x",
        "--",
        *MARK,
    )
    assert "base path is not a directory" in err


def test_one_evidence_kind_cannot_be_requested_twice(ws: Path) -> None:
    from atlas_intoto.recording import EvidenceRequest

    with pytest.raises(UsageError, match="'tdx' requested twice"):
        run(ws, tee="simulated", evidence=(EvidenceRequest(kind="tdx"),))
    assert files_under(ws / ".atlas") == []


# --- digest algorithms and the digest cache -----------------------------------------------------


def test_run_records_the_requested_digests(ws: Path) -> None:
    import blake3

    recorded = run(ws, digests=("sha256", "blake3"))
    assert recorded.materials == {
        "raw/a.txt": {
            "sha256": hashlib.sha256(b"alpha\n").hexdigest(),
            "blake3": blake3.blake3(b"alpha\n").hexdigest(),
        }
    }
    only = run(ws, step="again", digests=("blake3",))
    assert set(only.products["out/b.txt"]) == {"blake3"}


def test_cli_digest_and_no_digest_cache_flags(
    ws: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_intoto.digestcache import CACHE_FILE
    from atlas_intoto.home import atlas_home

    monkeypatch.setenv("ATLAS_INTOTO_HOME", str(ws / "home"))
    start = ["record", "start", "--step", "s", "--key", "keys/alice.key", "--materials", "raw"]
    assert main([*start, "--digest", "blake3", "--no-digest-cache"]) == 0
    assert not (atlas_home() / CACHE_FILE).exists()
    stop = ["record", "stop", "--step", "s", "--key", "keys/alice.key", "--products", "raw"]
    assert main([*stop, "--digest", "blake3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["materials"]["raw/a.txt"]) == {"blake3"}
    assert doc["products"] == doc["materials"]
    assert (atlas_home() / CACHE_FILE).exists()
    assert main([*start, "--digest", "md5", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "UsageError"
