"""--online: consistency from each logged checkpoint to the log's current one (split views)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from bundle_builder import Pipeline

from atlas_intoto.demo import EmbeddedLog
from atlas_intoto.errors import ConsistencyProofError, UsageError
from atlas_intoto.layout import layout_payload
from atlas_intoto.verify.online import OnlineConsistency


def _summary(pipeline: Pipeline, step: str) -> dict[str, object]:
    item = pipeline.bundle_doc()["steps"][step]["links"][0]
    proof = next(iter(item["log_entry"].values()))["verification"]["inclusionProof"]
    return {"tree_size": proof["treeSize"], "root_hash": proof["rootHash"]}


def _grow(log: EmbeddedLog, pipeline: Pipeline) -> None:
    from atlas_intoto.keys import load_signer
    from atlas_intoto.link import sign_link
    from atlas_intoto.tlog.client import RekorClient

    envelope = sign_link(
        name="x",
        materials={},
        products={},
        command=[],
        byproducts={},
        environment={"n": base64.b64encode(Path(__file__).read_bytes()[:8]).decode()},
        signer=load_signer(pipeline.keys / "mallory.key"),
    )
    with RekorClient(log.url) as client:
        client.publish_dsse(envelope, (pipeline.keys / "mallory.pub").read_bytes())


def test_consistent_checkpoints(full_pipeline: Pipeline, log_server: EmbeddedLog) -> None:
    layout = layout_payload(json.loads(full_pipeline.layout_file.read_bytes()))
    _grow(log_server, full_pipeline)
    checker = OnlineConsistency(url=log_server.url)
    for step in ("prepare", "train", "package"):
        row = checker(layout, step, _summary(full_pipeline, step))
        assert row.passed and "consistent with the current tree" in row.reason


def test_split_view_detected(full_pipeline: Pipeline, log_server: EmbeddedLog) -> None:
    layout = layout_payload(json.loads(full_pipeline.layout_file.read_bytes()))
    checker = OnlineConsistency(url=log_server.url)
    forked = {**_summary(full_pipeline, "prepare"), "root_hash": "ab" * 32}
    with pytest.raises(ConsistencyProofError):
        checker(layout, "prepare", forked)
    with pytest.raises(ConsistencyProofError, match="smaller than the checkpoint"):
        checker(layout, "prepare", {"tree_size": 10**9, "root_hash": "ab" * 32})


def test_online_needs_a_url(full_pipeline: Pipeline) -> None:
    layout = layout_payload(json.loads(full_pipeline.layout_file.read_bytes()))
    with pytest.raises(UsageError, match="--log-url"):
        OnlineConsistency()(layout, "prepare", _summary(full_pipeline, "prepare"))
