"""``atlas-intoto serve`` as a real process: workers, SIGHUP reload, restart under load."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from bundle_builder import Pipeline
from service_helpers import TOKEN, final_digests, write_config

from atlas_intoto.cli import main
from atlas_intoto.service.client import post_with_retry

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(args: list[str], *, port: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``serve`` and wait until it answers /readyz; always stopped afterwards."""
    command = [sys.executable, "-m", "atlas_intoto", "serve", "--port", str(port), "--json", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited: {process.stderr.read() if process.stderr else ''}"
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise AssertionError("serve did not become ready")
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_quick_start_with_a_layout_key(attested: Pipeline, tmp_path: Path) -> None:
    port = _free_port()
    key = str(attested.keys / "owner.pub")
    with serve(
        ["--layout-key", key, "--workers", "1", "--cache-dir", str(tmp_path)], port=port
    ) as (
        _,
        url,
    ):
        body = {
            "policy": "default",
            "bundle": attested.bundle_doc(),
            "artifacts": final_digests(attested),
        }
        answer = httpx.post(f"{url}/v1/verify", json=body, timeout=60).json()
        assert answer["ok"] is True and answer["policy"] == "default"
        unknown = httpx.post(f"{url}/v1/verify", json={**body, "policy": "prod"}, timeout=60)
        assert unknown.status_code == 404 and unknown.json()["ok"] is False


def test_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("policies: {p: {layout_keys: []}}")
    result = subprocess.run(
        [sys.executable, "-m", "atlas_intoto", "serve", "--config", str(bad), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "policies.p.layout_keys" in result.stderr and len(result.stderr.splitlines()) == 1
    assert json.loads(result.stdout)["error"]["check"] == "service.config"


def _load(
    url: str, body: dict[str, Any], expect: bool, stop: threading.Event, out: list[Any]
) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            try:
                # As the gate does: a dropped keep-alive connection is retried.
                data = json.dumps(body).encode()
                response = post_with_retry(client, f"{url}/v1/verify", data, AUTH)
            except httpx.HTTPError as exc:
                out.append(("unavailable", type(exc).__name__))
                time.sleep(0.02)
                continue
            if response.status_code != 200:
                out.append(("status", response.status_code))
            elif response.json()["ok"] is not expect:
                out.append(("WRONG VERDICT", response.json()["ok"]))
            else:
                out.append(("ok", None))


def test_reload_and_restart_under_load_never_give_a_wrong_verdict(
    attested: Pipeline, tmp_path: Path
) -> None:
    config = write_config(tmp_path, attested)
    port = _free_port()
    good = {
        "policy": "production",
        "bundle": attested.bundle_doc(),
        "artifacts": final_digests(attested),
    }
    bad = {**good, "artifacts": {p: "2" * 64 for p in final_digests(attested)}}
    outcomes: list[Any] = []
    stop = threading.Event()
    with serve(["--config", str(config), "--workers", "2"], port=port) as (process, url):
        threads = [
            threading.Thread(target=_load, args=(url, body, expect, stop, outcomes))
            for body, expect in ((good, True), (bad, False), (good, True), (bad, False))
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGHUP)  # workers replaced one by one
        time.sleep(4.0)
        during_reload = list(outcomes)
        metrics = httpx.get(f"{url}/metrics").text
    # Stopped under load; a new service on the same port takes over.
    with serve(["--config", str(config), "--workers", "2"], port=port):
        time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not [o for o in outcomes if o[0] in ("WRONG VERDICT", "status")], outcomes[-20:]
    assert not [o for o in during_reload if o[0] != "ok"]  # SIGHUP dropped nothing
    assert sum(o[0] == "ok" for o in outcomes) > 20
    # Both workers' samples are aggregated (multiprocess metrics).
    assert "atlas_service_verdicts_total" in metrics


def test_serve_rejects_bad_options(attested: Pipeline) -> None:
    key = str(attested.keys / "owner.pub")
    for extra, message in (
        (["--workers", "0"], "--workers"),
        (["--port", "70000"], "--port"),
        (["--tls-cert", key], "--tls-cert and --tls-key"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "atlas_intoto", "serve", "--layout-key", key, *extra],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ},
        )
        assert result.returncode == 2 and message in result.stderr


def _tls_files(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, key: Any, issuer: Any, issuer_key: Any, **kind: Any) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=kind.get("ca", False), path_length=None), True)
        )
        if kind.get("server"):
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, False).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False
            )
        if kind.get("client"):
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    files = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("test CA", ca_key, name("test CA"), ca_key, ca=True)
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issue(role, key, ca.subject, ca_key, **{role: True})
        files[f"{role}.crt"] = directory / f"{role}.crt"
        files[f"{role}.crt"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{role}.key"] = directory / f"{role}.key"
        files[f"{role}.key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    files["ca.pem"] = directory / "ca.pem"
    files["ca.pem"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return files


def test_mtls_client_certificates(attested: Pipeline, tmp_path: Path) -> None:
    """With ``mtls`` the service speaks TLS only to holders of a certificate from the CA,
    who may use ``mtls.policies`` without a token."""
    files = _tls_files(tmp_path)
    config = write_config(
        tmp_path, attested, mtls={"client_ca": str(files["ca.pem"]), "policies": ["staging"]}
    )
    port = _free_port()
    args = ["--config", str(config), "--workers", "1"]
    tls = ["--tls-cert", str(files["server.crt"]), "--tls-key", str(files["server.key"])]
    command = [sys.executable, "-m", "atlas_intoto", "serve", "--port", str(port), *args, *tls]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(files["ca.pem"]))
    context.load_cert_chain(str(files["client.crt"]), str(files["client.key"]))
    body = {
        "policy": "staging",
        "bundle": attested.bundle_doc(),
        "artifacts": final_digests(attested),
    }
    try:
        with httpx.Client(verify=context, timeout=60) as client:
            for _ in range(600):
                try:
                    if client.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            else:
                raise AssertionError("the TLS service did not become ready")
            assert client.post(f"{url}/v1/verify", json=body).json()["ok"] is True
            production = client.post(f"{url}/v1/verify", json={**body, "policy": "production"})
            assert production.status_code == 403
            with_token = client.post(
                f"{url}/v1/verify", json={**body, "policy": "production"}, headers=AUTH
            )
            assert with_token.json()["ok"] is True
        # The gate over mTLS: a verified client certificate, no token.
        gate = [
            "gate", "--service", url, "--policy", "staging", "--bundle", str(attested.bundle_file),
            "--artifacts", str(attested.work), "--ca-cert", str(files["ca.pem"]),
            "--client-cert", str(files["client.crt"]), "--client-key", str(files["client.key"]),
        ]  # fmt: skip
        assert main(gate) == 0
        no_cert = ssl.create_default_context(cafile=str(files["ca.pem"]))
        with httpx.Client(verify=no_cert, timeout=10) as anonymous:
            try:
                refused = anonymous.get(f"{url}/healthz").status_code
            except httpx.HTTPError:
                refused = None
            assert refused is None  # no client certificate: no TLS session at all
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
