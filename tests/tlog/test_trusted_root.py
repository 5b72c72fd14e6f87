"""``log trusted-root``: a Sigstore trusted_root.json for our log (key, URL, origin, validity)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from helpers import pem

from atlas_intoto.cli import main
from atlas_intoto.demo import EmbeddedLog, embedded_log
from atlas_intoto.errors import KeyLoadError
from atlas_intoto.tlog.checkpoint import log_id
from atlas_intoto.tlog.trusted_root import MEDIA_TYPE, rfc3339, trusted_root


def test_trusted_root_document(key: ec.EllipticCurvePrivateKey) -> None:
    doc = trusted_root(
        public_key_pem=pem(key),
        url="http://127.0.0.1:3000/",
        origin="log - 1",
        valid_from=1_700_000_000,
        valid_until=1_800_000_000,
    )
    assert doc["mediaType"] == MEDIA_TYPE
    (tlog,) = doc["tlogs"]
    assert tlog["baseUrl"] == "http://127.0.0.1:3000"
    assert tlog["operator"] == "log - 1"
    assert tlog["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert tlog["publicKey"]["validFor"] == {
        "start": "2023-11-14T22:13:20Z",
        "end": rfc3339(1_800_000_000),
    }
    assert base64.b64decode(tlog["logId"]["keyId"]) == log_id(key.public_key())
    assert doc["certificateAuthorities"] == [] and doc["ctlogs"] == []


def test_other_key_types() -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    doc = trusted_root(public_key_pem=pem(ed), url="http://x", origin="o", valid_from=0)
    assert doc["tlogs"][0]["publicKey"]["keyDetails"] == "PKIX_ED25519"
    assert "end" not in doc["tlogs"][0]["publicKey"]["validFor"]
    with pytest.raises(KeyLoadError, match="log key type"):
        trusted_root(
            public_key_pem=pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            url="http://x",
            origin="o",
            valid_from=0,
        )
    with pytest.raises(KeyLoadError, match="not a PEM"):
        trusted_root(public_key_pem=b"junk", url="http://x", origin="o", valid_from=0)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedLog]:
    with embedded_log(tmp_path_factory.mktemp("log")) as running:
        yield running


def test_cli_writes_the_trusted_root_of_a_running_log(
    log: EmbeddedLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trusted_root.json"
    assert main(["log", "trusted-root", "--url", log.url, "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (tlog,) = doc["tlogs"]
    assert tlog["baseUrl"] == log.url
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(log.public_key_pem)
    assert base64.b64decode(tlog["logId"]["keyId"]) == log_id(key)  # type: ignore[arg-type]
    assert tlog["operator"]
    capsys.readouterr()
    assert main(["log", "trusted-root", "--url", log.url, "--valid-from", "0", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["tlogs"][0]["publicKey"]["validFor"]["start"] == "1970-01-01T00:00:00Z"


def test_cli_unreachable_log_is_operational(capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["log", "trusted-root", "--url", url, "--json"]) == 2
    assert "error" in json.loads(capsys.readouterr().out)


def test_certificate_authorities(
    key: ec.EllipticCurvePrivateKey, log: EmbeddedLog, tmp_path: Path
) -> None:
    from cryptography import x509

    from atlas_intoto.keys import generate_keypair

    paths = generate_keypair("alice", directory=tmp_path / "keys")
    chain = x509.load_pem_x509_certificates(paths.ca_certificate.read_bytes())
    doc = trusted_root(
        public_key_pem=pem(key),
        url="http://x",
        origin="o",
        valid_from=0,
        certificate_authorities=[chain],
    )
    (ca,) = doc["certificateAuthorities"]
    assert len(ca["certChain"]["certificates"]) == 1
    assert ca["subject"]["commonName"] and ca["validFor"]["start"] < ca["validFor"]["end"]
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate")
    argv = ["log", "trusted-root", "--url", log.url, "--ca", str(bad), "--json"]
    assert main(argv) == 2


def test_cli_warns_when_sigstore_js_cannot_match_the_checkpoint_signer(
    log: EmbeddedLog, capsys: pytest.CaptureFixture[str]
) -> None:
    # the module's log signs as "atlas-intoto-demo", which is not in its 127.0.0.1 URL
    assert main(["log", "trusted-root", "--url", log.url]) == 0
    assert "sigstore-js will refuse them" in capsys.readouterr().err
