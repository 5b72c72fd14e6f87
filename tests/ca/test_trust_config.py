"""ClientTrustConfig / SigningConfig v0.2 naming our CA, log and TSA, read back as sigstore
clients choose among services."""

from __future__ import annotations

import json
import time

import pytest
from sigstore.models import SigningConfig
from sigstore_models.trustroot import v1 as trustroot_v1

from atlas_intoto.ca.trust_config import client_trust_config, read_services, signing_config
from atlas_intoto.errors import InputError

NOW = 1_800_000_000


def _config(**kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "ca_url": "http://127.0.0.1:3003",
        "log_url": "http://127.0.0.1:3000",
        "valid_from": NOW - 60,
    }
    args.update(kw)
    return signing_config(**args)  # type: ignore[arg-type]


def test_sigstore_python_reads_our_signing_config() -> None:
    # sigstore-python judges validity at its own clock
    doc = _config(log_version=2, tsa_url="http://127.0.0.1:3000", valid_from=int(time.time()) - 60)
    parsed = SigningConfig(trustroot_v1.SigningConfig.from_json(json.dumps(doc)))
    assert parsed.get_fulcio().url == "http://127.0.0.1:3003"
    assert [t.url for t in parsed.get_tsas()] == ["http://127.0.0.1:3000/api/v1/timestamp"]
    assert len(parsed.get_tlogs()) == 1


def test_read_services_from_a_trust_config_or_bare_signing_config() -> None:
    doc = _config(tsa_url="http://tsa.test")
    for wrapped in (doc, client_trust_config(trusted_root={}, signing_config=doc)):
        services = read_services(wrapped, now=NOW)
        assert services.ca_url == "http://127.0.0.1:3003"
        assert services.log.log_url == "http://127.0.0.1:3000"
        assert services.log.log_backend == "rekor-v1"
        assert services.log.tsa_url == "http://tsa.test/api/v1/timestamp"


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"mediaType": "x"}, "neither"),
        ({**_config(), "caUrls": []}, "caUrls"),
        (_config(valid_from=NOW + 3600), "caUrls"),
        ({**_config(), "caUrls": "nope"}, "array"),
    ],
)
def test_bad_configs_name_the_field(doc: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_services(doc, now=NOW)


def test_log_version_is_checked() -> None:
    with pytest.raises(InputError, match="log version"):
        _config(log_version=3)


def _with_version(field: str, version: object) -> dict[str, object]:
    doc = _config()
    services = [dict(s) for s in doc[field]]  # type: ignore[attr-defined]
    services[0]["majorApiVersion"] = version
    return {**doc, field: services}


@pytest.mark.parametrize("version", [{}, [1], "1", True, None, 1.5])
def test_a_major_api_version_that_is_no_integer_selects_no_service(version: object) -> None:
    for field, match in (("rekorTlogUrls", "rekorTlogUrls"), ("caUrls", "caUrls")):
        with pytest.raises(InputError, match=match):
            read_services(_with_version(field, version), now=NOW)
