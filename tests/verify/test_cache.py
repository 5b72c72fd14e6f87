"""The verification cache: keyed by content and anchors, positive results only, safe to delete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bundle_builder import Pipeline

from atlas_intoto.verify import VerifyCache, verify_bundle
from atlas_intoto.verify.cache import default_cache_dir


def test_key_depends_on_every_input() -> None:
    base = {"envelope": "aa", "keys": ["k1"]}
    assert VerifyCache.key("link", base) == VerifyCache.key("link", dict(base))
    assert VerifyCache.key("link", base) != VerifyCache.key("link", {**base, "keys": ["k2"]})
    assert VerifyCache.key("link", base) != VerifyCache.key("tee", base)


def test_memory_and_disk_layers(tmp_path: Path) -> None:
    cache = VerifyCache(tmp_path)
    assert cache.get("x", {"a": 1}) is None
    cache.put("x", {"a": 1}, {"ok": True})
    assert VerifyCache(tmp_path).get("x", {"a": 1}) is None  # not flushed yet
    cache.flush()
    assert VerifyCache(tmp_path).get("x", {"a": 1}) == {"ok": True}
    assert VerifyCache(tmp_path).get("x", {"a": 2}) is None
    memory = VerifyCache(None)
    memory.put("x", {"a": 1}, {"v": 1})
    assert memory.get("x", {"a": 1}) == {"v": 1} and memory.hits == 1


def test_corrupt_or_deleted_entries_are_misses(tmp_path: Path) -> None:
    cache = VerifyCache(tmp_path)
    cache.put("x", {"a": 1}, {"ok": True})
    cache.close()
    for path in tmp_path.iterdir():
        path.write_bytes(b"garbage" * 100)
    damaged = VerifyCache(tmp_path)
    assert damaged.get("x", {"a": 1}) is None
    damaged.put("x", {"a": 1}, {"ok": True})
    damaged.flush()  # cannot write: stays in memory, no exception
    assert damaged.get("x", {"a": 1}) == {"ok": True}
    shutil.rmtree(tmp_path)
    assert VerifyCache(tmp_path).get("x", {"a": 1}) is None
    fresh = VerifyCache(tmp_path / "sub")  # recreated on demand
    fresh.put("x", {"a": 1}, {"ok": True})
    fresh.close()
    assert VerifyCache(tmp_path / "sub").get("x", {"a": 1}) == {"ok": True}


def test_unwritable_cache_never_fails_verification(full_pipeline: Pipeline, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    report = verify_bundle(
        full_pipeline.bundle_bytes(),
        layout_keys=[full_pipeline.owner_pem],
        cache=VerifyCache(blocker / "cache"),
    )
    assert [r for r in report.results if r.code == "internal"] == []


def test_warm_run_hits_and_agrees(full_pipeline: Pipeline, tmp_path: Path) -> None:
    args = {"layout_keys": [full_pipeline.owner_pem], "artifacts_dir": full_pipeline.work}
    cold = verify_bundle(full_pipeline.bundle_bytes(), cache=VerifyCache(tmp_path), **args)
    warm = verify_bundle(full_pipeline.bundle_bytes(), cache=VerifyCache(tmp_path), **args)
    assert cold.cache_hits == 0 and warm.cache_hits >= 9  # links, quotes, manifests, entries
    assert [r.passed for r in cold.results] == [r.passed for r in warm.results]
    assert [r.reason for r in cold.results] == [r.reason for r in warm.results]


def test_results_not_reused_under_other_anchors(full_pipeline: Pipeline, tmp_path: Path) -> None:
    """A cached pass for one layout must not make a layout with other anchors pass."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from attacks import ATTACKS, Ctx

    cache = VerifyCache(tmp_path / "cache")
    verify_bundle(full_pipeline.bundle_bytes(), layout_keys=[full_pipeline.owner_pem], cache=cache)
    mrtd_attack = next(a for a in ATTACKS if a.name == "mrtd-outside-policy")
    ctx = Ctx(
        base=full_pipeline,
        tmp=tmp_path,
        sim_root=Path("unused"),
        mrtd="",
        log_url="http://127.0.0.1:1",
        log_key_file=Path("unused"),
    )
    case = mrtd_attack.build(ctx)
    report = verify_bundle(case.bundle, layout_keys=case.layout_keys, cache=cache)
    assert report.first_failure is not None
    assert report.first_failure.error == "MeasurementPolicyError"


def test_default_dir_is_under_home(tmp_path: Path, monkeypatch: object) -> None:
    import os

    assert default_cache_dir() == Path(os.environ["ATLAS_INTOTO_HOME"]) / "cache" / "verify"


def test_lone_surrogates_do_not_crash_key_digests(plain_pipeline: Pipeline, tmp_path: Path) -> None:
    from atlas_intoto.verify.cache import json_digest

    assert json_digest({"a": "\ud800"}) != json_digest({"a": "\ud801"})
    bundle = {
        "media_type": "application/vnd.atlas-intoto.bundle.v1+json",
        "layout": {"payload": "\ud800", "payloadType": "x", "signatures": []},
        "steps": {},
    }
    report = verify_bundle(
        json.dumps(bundle).encode(),
        layout_keys=[plain_pipeline.owner_pem],
        cache=VerifyCache(tmp_path / "cache"),
    )
    assert not report.ok and report.results[0].error == "LayoutSignatureError"


def test_threads_share_one_cache_with_own_counts(full_pipeline: Pipeline, tmp_path: Path) -> None:
    """One cache used by many threads at once (the service): every verdict agrees with a
    serial run, and each verification reports only its own hits."""
    from concurrent.futures import ThreadPoolExecutor

    args = {"layout_keys": [full_pipeline.owner_pem], "artifacts_dir": full_pipeline.work}
    serial = verify_bundle(full_pipeline.bundle_bytes(), cache=VerifyCache(None), **args)
    shared = VerifyCache(tmp_path)
    verify_bundle(full_pipeline.bundle_bytes(), cache=shared, **args)  # fills it
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(
            pool.map(
                lambda _: verify_bundle(full_pipeline.bundle_bytes(), cache=shared, **args),
                range(16),
            )
        )
    shared.close()
    for report in reports:
        assert [r.reason for r in report.results] == [r.reason for r in serial.results]
    # Every concurrent run hit the same entries: counts of its own, not of its neighbours.
    assert len({r.cache_hits for r in reports}) == 1 and reports[0].cache_hits >= 9
    # The shared cache keeps the totals of every verification's session.
    assert shared.hits == sum(r.cache_hits for r in reports)


def test_cache_file_shared_between_processes(tmp_path: Path) -> None:
    """A second process reads what the first flushed (WAL file, one connection per process)."""
    import subprocess
    import sys

    cache = VerifyCache(tmp_path)
    cache.put("x", {"a": 1}, {"ok": True})
    cache.flush()
    code = (
        "import sys; from pathlib import Path; from atlas_intoto.verify import VerifyCache;"
        "c = VerifyCache(Path(sys.argv[1])); assert c.get('x', {'a': 1}) == {'ok': True};"
        "c.put('y', {'b': 2}, {'ok': 2}); c.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert cache.get("y", {"b": 2}) == {"ok": 2}
    cache.close()


def test_memory_layer_is_bounded() -> None:
    cache = VerifyCache(None, memory_entries=3)
    for n in range(5):
        cache.put("x", {"n": n}, {"n": n})
    assert cache.get("x", {"n": 0}) is None and cache.get("x", {"n": 4}) == {"n": 4}
