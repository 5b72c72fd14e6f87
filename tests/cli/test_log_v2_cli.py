"""The Rekor v2 command line end to end, as separate processes: ``witness serve``, ``log serve
--v2-db --tsa-dir --witness``, ``tsa serve``, ``run --log`` (detected v2, or chosen by a Sigstore
SigningConfig) and ``log monitor`` with a witness threshold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import free_port

from atlas_intoto.cli import main
from atlas_intoto.keys import generate_keypair
from atlas_intoto.tlog import checkpoint
from atlas_intoto.tlog.cosignature import require_cosignatures, witness_key


class Proc:
    """A CLI server as a child process, stopped at the end."""

    def __init__(self, args: list[str], probe: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "atlas_intoto", *args, "--port", str(port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.request("GET" if probe != "/add-checkpoint" else "POST", self.url + probe)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"{args[0]} did not start: {err}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, object]]:
    started: list[Proc] = []
    try:
        log_key = tmp_path / "log.key"
        # the witness must know the log key before the log asks it: create the key first
        from atlas_intoto.tlog.logkey import load_or_create_log_key, write_public_key

        write_public_key(load_or_create_log_key(log_key), tmp_path / "log.pub")
        witness = Proc(
            [
                "witness",
                "serve",
                "--name",
                "w1",
                "--key",
                str(tmp_path / "w1.key"),
                "--log",
                f"v2.test,{tmp_path / 'log.pub'}",
                "--state",
                str(tmp_path / "w1.db"),
            ],
            "/add-checkpoint",
        )
        started.append(witness)
        log = Proc(
            [
                "log",
                "serve",
                "--db",
                str(tmp_path / "v1.db"),
                "--key",
                str(log_key),
                "--v2-db",
                str(tmp_path / "v2.db"),
                "--v2-origin",
                "v2.test",
                "--tsa-dir",
                str(tmp_path / "tsa"),
                "--witness",
                f"{witness.url},w1,{tmp_path / 'w1.pub'}",
            ],
            "/checkpoint",
        )
        started.append(log)
        yield {"log": log.url, "witness": witness.url, "dir": tmp_path}
    finally:
        for proc in reversed(started):
            proc.stop()


def _record(ws: Path, *log_args: str) -> dict[str, object]:
    generate_keypair("alice", directory=ws / "keys")
    (ws / "raw").mkdir(exist_ok=True)
    (ws / "raw" / "a.txt").write_text("a")
    cwd = os.getcwd()
    os.chdir(ws)
    try:
        code = main(
            [
                "run",
                "--step",
                "prep",
                "--key",
                "keys/alice.key",
                "--materials",
                "raw",
                *log_args,
                "--",
                sys.executable,
                "-c",
                "pass",
            ]
        )
    finally:
        os.chdir(cwd)
    assert code == 0
    (entry,) = (ws / ".atlas").glob("prep.*.logentry.json")
    return json.loads(entry.read_text())  # type: ignore[no-any-return]


def test_step_on_a_witnessed_v2_log_and_monitor(
    servers: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = servers["dir"]
    assert isinstance(d, Path)
    doc = _record(tmp_path / "ws", "--log", str(servers["log"]))
    assert doc["backend"] == "rekor-v2" and len(doc["timestamps"]) == 1  # type: ignore[arg-type]
    note = doc["entry"]["inclusionProof"]["checkpoint"]["envelope"]  # type: ignore[index]
    cp = checkpoint.verify(note, [(d / "log.pub").read_bytes()])
    require_cosignatures(cp, [witness_key("w1", (d / "w1.pub").read_bytes())], 1)
    args = ["log", "monitor", "--url", str(servers["log"]), "--state", str(tmp_path / "mon")]
    args += ["--log-key", str(d / "log.pub"), "--witness-key", f"w1,{d / 'w1.pub'}"]
    assert main([*args, "--witness-threshold", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cosigned_by"] == ["w1"]
    # the TSA's chain is served beside the log
    chain = httpx.get(f"{servers['log']}/api/v1/timestamp/certchain").text
    assert chain.count("BEGIN CERTIFICATE") == 2


def test_signing_config_chooses_the_v2_log(servers: dict[str, object], tmp_path: Path) -> None:
    config = {
        "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
        "rekorTlogUrls": [
            {
                "url": "http://127.0.0.1:9",
                "majorApiVersion": 1,
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            },
            {
                "url": servers["log"],
                "majorApiVersion": 2,
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            },
        ],
        "tsaUrls": [
            {
                "url": f"{servers['log']}/api/v1/timestamp",
                "majorApiVersion": 1,
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            }
        ],
    }
    path = tmp_path / "signing_config.json"
    path.write_text(json.dumps(config))
    doc = _record(tmp_path / "ws", "--signing-config", str(path))
    assert doc["backend"] == "rekor-v2" and doc["timestamps"]


def test_tsa_serve_alone(tmp_path: Path) -> None:
    from atlas_intoto.tsa.client import request_timestamp

    tsa = Proc(["tsa", "serve", "--dir", str(tmp_path / "tsa")], "/api/v1/timestamp/certchain")
    try:
        assert request_timestamp(tsa.url, b"sig")
        assert (tmp_path / "tsa" / "tsa-root.pem").is_file()
    finally:
        tsa.stop()


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "v1.db")
    assert main(["log", "serve", "--db", db, "--witness", "nonsense", "--port", "0"]) == 2
    assert (
        main(
            [
                "log",
                "monitor",
                "--url",
                "http://x",
                "--state",
                str(tmp_path),
                "--log-key",
                str(tmp_path / "missing.pub"),
            ]
        )
        == 2
    )


def test_log_verify_takes_a_saved_v2_entry(
    servers: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = servers["dir"]
    assert isinstance(d, Path)
    ws = tmp_path / "ws"
    _record(ws, "--log", str(servers["log"]))
    (entry,) = (ws / ".atlas").glob("prep.*.logentry.json")
    (link,) = (ws / ".atlas").glob("prep.*.link")
    args = ["log", "verify", str(entry), "--log-key", str(d / "log.pub"), "--json"]
    assert main([*args, "--envelope", str(link), "--url", str(servers["log"])]) == 0
    assert json.loads(capsys.readouterr().out)["verified"][-1] == "consistency"
    assert main(args) == 2  # a v2 entry needs its envelope
    other = tmp_path / "other.pub"
    from atlas_intoto.tlog.logkey import load_or_create_log_key, write_public_key

    write_public_key(load_or_create_log_key(tmp_path / "other.key"), other)
    assert (
        main(["log", "verify", str(entry), "--log-key", str(other), "--envelope", str(link)]) == 1
    )
