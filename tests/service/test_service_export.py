"""``/v1/verify`` with ``export``: the AI-BOM of a passing verdict, signed as an in-toto
Statement when the policy signs VSAs; none for a failing one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from bundle_builder import Pipeline
from service_helpers import TOKEN, final_digests

from atlas_intoto.bom.cyclonedx import CYCLONEDX_PREDICATE

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _verify(url: str, pipeline: Pipeline, **changes: Any) -> httpx.Response:
    body = {
        "policy": "production",
        "bundle": pipeline.bundle_doc(),
        "artifacts": final_digests(pipeline),
        **changes,
    }
    return httpx.post(f"{url}/v1/verify", json=body, headers=AUTH)


def test_verdict_with_a_signed_cyclonedx_export(
    service: tuple[str, Any, Path], attested: Pipeline
) -> None:
    from atlas_intoto import dsse
    from atlas_intoto.keys import load_public_key

    url, _, _ = service
    for _ in range(2):  # the second verdict comes from the cache: the export is made again
        answer = _verify(url, attested, export="cyclonedx").json()
        assert answer["ok"] is True
        export = answer["export"]
        assert (export["format"], export["exported"]) == ("cyclonedx", True)
        assert export["document"]["specVersion"] == "1.6"
        envelope = dsse.Envelope.from_dict(export["statement"])
        dsse.verify(envelope, [load_public_key(attested.keys / "owner.pub")])
        statement = json.loads(envelope.payload)
        assert statement["predicateType"] == CYCLONEDX_PREDICATE
        assert statement["predicate"] == export["document"]
    assert answer["cached"] is True


def test_failing_verdict_has_no_export_and_bad_format_is_400(
    service: tuple[str, Any, Path], attested: Pipeline
) -> None:
    url, _, _ = service
    wrong = dict.fromkeys(final_digests(attested), "0" * 64)
    answer = _verify(url, attested, export="spdx", artifacts=wrong).json()
    assert answer["ok"] is False
    assert answer["export"] == {
        "format": "spdx",
        "exported": False,
        "reason": "not exported: the bundle does not verify",
    }
    bad = _verify(url, attested, export="xml")
    assert bad.status_code == 400
    assert "request.export" in bad.json()["error"]["message"]
