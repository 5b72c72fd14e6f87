"""A passing verdict is reused only when every link — not only the one a step's lineage shows —
was judged at a trusted time: a link judged at the verifier's clock is judged again."""

from __future__ import annotations

from pathlib import Path

from atlas_intoto.service.config import Policy
from atlas_intoto.service.verifier import Verifier, VerifyRequest
from atlas_intoto.verify import verify_bundle
from atlas_intoto.verify.report import VerificationReport
from tests.verify.bundle_builder import build_pipeline

POLICY = Policy(name="p", layout_keys=(b"",), verdict_ttl=300)


def _doc(*, untimed_links: int) -> dict[str, object]:
    step = {"step": "train", "log": {"integrated_time": 1_700_000_000}}
    return {"ok": True, "steps": [step], "untimed_links": untimed_links}


def test_a_link_without_trusted_time_stops_reuse_even_if_lineage_is_timed() -> None:
    request = VerifyRequest(policy="p", bundle=b"{}", artifacts={})
    assert Verifier._valid_until(request, POLICY, _doc(untimed_links=1), 1_700_000_100) is None


def test_a_report_without_the_count_is_not_reused() -> None:
    doc = _doc(untimed_links=0)
    del doc["untimed_links"]
    request = VerifyRequest(policy="p", bundle=b"{}", artifacts={})
    assert Verifier._valid_until(request, POLICY, doc, 1_700_000_100) is None


def test_unlogged_links_are_counted(tmp_path: Path) -> None:
    pipeline = build_pipeline(tmp_path / "p")
    report = verify_bundle(
        pipeline.bundle_file.read_bytes(),
        layout_keys=[(pipeline.keys / "owner.pub").read_bytes()],
    )
    assert report.ok and report.untimed_links == 3
    assert VerificationReport.from_dict(report.to_dict()).untimed_links == 3
