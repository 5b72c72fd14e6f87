"""sign_products: a live 3-step chain (dataset → model → fine-tuned model) and its failures."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import c2pa
import pytest

from atlas_intoto.c2pa import sign_products, verify_sidecar
from atlas_intoto.c2pa.store import context, read_store
from atlas_intoto.errors import InputError, KeyLoadError, UsageError
from atlas_intoto.keys import generate_keypair

B = {name: hashlib.sha256(name.encode()).digest() for name in ("prepare", "train", "finetune")}


def _digests(base: Path, *paths: str) -> dict[str, dict[str, str]]:
    return {p: {"sha256": hashlib.sha256((base / p).read_bytes()).hexdigest()} for p in paths}


class Chain:
    def __init__(self, root: Path) -> None:
        self.base = root / "ws"
        self.evidence = root / "ws" / ".atlas"
        keys = generate_keypair("trainer", directory=root / "keys")
        self.key = keys.private_key
        self.anchor = keys.ca_certificate.read_bytes()
        files = {
            "data/train.csv": b"text,label\nhello,1\n",
            "model/base.safetensors": b"\x00" * 32 + b"base",
            "model/ft.safetensors": b"\x00" * 32 + b"ft",
            "eval/metrics.json": b'{"accuracy": 0.75, "loss": 0.5}',
            "train.py": b"print('train')\n",
        }
        for rel, data in files.items():
            (self.base / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.base / rel).write_bytes(data)

    def sign(
        self,
        step: str,
        product_paths: tuple[str, ...],
        material_paths: tuple[str, ...],
        **kw: object,
    ) -> dict[str, dict[str, str]]:
        args: dict[str, object] = {
            "step": step,
            "binding": B[step],
            "quote_digest": None,
            "products": _digests(self.base, *product_paths),
            "materials": _digests(self.base, *material_paths),
            "base_path": self.base,
            "evidence_dir": self.evidence,
            "key_path": self.key,
            "cert_chain_path": self.key.with_suffix(".crt"),
        }
        args.update(kw)
        return sign_products(**args)  # type: ignore[arg-type]

    def sidecar(self, product: str) -> bytes:
        return (self.evidence / "c2pa" / f"{product}.c2pa").read_bytes()

    def run_all(self) -> None:
        self.sign("prepare", ("data/train.csv",), ())
        self.sign("train", ("model/base.safetensors",), ("data/train.csv", "train.py"))
        self.sign(
            "finetune",
            ("model/ft.safetensors", "eval/metrics.json"),
            ("model/base.safetensors", "data/train.csv"),
        )


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    return Chain(tmp_path)


def test_sign_returns_sidecar_paths_and_digests(chain: Chain) -> None:
    result = chain.sign("prepare", ("data/train.csv",), ())
    entry = result["data/train.csv"]
    assert entry["sidecar"] == "c2pa/data/train.csv.c2pa"
    assert entry["sha256"] == hashlib.sha256(chain.sidecar("data/train.csv")).hexdigest()


def test_three_step_chain_is_trusted_with_nested_lineage(chain: Chain) -> None:
    chain.run_all()
    product = "model/ft.safetensors"
    with open(chain.base / product, "rb") as asset:
        report = verify_sidecar(
            chain.sidecar(product),
            product_path=product,
            product_sha256=_digests(chain.base, product)[product]["sha256"],
            anchors_pem=[chain.anchor],
            step="finetune",
            binding=B["finetune"],
            quote_digest=None,
            material_sidecars={
                "model/base.safetensors": chain.sidecar("model/base.safetensors"),
                "data/train.csv": chain.sidecar("data/train.csv"),
            },
            asset=asset,
        )
    assert report.validation_state == "Trusted"
    assert {i.material_path: i.relationship for i in report.ingredients} == {
        "model/base.safetensors": "parentOf",
        "data/train.csv": "inputTo",
    }

    # Any C2PA reader sees the whole lineage in the model's own sidecar.
    settings = {
        "trust": {"trust_anchors": chain.anchor.decode()},
        "verify": {"remote_manifest_fetch": False},
    }
    with (
        c2pa.Context.from_dict(settings) as ctx,
        open(chain.base / product, "rb") as asset,
        c2pa.Reader(
            "application/octet-stream", asset, chain.sidecar(product), context=ctx
        ) as reader,
    ):
        store = json.loads(reader.json())
        assert reader.get_validation_state() == "Trusted"
    manifests = store["manifests"]
    assert len(manifests) == 3
    active = manifests[store["active_manifest"]]
    parent = next(i for i in active["ingredients"] if i["relationship"] == "parentOf")
    # Each ingredient carries its material's active manifest and how that manifest validated.
    for ingredient in active["ingredients"]:
        assert ingredient["active_manifest"] in manifests
        codes = {r["code"] for r in ingredient["validation_results"]["activeManifest"]["success"]}
        assert "signingCredential.trusted" in codes
        assert not ingredient["validation_results"]["activeManifest"]["failure"]
    base_manifest = manifests[parent["active_manifest"]]
    assert base_manifest["title"] == "model/base.safetensors"
    dataset = manifests[base_manifest["ingredients"][0]["active_manifest"]]
    assert dataset["title"] == "data/train.csv"
    actions = next(a for a in active["assertions"] if a["label"] == "c2pa.actions.v2")["data"][
        "actions"
    ]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"].endswith("/trainedAlgorithmicMedia")


def test_base_model_is_created_and_evaluation_carries_metrics(chain: Chain) -> None:
    chain.run_all()
    with context([chain.anchor]) as ctx:
        base = read_store(
            chain.sidecar("model/base.safetensors"),
            fmt="application/octet-stream",
            asset=None,
            ctx=ctx,
        )
        evaluation = read_store(
            chain.sidecar("eval/metrics.json"), fmt="application/octet-stream", asset=None, ctx=ctx
        )
    actions = base.assertions(base.active_label, "c2pa.actions.v2")[0]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created"]
    assert actions[0]["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    # train.py has no sidecar: it is not an ingredient
    assert [i["title"] for i in base.ingredients(base.active_label)] == ["data/train.csv"]
    ml = evaluation.assertions(evaluation.active_label, "org.atlas-intoto.ml")[0]
    assert ml == {
        "kind": "evaluation",
        "name": "metrics.json",
        "format": "json",
        "metrics": {"accuracy": 0.75, "loss": 0.5},
    }
    # an evaluation derived from models is created, its inputs are inputTo
    assert {i["relationship"] for i in evaluation.ingredients(evaluation.active_label)} == {
        "inputTo"
    }


def test_quote_digest_is_recorded(chain: Chain) -> None:
    chain.sign("prepare", ("data/train.csv",), (), quote_digest="ab" * 32)
    with context([chain.anchor]) as ctx:
        store = read_store(
            chain.sidecar("data/train.csv"), fmt="application/octet-stream", asset=None, ctx=ctx
        )
    step = store.assertions(store.active_label, "org.atlas-intoto.step")[0]
    assert step == {
        "step": "prepare",
        "product": "data/train.csv",
        "binding": B["prepare"].hex(),
        "quote_digest": "ab" * 32,
    }


def test_png_product_uses_its_c2pa_type_and_plain_sha256(chain: Chain, tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    (chain.base / "eval").mkdir(exist_ok=True)
    (chain.base / "eval/roc.png").write_bytes(png)
    chain.sign("prepare", ("eval/roc.png",), ())
    report = verify_sidecar(
        chain.sidecar("eval/roc.png"),
        product_path="eval/roc.png",
        product_sha256=hashlib.sha256(png).hexdigest(),
        anchors_pem=[chain.anchor],
        step="prepare",
        binding=B["prepare"],
        quote_digest=None,
        material_sidecars={},
        asset=io.BytesIO(png),
    )
    assert report.kind == "evaluation"


def test_product_changed_after_measurement_is_refused(chain: Chain) -> None:
    digests = _digests(chain.base, "data/train.csv")
    (chain.base / "data/train.csv").write_bytes(b"changed\n")
    with pytest.raises(InputError, match="changed after it was measured"):
        chain.sign("prepare", ("data/train.csv",), (), products=digests)
    assert not (chain.evidence / "c2pa/data/train.csv.c2pa").exists()


def test_failure_removes_sidecars_of_the_call(chain: Chain) -> None:
    digests = _digests(chain.base, "data/train.csv", "train.py")
    (chain.base / "train.py").write_bytes(b"changed\n")  # signed second, after data/train.csv
    with pytest.raises(InputError):
        chain.sign("prepare", (), (), products=digests)
    assert not (chain.evidence / "c2pa").exists() or not any(
        (chain.evidence / "c2pa").rglob("*.c2pa")
    )


def test_stale_material_sidecar_is_refused(chain: Chain) -> None:
    chain.sign("prepare", ("data/train.csv",), ())
    (chain.base / "data/train.csv").write_bytes(b"regenerated\n")
    with pytest.raises(InputError, match="stale evidence"):
        chain.sign("train", ("model/base.safetensors",), ("data/train.csv",))


def test_garbage_material_sidecar_is_an_input_error(chain: Chain) -> None:
    (chain.evidence / "c2pa/data").mkdir(parents=True)
    (chain.evidence / "c2pa/data/train.csv.c2pa").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a C2PA manifest store"):
        chain.sign("train", ("model/base.safetensors",), ("data/train.csv",))


def test_certificate_of_another_key_is_refused(chain: Chain, tmp_path: Path) -> None:
    other = generate_keypair("other", directory=tmp_path / "other")
    with pytest.raises(KeyLoadError, match="does not belong"):
        chain.sign("prepare", ("data/train.csv",), (), cert_chain_path=other.certificate_chain)
    (tmp_path / "bad.crt").write_bytes(b"not pem")
    with pytest.raises(KeyLoadError, match="not a PEM certificate chain"):
        chain.sign("prepare", ("data/train.csv",), (), cert_chain_path=tmp_path / "bad.crt")


def test_product_path_escaping_evidence_dir_is_refused(chain: Chain) -> None:
    with pytest.raises(UsageError):
        chain.sign("prepare", (), (), products={"../x": {"sha256": "00" * 32}})
    with pytest.raises(UsageError, match="32-byte"):
        chain.sign("prepare", ("data/train.csv",), (), binding=b"short")


def _shards(chain: Chain, count: int) -> tuple[str, ...]:
    names = tuple(f"model/shard-{index:02d}.safetensors" for index in range(count))
    for index, name in enumerate(names):
        (chain.base / name).write_bytes(b"\x00" * 32 + bytes([index]) * (4096 * (index + 1)))
    return names


def test_many_products_are_signed_on_parallel_lanes_each_bound_to_its_bytes(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from atlas_intoto.c2pa import builder

    monkeypatch.setattr(builder, "usable_cores", lambda: 4)
    threads: set[str] = set()
    real = builder._sign_one

    def spy(**kw: object) -> bytes:
        threads.add(threading.current_thread().name)
        return real(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, "_sign_one", spy)
    names = _shards(chain, 12)
    result = chain.sign("train", names, ())
    assert list(result) == sorted(names)
    assert len(threads) > 1  # several lanes took part
    with context([chain.anchor]) as ctx:
        for name in names:
            store = read_store(
                chain.sidecar(name), fmt="application/octet-stream", asset=None, ctx=ctx
            )
            assert (
                builder._bound_digest(store)
                == hashlib.sha256((chain.base / name).read_bytes()).digest()
            )


def test_a_failing_lane_stops_the_others_and_leaves_no_sidecar(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_intoto.c2pa import builder

    monkeypatch.setattr(builder, "usable_cores", lambda: 4)
    names = _shards(chain, 12)
    digests = _digests(chain.base, *names)
    (chain.base / names[5]).write_bytes(b"changed after measuring")
    with pytest.raises(InputError, match=f"{names[5]}: changed after it was measured"):
        chain.sign("train", (), (), products=digests)
    assert not any((chain.evidence / "c2pa").rglob("*.c2pa"))


def test_a_token_signer_signs_on_one_lane(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas_intoto.c2pa import builder

    lanes: list[int] = []
    real = builder._in_lanes

    def spy(*args: object, **kw: object) -> None:
        lanes.append(kw["lanes"])  # type: ignore[arg-type]
        real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, "_in_lanes", spy)
    monkeypatch.setattr(builder, "usable_cores", lambda: 4)
    names = _shards(chain, 3)
    chain.sign("train", names, ())
    assert lanes == [3]
    lanes.clear()
    from securesystemslib.signer import CryptoSigner

    from atlas_intoto.keys import load_private_key

    token = CryptoSigner(load_private_key(chain.key))  # stands in for an HSM or KMS signer
    chain.sign("train", names, (), key_signer=token)
    assert lanes == [1]


def test_ctrl_c_while_lanes_sign_stops_them_before_the_call_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time
    from concurrent.futures import Future, ThreadPoolExecutor

    from atlas_intoto.c2pa import builder

    class InterruptedWhileWaiting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            future: Future[None] = super().submit(fn, *args, **kwargs)

            def result(timeout: float | None = None) -> None:
                time.sleep(0.05)
                raise KeyboardInterrupt  # Ctrl-C reaches the waiting main thread

            future.result = result  # type: ignore[method-assign]
            return future

    monkeypatch.setattr(builder, "ThreadPoolExecutor", InterruptedWhileWaiting)
    done: list[str] = []
    lock = threading.Lock()

    @contextlib.contextmanager
    def lane() -> Iterator[tuple[object, object]]:
        yield None, None

    def work(item: str, signer: object, ctx: object) -> None:
        time.sleep(0.01)
        with lock:
            done.append(item)

    items = [f"item-{index:02d}" for index in range(60)]
    with pytest.raises(KeyboardInterrupt):
        builder._in_lanes(items, work, lanes=3, open_lane=lane)
    finished = list(done)
    time.sleep(0.1)
    assert done == finished  # every lane had ended when the call returned
    assert len(finished) < len(items)  # they stopped taking items


@pytest.mark.parametrize("slow", ["_sign_one", "atomic_write"])
def test_a_lane_still_busy_after_a_second_ctrl_c_leaves_no_sidecar(
    chain: Chain, monkeypatch: pytest.MonkeyPatch, slow: str
) -> None:
    import time
    from concurrent.futures import Future, ThreadPoolExecutor

    from atlas_intoto.c2pa import builder

    pools: list[ThreadPoolExecutor] = []

    class InterruptedTwice(ThreadPoolExecutor):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            pools.append(self)

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            future: Future[None] = super().submit(fn, *args, **kwargs)

            def result(timeout: float | None = None) -> None:
                time.sleep(0.05)
                raise KeyboardInterrupt  # Ctrl-C while the lanes sign

            future.result = result  # type: ignore[method-assign]
            return future

        def shutdown(self, wait: bool = True, **kwargs: object) -> None:
            raise KeyboardInterrupt  # a second Ctrl-C while waiting for them to stop

    real = getattr(builder, slow)

    def slowly(*args: object, **kw: object) -> object:
        time.sleep(0.3)  # still signing, or writing, when the call has removed its sidecars
        return real(*args, **kw)

    monkeypatch.setattr(builder, "ThreadPoolExecutor", InterruptedTwice)
    monkeypatch.setattr(builder, slow, slowly)
    monkeypatch.setattr(builder, "usable_cores", lambda: 4)
    names = _shards(chain, 8)
    with pytest.raises(KeyboardInterrupt):
        chain.sign("train", names, ())
    for pool in pools:
        ThreadPoolExecutor.shutdown(pool, wait=True)  # the lanes end on their own
    assert not list((chain.evidence / "c2pa").rglob("*.c2pa"))
