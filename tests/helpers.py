"""Helpers shared by test modules (importable as ``helpers``: tests/ is on sys.path because
tests/conftest.py sits there and the tests are not a package)."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atlas_intoto.dsse import pae
from atlas_intoto.tlog import serving


def pem(key: Any) -> bytes:
    """SubjectPublicKeyInfo PEM of a private key's public half."""
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def link_envelope(key: ec.EllipticCurvePrivateKey, name: str, *, keyid: str | None = "") -> bytes:
    """A DSSE envelope over a minimal in-toto link payload, ECDSA-signed by ``key``
    (``keyid=None`` leaves the signature's keyid out)."""
    payload = json.dumps({"_type": "link", "name": name}).encode()
    sig = key.sign(pae("application/vnd.in-toto+json", payload), ec.ECDSA(hashes.SHA256()))
    signature = {"sig": base64.b64encode(sig).decode()}
    if keyid is not None:
        signature = {"keyid": keyid, **signature}
    return json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [signature],
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """An app served on 127.0.0.1 in a background thread (``tlog.serving.serve_in_thread``),
    stopped on exit; ``port`` and ``url`` are known before entering."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._sock = serving.listen("127.0.0.1", 0)
        self.port = int(self._sock.getsockname()[1])
        self.url = serving.url_of(self._sock)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> ThreadedServer:
        self._stack.enter_context(serving.serve_in_thread(self._app, sock=self._sock))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


STATEMENT = json.dumps(
    {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "m.bin", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "predicate": {"materials": [{"uri": "git", "digest": {"sha1": "cd" * 20}}]},
    }
).encode()


def sign_envelope(
    payload: bytes, *keys: Any, payload_type: str = "application/vnd.in-toto+json"
) -> bytes:
    """A DSSE envelope over ``payload`` with one signature per key (ECDSA P-256/SHA-256 or
    Ed25519), each with an empty keyid."""
    message = pae(payload_type, payload)
    sigs = []
    for key in keys:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            sig = key.sign(message, ec.ECDSA(hashes.SHA256()))
        else:
            sig = key.sign(message)
        sigs.append({"keyid": "", "sig": base64.b64encode(sig).decode()})
    return json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": payload_type,
            "signatures": sigs,
        }
    ).encode()


CONFORMANCE = "sigstore-conformance/bundle-verify"


def conformance_bundle(shared: Path, case: str) -> dict[str, Any]:
    """The Sigstore bundle of a sigstore-conformance bundle-verify case."""
    return json.loads((shared / CONFORMANCE / case / "bundle.sigstore.json").read_text())  # type: ignore[no-any-return]


def leaf_cert_pem(bundle: dict[str, Any]) -> bytes:
    """PEM of a bundle's signing (leaf) certificate."""
    vm = bundle["verificationMaterial"]
    raw = (
        vm["certificate"]["rawBytes"]
        if "certificate" in vm
        else vm["x509CertificateChain"]["certificates"][0]["rawBytes"]
    )
    b64 = base64.b64encode(base64.b64decode(raw)).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    ).encode()


@contextlib.contextmanager
def log_on(directory: Path, port: int = 0, max_body: int = 128 * 1024) -> Iterator[Any]:
    """Our log on 127.0.0.1:``port`` (0: any), stopped on exit; yields (url, log public PEM)."""
    from atlas_intoto.tlog import serving
    from atlas_intoto.tlog.logkey import load_or_create_log_key, public_key_pem
    from atlas_intoto.tlog.server import create_app
    from atlas_intoto.tlog.store import LogStore

    directory.mkdir(parents=True, exist_ok=True)
    signer = load_or_create_log_key(directory / "log.key")
    store = LogStore(directory / "log.db")
    sock = serving.listen("127.0.0.1", port)
    try:
        app = create_app(store, signer, "test-log", max_body)
        with serving.serve_in_thread(app, sock=sock) as url:
            yield url, public_key_pem(signer)
    finally:
        store.close()


def check_bundle_vector(vector: dict[str, Any], tmp_path: Path) -> None:
    """Verify a bundle test vector (bundle, layout keys, artifacts, time) and assert its
    expected outcome: ok, or the first failing check and error class."""
    from atlas_intoto.verify import verify_bundle

    artifacts = None
    if vector["artifacts"] is not None:
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir()
        for rel, data in vector["artifacts"].items():
            target = artifacts / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))
    report = verify_bundle(
        json.dumps(vector["bundle"]).encode(),
        layout_keys=[key.encode() for key in vector["layout_keys"]],
        artifacts_dir=artifacts,
        now=vector["now"],
    )
    expected = vector["expected"]
    if expected.get("ok"):
        assert report.ok, report.text()
        return
    first = report.first_failure
    assert first is not None, report.text()
    assert (first.check, first.error) == (expected["check"], expected["error"]), report.text()
