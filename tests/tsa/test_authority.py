"""The RFC 3161 TSA: responses rfc3161-client verifies, rejections for bad requests, and the
HTTP API (``/api/v1/timestamp``, ``/api/v1/timestamp/certchain``)."""

from __future__ import annotations

import datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from helpers import ThreadedServer
from rfc3161_client import (
    PKIStatus,
    TimestampRequestBuilder,
    VerifierBuilder,
    decode_timestamp_response,
)
from rfc3161_client.errors import VerificationError

from atlas_intoto.errors import NetworkError, TimestampError
from atlas_intoto.tsa.authority import TimestampAuthority
from atlas_intoto.tsa.client import request_timestamp
from atlas_intoto.tsa.http import create_tsa_app
from atlas_intoto.tsa.keys import load_or_create_tsa, root_path
from atlas_intoto.tsa.verify import load_roots, verify_timestamp

# the TSA certificate is valid from its creation (now) on
NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def tsa_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tsa")
    load_or_create_tsa(directory)
    return directory


@pytest.fixture(scope="module")
def tsa(tsa_dir: Path) -> TimestampAuthority:
    return load_or_create_tsa(tsa_dir, create=False)


def _root(tsa_dir: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(root_path(tsa_dir).read_bytes())


def test_rfc3161_client_verifies_our_responses(tsa: TimestampAuthority, tsa_dir: Path) -> None:
    request = (
        TimestampRequestBuilder()
        .data(b"sig")
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    reply, granted = tsa.respond(request.as_bytes(), now=NOW)
    assert granted
    response = decode_timestamp_response(reply)
    assert response.status == PKIStatus.GRANTED
    assert response.tst_info.gen_time.replace(tzinfo=datetime.UTC) == NOW
    verifier = VerifierBuilder.from_request(request).add_root_certificate(_root(tsa_dir)).build()
    assert verifier.verify_message(response, b"sig")
    with pytest.raises(VerificationError):
        verifier.verify_message(response, b"other")
    assert verify_timestamp(reply, message=b"sig", roots=[_root(tsa_dir)]) == int(NOW.timestamp())


def test_tampered_or_foreign_responses_fail(
    tsa: TimestampAuthority, tsa_dir: Path, tmp_path: Path
) -> None:
    request = TimestampRequestBuilder().data(b"sig").cert_request(cert_request=True).build()
    reply, _ = tsa.respond(request.as_bytes(), now=NOW)
    tampered = bytearray(reply)
    tampered[-10] ^= 1
    with pytest.raises(TimestampError):
        verify_timestamp(bytes(tampered), message=b"sig", roots=[_root(tsa_dir)])
    load_or_create_tsa(tmp_path)
    with pytest.raises(TimestampError):
        verify_timestamp(
            reply, message=b"sig", roots=load_roots([root_path(tmp_path).read_bytes()])
        )
    with pytest.raises(TimestampError, match="no TSA roots"):
        verify_timestamp(reply, message=b"sig", roots=[])
    with pytest.raises(TimestampError):
        verify_timestamp(b"\x30\x03\x02\x01\x00", message=b"sig", roots=[_root(tsa_dir)])


@pytest.mark.parametrize("request_bytes", [b"", b"junk", b"\x30\x00", b"\x30" * 20000])
def test_malformed_requests_get_rejections(tsa: TimestampAuthority, request_bytes: bytes) -> None:
    reply, granted = tsa.respond(request_bytes, now=NOW)
    assert not granted
    assert decode_timestamp_response(reply).status == PKIStatus.REJECTION


def test_http_api(tsa: TimestampAuthority) -> None:
    with ThreadedServer(create_tsa_app(tsa, clock=NOW.timestamp)) as server:
        reply = request_timestamp(server.url, b"sig")
        assert decode_timestamp_response(reply).status == PKIStatus.GRANTED
        chain = httpx.get(f"{server.url}/api/v1/timestamp/certchain")
        assert len(x509.load_pem_x509_certificates(chain.content)) == 2
        bad = httpx.post(
            f"{server.url}/api/v1/timestamp",
            content=b"junk",
            headers={"Content-Type": "application/timestamp-query"},
        )
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/timestamp-reply"
        wrong_type = httpx.post(f"{server.url}/api/v1/timestamp", content=b"x")
        assert wrong_type.status_code == 415
        with pytest.raises(NetworkError):
            request_timestamp("http://127.0.0.1:9", b"sig", timeout=2)


def test_keys_are_reloaded_not_recreated(tsa_dir: Path) -> None:
    first = load_or_create_tsa(tsa_dir)
    again = load_or_create_tsa(tsa_dir)
    assert first.chain == again.chain
    assert (tsa_dir / "tsa.key").stat().st_mode & 0o777 == 0o600
