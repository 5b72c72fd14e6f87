"""RekorClient and the `log` CLI against our server on loopback (uvicorn in a thread)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from helpers import ThreadedServer, free_port, link_envelope, pem

from atlas_intoto.cli import main
from atlas_intoto.errors import LogServerError, NetworkError, UsageError
from atlas_intoto.tlog import checkpoint, merkle, proposed
from atlas_intoto.tlog.client import RekorClient
from atlas_intoto.tlog.server import create_app
from atlas_intoto.tlog.store import LogStore

LOG_KEY = ec.derive_private_key(0x10C_0001, ec.SECP256R1())
SIGNER = ec.derive_private_key(0x51C_0002, ec.SECP256R1())


@functools.cache
def envelope(n: int) -> bytes:
    return link_envelope(SIGNER, f"s{n}")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[ThreadedServer]:
    store = LogStore(tmp_path / "log.db")
    try:
        with ThreadedServer(create_app(store, LOG_KEY, "client.test")) as server:
            yield server
    finally:
        store.close()


@pytest.fixture
def rekor(log: ThreadedServer) -> Iterator[RekorClient]:
    with RekorClient(log.url) as client:
        yield client


def test_publish_dsse_and_read_back(rekor: RekorClient) -> None:
    doc = rekor.publish_dsse(envelope(0), pem(SIGNER))
    ((uuid, entry),) = doc.items()
    assert entry["logIndex"] == 0
    body = json.loads(base64.b64decode(entry["body"]))
    assert body["kind"] == "dsse"
    # Publishing again is idempotent: the 409's Location is followed to the existing entry.
    again = rekor.publish_dsse(envelope(0), pem(SIGNER))
    assert list(again) == [uuid]
    assert rekor.get_entry(uuid=uuid)[uuid]["body"] == entry["body"]
    assert list(rekor.get_entry(uuid=uuid[16:])) == [uuid]
    assert list(rekor.get_entry(index=0)) == [uuid]
    assert [next(iter(d)) for d in rekor.retrieve(uuids=[uuid], indexes=[0])] == [uuid, uuid]
    assert [
        next(iter(d))
        for d in rekor.retrieve(proposed=[proposed.dsse_proposed_entry(envelope(0), [pem(SIGNER)])])
    ] == [uuid]
    assert rekor.search(public_key_pem=pem(SIGNER)) == [uuid]
    payload_hash = body["spec"]["payloadHash"]["value"]
    assert rekor.search(hash=f"sha256:{payload_hash}") == [uuid]


def test_other_kinds(rekor: RekorClient) -> None:
    doc = rekor.publish_intoto(envelope(1), pem(SIGNER))
    assert json.loads(base64.b64decode(next(iter(doc.values()))["body"]))["kind"] == "intoto"
    digest = hashlib.sha256(b"weights").digest()
    sig = SIGNER.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    doc = rekor.publish_hashedrekord(signature=sig, public_key_pem=pem(SIGNER), digest=digest)
    assert json.loads(base64.b64decode(next(iter(doc.values()))["body"]))["kind"] == "hashedrekord"


def test_log_info_consistency_and_key(rekor: RekorClient) -> None:
    rekor.publish_dsse(envelope(0), pem(SIGNER))
    first = rekor.log_info()
    for n in range(1, 5):
        rekor.publish_dsse(envelope(n), pem(SIGNER))
    second = rekor.log_info()
    old = checkpoint.verify(first["signedTreeHead"], [pem(LOG_KEY)])
    new = checkpoint.verify(second["signedTreeHead"], [pem(LOG_KEY)])
    proof = rekor.consistency_proof(old.size, new.size)
    merkle.verify_consistency(
        old.size,
        new.size,
        [bytes.fromhex(h) for h in proof["hashes"]],
        old.root_hash,
        new.root_hash,
    )
    assert rekor.public_key() == pem(LOG_KEY)


def test_server_errors_are_log_server_errors(rekor: RekorClient) -> None:
    with pytest.raises(LogServerError, match="404") as info:
        rekor.get_entry(index=7)
    assert info.value.status == 404
    other = ec.derive_private_key(0xBAD, ec.SECP256R1())
    with pytest.raises(LogServerError, match=r"400.*verifies no signature"):
        rekor.publish_dsse(envelope(0), pem(other))
    with pytest.raises(LogServerError, match="lastSize"):
        rekor.consistency_proof(1, 99)
    with pytest.raises(UsageError):
        rekor.get_entry()
    with pytest.raises(UsageError):
        RekorClient("ftp://example")


def test_unreachable_and_non_rekor_servers() -> None:
    with pytest.raises(NetworkError, match="cannot reach log"):
        RekorClient(f"http://127.0.0.1:{free_port()}").log_info()

    def not_rekor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>")

    client = RekorClient("http://example.invalid", transport=httpx.MockTransport(not_rekor))
    with pytest.raises(NetworkError, match="not JSON"):
        client.log_info()
    with pytest.raises(NetworkError, match="not JSON"):
        client.get_entry(index=0)

    def wrong_shape(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"a": 1, "b": 2})

    client = RekorClient("http://example.invalid", transport=httpx.MockTransport(wrong_shape))
    with pytest.raises(NetworkError, match="not a Rekor LogEntry"):
        client.get_entry(index=0)
    with pytest.raises(NetworkError, match="lacks rootHash"):
        client.log_info()


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_info_get_consistency(
    log: ThreadedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "log.pub"
    key_file.write_bytes(pem(LOG_KEY))
    with RekorClient(log.url) as rekor:
        uuid = next(iter(rekor.publish_dsse(envelope(0), pem(SIGNER))))
    saved = tmp_path / "cp.txt"
    assert main(["log", "info", "--url", log.url, "--out", str(saved)]) == 0
    assert checkpoint.verify(saved.read_text(), [pem(LOG_KEY)]).size == 1
    capsys.readouterr()
    assert main(["--json", "log", "get", "--url", log.url, "--index", "0"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == [uuid]
    with RekorClient(log.url) as rekor:
        for n in range(1, 4):
            rekor.publish_dsse(envelope(n), pem(SIGNER))
    args = [
        "--json",
        "log",
        "consistency",
        "--url",
        log.url,
        "--from",
        str(saved),
        "--log-key",
        str(key_file),
    ]
    assert main([*args, "--update"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["old_size"], result["new_size"], result["consistent"]) == (1, 4, True)
    assert checkpoint.parse(saved.read_text()).size == 4
    # `log info --json` output is accepted as the saved checkpoint too.
    assert main(["--json", "log", "info", "--url", log.url]) == 0
    (tmp_path / "info.json").write_text(capsys.readouterr().out)
    assert (
        main(["log", "consistency", "--url", log.url, "--from", str(tmp_path / "info.json")]) == 0
    )


def test_cli_consistency_detects_rewritten_history(
    log: ThreadedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with RekorClient(log.url) as rekor:
        for n in range(3):
            rekor.publish_dsse(envelope(n), pem(SIGNER))
        info = rekor.log_info()
    cp = checkpoint.parse(info["signedTreeHead"])
    # A checkpoint the log never issued for that size: a forked (rewritten) history.
    forged = checkpoint.sign(
        checkpoint.Checkpoint(origin=cp.origin, size=2, root_hash=hashlib.sha256(b"fork").digest()),
        key=LOG_KEY,
        name="client.test",
    )
    (tmp_path / "old.txt").write_text(forged.text)
    code = main(
        ["--json", "log", "consistency", "--url", log.url, "--from", str(tmp_path / "old.txt")]
    )
    assert code == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "ConsistencyProofError"
    # A saved checkpoint larger than the live tree: the log shrank.
    bigger = checkpoint.sign(
        checkpoint.Checkpoint(origin=cp.origin, size=9, root_hash=cp.root_hash),
        key=LOG_KEY,
        name="client.test",
    )
    (tmp_path / "big.txt").write_text(bigger.text)
    assert main(["log", "consistency", "--url", log.url, "--from", str(tmp_path / "big.txt")]) == 1
    assert "shrank" in capsys.readouterr().err
    # Checkpoints of another log key fail the signature check; garbage is an input error.
    other = ec.derive_private_key(0xBAD, ec.SECP256R1())
    (tmp_path / "k.pub").write_bytes(pem(other))
    (tmp_path / "cp.txt").write_text(info["signedTreeHead"])
    args = [
        "log",
        "consistency",
        "--url",
        log.url,
        "--from",
        str(tmp_path / "cp.txt"),
        "--log-key",
        str(tmp_path / "k.pub"),
    ]
    assert main(args) == 1
    (tmp_path / "junk.txt").write_text("not a checkpoint")
    assert main(["log", "consistency", "--url", log.url, "--from", str(tmp_path / "junk.txt")]) == 2


def test_cli_network_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["log", "info", "--url", url]) == 2
    assert main(["log", "get", "--url", url, "--uuid", "00"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach log" in err and "Traceback" not in err


def test_cli_serve_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "log.db")
    assert main(["log", "serve", "--db", db, "--port", "70000"]) == 2
    assert main(["log", "serve", "--db", db, "--origin", "two words"]) == 2
    assert main(["log", "serve", "--db", db, "--max-body", "10"]) == 2
    ed = tmp_path / "ed.key"
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ed.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert main(["log", "serve", "--db", db, "--key", str(ed)]) == 2
    assert "must be ECDSA P-256" in capsys.readouterr().err
    assert main(["log", "serve", "--db", db, "--key", str(tmp_path / "missing.key")]) == 2


def test_cli_verify_entry_offline_and_live(
    log: ThreadedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "log.pub"
    key_file.write_bytes(pem(LOG_KEY))
    with RekorClient(log.url) as rekor:
        doc = rekor.publish_dsse(envelope(0), pem(SIGNER))
        for n in range(1, 4):
            rekor.publish_dsse(envelope(n), pem(SIGNER))
    entry_file = tmp_path / "step.logentry.json"
    entry_file.write_text(json.dumps(doc))
    env_file = tmp_path / "step.link"
    env_file.write_bytes(envelope(0))
    args = ["--json", "log", "verify", str(entry_file), "--log-key", str(key_file)]
    assert main([*args, "--envelope", str(env_file)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["uuid"], result["log_index"], result["tree_size"]) == (next(iter(doc)), 0, 1)
    # Online: the live log (now 4 entries) is consistent with the entry's checkpoint.
    assert main([*args, "--url", log.url]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["live_tree_size"] == 4 and "consistency" in result["verified"]
    # Another envelope, another log key, a tampered SET: each fails with exit 1.
    (tmp_path / "other.link").write_bytes(envelope(1))
    assert main([*args, "--envelope", str(tmp_path / "other.link")]) == 1
    capsys.readouterr()
    other = ec.derive_private_key(0xBAD, ec.SECP256R1())
    (tmp_path / "k.pub").write_bytes(pem(other))
    assert main(["log", "verify", str(entry_file), "--log-key", str(tmp_path / "k.pub")]) == 1
    entry = next(iter(doc.values()))
    entry["integratedTime"] += 1
    entry_file.write_text(json.dumps(doc))
    assert main([*args]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_malformed_url_and_pathological_answers() -> None:
    # httpx.InvalidURL is not an httpx.HTTPError: it escaped as an internal error.
    with pytest.raises(UsageError, match="log URL"):
        RekorClient("http://[::1")

    def huge_int(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"treeSize": ' + b"9" * 5000 + b"}")

    client = RekorClient("http://example.invalid", transport=httpx.MockTransport(huge_int))
    with pytest.raises(NetworkError, match="not JSON"):
        client.log_info()

    def deep_error(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=b"[" * 100000)

    client = RekorClient("http://example.invalid", transport=httpx.MockTransport(deep_error))
    with pytest.raises(LogServerError, match="500"):
        client.log_info()


@pytest.mark.parametrize(
    "content", [b'{"signedTreeHead": ' + b"9" * 5000 + b"}", b"{" + b"[" * 100000]
)
def test_cli_pathological_checkpoint_and_entry_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["log", "consistency", "--url", url, "--from", str(path), "--json"]) == 2
    assert main(["log", "verify", "--log-key", str(path), str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert "internal error" not in captured.err and "invalid JSON" in captured.err
    first, end = json.JSONDecoder().raw_decode(captured.out)
    second = json.loads(captured.out[end:])
    assert first["error"]["type"] == second["error"]["type"] == "InputError"


def test_cli_serve_fails_before_creating_or_announcing_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A garbage database used to get a fresh key written beside it before failing, and a busy
    # port was reported by uvicorn (exit 3) after "serving ..." and {"ok": true} on stdout.
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    assert main(["log", "serve", "--db", str(garbage), "--json"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.db"]
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["type"] == "StoreError"
    assert "serving" not in captured.err

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        assert main(["log", "serve", "--db", str(tmp_path / "l.db"), "--port", port, "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert (
        error["type"] == "NetworkError"
        and "cannot listen (Address already in use)" in error["message"]
    )
    assert "serving" not in captured.err
    host = ["--host", "no-such-host.invalid"]
    assert main(["log", "serve", "--db", str(tmp_path / "l.db"), *host]) == 2
    assert "--host 'no-such-host.invalid': cannot resolve" in capsys.readouterr().err


def test_cli_serve_json_announces_the_bound_url(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "atlas_intoto", "log", "serve", "--db", str(tmp_path / "l.db")]
    proc = subprocess.Popen(
        [*cmd, "--port", "0", "--origin", "audit.example", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ATLAS_INTOTO_HOME": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("}"):
            lines.append(proc.stdout.readline())
        doc = json.loads("".join(lines))
        assert doc["public_key"] == str(tmp_path / "l.pub")
        with RekorClient(doc["url"]) as rekor:
            info = rekor.log_info()
            assert info["treeSize"] == 0
            # --origin names the checkpoint: '<NAME> - <treeID>' as Rekor v1 writes it.
            assert info["signedTreeHead"].startswith(f"audit.example - {int(info['treeID'])}\n")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert out == "" and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_clients_share_one_verifying_tls_context() -> None:
    """Building a TLS context parses the whole CA bundle: one per process, still verifying."""
    import ssl

    from atlas_intoto.tlog.client import _tls_context

    with RekorClient("http://127.0.0.1:1"), RekorClient("https://127.0.0.1:1"):
        pass
    assert _tls_context() is _tls_context()
    assert _tls_context().verify_mode == ssl.CERT_REQUIRED
    assert _tls_context().check_hostname
