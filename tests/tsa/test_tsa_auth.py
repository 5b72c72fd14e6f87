"""``tsa serve --auth``: a timestamp is a write; the client sends ATLAS_INTOTO_TSA_TOKEN."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "auth"))
from auth_helpers import READ_TOKEN, REVOKED_TOKEN, WRITE_TOKEN, write_config

from atlas_intoto.auth import Guard, protect
from atlas_intoto.errors import LogServerError
from atlas_intoto.tlog import serving
from atlas_intoto.tsa.client import request_timestamp
from atlas_intoto.tsa.http import create_tsa_app
from atlas_intoto.tsa.keys import load_or_create_tsa


def test_timestamps_need_a_write_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = Guard.from_file(write_config(tmp_path))
    app = protect(create_tsa_app(load_or_create_tsa(tmp_path / "tsa")), guard)
    with serving.serve_in_thread(app) as url:
        monkeypatch.delenv("ATLAS_INTOTO_TSA_TOKEN", raising=False)
        with pytest.raises(LogServerError) as caught:
            request_timestamp(url, b"message")
        assert caught.value.status == 401
        for token, status in ((REVOKED_TOKEN, 403), (READ_TOKEN, 403), ("nope", 401)):
            monkeypatch.setenv("ATLAS_INTOTO_TSA_TOKEN", token)
            with pytest.raises(LogServerError) as caught:
                request_timestamp(url, b"message")
            assert caught.value.status == status
        monkeypatch.setenv("ATLAS_INTOTO_TSA_TOKEN", WRITE_TOKEN)
        assert request_timestamp(url, b"message")
        # The certificate chain is a public read.
        assert httpx.get(url + "/api/v1/timestamp/certchain").status_code == 200
