"""Crash safety of the v2 shard: ``log serve --v2-db`` killed with SIGKILL mid-flight loses no
acknowledged entry; after the restart every TransparencyLogEntry handed out still verifies and
the new checkpoint (computed from tiles) is consistent with every checkpoint seen before."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import free_port, link_envelope, pem

from atlas_intoto.tlog import checkpoint, merkle
from atlas_intoto.tlog.v2 import hashedrekord
from atlas_intoto.tlog.v2.client import RekorV2Client
from atlas_intoto.tlog.v2.entry import verify_entry

SIGNER = ec.derive_private_key(0xC4A5_4002, ec.SECP256R1())
WRITERS = 6
ACKS_BEFORE_KILL = 100


def _start(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "atlas_intoto", "log", "serve", "--db", str(tmp / "v1.db")]
    cmd += ["--v2-db", str(tmp / "v2.db"), "--port", str(port), "--origin", "crash.v2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/checkpoint", timeout=2)
            return proc
        except httpx.HTTPError:
            assert proc.poll() is None and time.monotonic() < deadline, "log did not start"
            time.sleep(0.05)


def test_kill_9_loses_no_acknowledged_v2_entry(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    envelopes = [link_envelope(SIGNER, f"crash-{n}", keyid=None) for n in range(WRITERS * 150)]
    proc = _start(tmp_path, port)
    log_key = (tmp_path / "v1.pub").read_bytes()
    acknowledged: dict[int, tuple[bytes, dict[str, Any]]] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def writer(w: int) -> None:
        with httpx.Client(timeout=10) as client:
            for n in range(w, len(envelopes), WRITERS):
                request = hashedrekord.dsse_request(envelopes[n], pem(SIGNER))
                try:
                    response = client.post(f"{url}/api/v2/log/entries", json=request)
                except httpx.HTTPError:
                    return
                if response.status_code != 201:
                    return
                with lock:
                    acknowledged[n] = (envelopes[n], response.json())
                    if len(acknowledged) >= ACKS_BEFORE_KILL:
                        enough.set()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    try:
        for t in threads:
            t.start()
        assert enough.wait(120), "writers made no progress"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        for t in threads:
            t.join(60)
        assert len(acknowledged) < len(envelopes), "the kill came after every append finished"
        proc = _start(tmp_path, port)
        current = checkpoint.verify(httpx.get(f"{url}/checkpoint").text, [log_key])
        assert current.size >= len(acknowledged)
        with RekorV2Client(url) as client:
            assert client.root_hash(current.size) == current.root_hash
            for envelope, entry in acknowledged.values():
                verified = verify_entry(entry, envelope=envelope, log_keys=[log_key])
                index = verified.entry.log_index
                body = base64.b64decode(entry["canonicalizedBody"])
                assert client.entry(index, current.size) == body
                old = verified.checkpoint
                if 0 < old.size < current.size:
                    proof = client.consistency_proof(old.size, current.size)
                    merkle.verify_consistency(
                        old.size, current.size, proof, old.root_hash, current.root_hash
                    )
                elif old.size == current.size:
                    assert old.root_hash == current.root_hash
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
